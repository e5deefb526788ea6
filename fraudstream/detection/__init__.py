"""Fraud detectors: the features a payment offers when it is authorised, the models
trained on generated rows, and their measurement on real ones.

It sits beside the services: ``producer`` scores with it, ``wiring`` trains and
evaluates with it, and it imports neither.
"""
