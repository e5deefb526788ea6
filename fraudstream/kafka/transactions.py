"""Kafka transactions: the producer whose records, rejects and checkpoints are visible
together or not at all."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NoReturn

from confluent_kafka import KafkaError, KafkaException, Producer

from fraudstream.errors import PermanentError, TransientError
from fraudstream.kafka.clients import Connection, producer_config, servers_of
from fraudstream.kafka.errors import KafkaSetupError

log = logging.getLogger("fraudstream.kafka.transactions")


class TransactionFailedError(TransientError):
    """The open transaction did not commit, or may not have (a reply lost, a broker
    failed over, a fatal client error): drop this instance and redo from what Kafka holds."""


class ProducerFencedError(PermanentError):
    """Another producer with the same transactional id has taken over."""


DEFAULT_REQUEST_TIMEOUT_MS = 60_000  # librdkafka's socket.timeout.ms

# Errors that mean another producer instance with our transactional id took over.
_FENCED = frozenset({KafkaError._FENCED, KafkaError.PRODUCER_FENCED})


class TransactionalProducer:
    """Produces records in Kafka transactions: ``begin()``, any number of ``send()``, ``commit()``.

    Readers with ``isolation.level=read_committed`` see a transaction whole or
    not at all. A producer restarted with the same transactional id fences the
    old one and aborts whatever it left open.

    An instance is used until its first failure, never retried: with the
    transaction protocol this client speaks, a late EndTxn of an instance that
    went on could end a later transaction (a commit that tears it, an abort
    that loses it). Any error raises TransactionFailedError; the caller lets
    the instance go, and the next one's initialisation bumps the producer
    epoch, so that the brokers refuse whatever the old one still has in flight,
    and settles the old transaction before it returns.
    """

    def __init__(self, bootstrap_servers: Connection, transactional_id: str) -> None:
        config = {
            "socket.timeout.ms": DEFAULT_REQUEST_TIMEOUT_MS,
            **producer_config(bootstrap_servers),
        }
        # The instance gives up on a commit well before the client would send its EndTxn
        # again, so that no EndTxn is ever sent twice by one instance.
        self.commit_timeout = int(config["socket.timeout.ms"]) / 1000 / 2
        config.update(
            {
                "transactional.id": transactional_id,
                "client.id": transactional_id,
                "transaction.timeout.ms": 120_000,
                # The Java client's partitioner: the same key goes to the same partition.
                "partitioner": "murmur2_random",
            }
        )
        self._producer = Producer(config)
        try:
            self._producer.init_transactions(60)
        except KafkaException as error:
            raise KafkaSetupError(
                f"Kafka at {servers_of(bootstrap_servers)} cannot start a transactional producer: "
                f"{error.args[0].str()}"
            ) from error

    def begin(self) -> None:
        try:
            self._producer.begin_transaction()
        except KafkaException as error:
            raise _failure("cannot begin a transaction", error) from error

    def send(
        self, topics: Sequence[str], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None:
        """Produce ``values[i]`` to ``topics[i]`` keyed by ``keys[i]``, in the open transaction."""
        produce = self._producer.produce
        try:
            for index, (topic, key, value) in enumerate(zip(topics, keys, values, strict=True)):
                try:
                    produce(topic, value, key)
                except BufferError:
                    self._produce_when_room(topic, key, value)
                if index % 10_000 == 0:
                    self._producer.poll(0)  # serve delivery reports so they do not pile up
        except KafkaException as error:
            self._abort_and_fail("cannot produce", error)

    def commit(self) -> None:
        """Make the open transaction visible, or raise TransactionFailedError."""
        try:
            self._producer.commit_transaction(self.commit_timeout)
        except KafkaException as error:
            self._abort_and_fail("commit failed", error)

    def abort(self) -> None:
        """Abort the open transaction; TransactionFailedError if even that fails."""
        try:
            self._producer.abort_transaction(60)
        except KafkaException as error:
            raise _failure("abort failed", error) from error

    def close(self, timeout: float = 30) -> None:
        """Let go of the instance. Committed records are delivered by then; an error
        here (the instance failed, or was fenced by its successor) loses nothing."""
        try:
            self._producer.flush(timeout)
        except KafkaException as error:
            log.warning("closing the producer: %s", error.args[0].str())

    def abandon(self) -> None:
        """Let go of an instance whose transaction failed: what it still holds belongs to
        that transaction, and is dropped rather than waited for."""
        try:
            self._producer.purge()
            self._producer.flush(0)
        except KafkaException as error:
            log.warning("abandoning the producer: %s", error.args[0].str())

    def _produce_when_room(self, topic: str, key: bytes | None, value: bytes) -> None:
        while True:
            self._producer.poll(0.1)  # the local queue is full: let it drain
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                continue

    def _abort_and_fail(self, what: str, error: KafkaException) -> NoReturn:
        """Abort when the client asks for it (no EndTxn of a settled transaction is
        sent otherwise), then fail; the instance is not used again."""
        if error.args[0].txn_requires_abort():
            self.abort()
        raise _failure(what, error) from error


def _failure(what: str, error: KafkaException) -> TransactionFailedError | ProducerFencedError:
    kafka_error = error.args[0]
    if kafka_error.code() in _FENCED:
        return ProducerFencedError(
            f"{what}: another producer with this transactional id took over "
            f"(is the same source being produced twice?): {kafka_error.str()}"
        )
    return TransactionFailedError(f"{what}: {kafka_error.str()}")
