"""The native local stack: Kafka (KRaft), a schema registry, a GCS emulator and a mail catcher.

Everything is downloaded on first use from Maven Central, the Go module proxy
and the npm registry into a git-ignored cache, and runs on 127.0.0.1 only.
"""
