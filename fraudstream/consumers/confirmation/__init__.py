"""The confirmation service and its answer book: where customers answer "was this you?".

It consumes nothing: the web service (``service``) records each answer once in the
lake and publishes it to the confirmation topic (``answers``), where the case
consumer reads it.
"""
