"""The transactional producer: records, rejects and checkpoints visible together or not at all."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from confluent_kafka import KafkaException, Producer

from fraudstream.errors import TransientError
from fraudstream.kafka import (
    Connection,
    DeliveryError,
    KafkaSetupError,
    producer_config,
    servers_of,
)

log = logging.getLogger(__name__)


class TransactionAbortedError(TransientError):
    """The open transaction was aborted (a broker failed over, say): redo it from the start."""


class TransactionalProducer:
    """Produces records in Kafka transactions: ``begin()``, any number of ``send()``, ``commit()``.

    Readers with ``isolation.level=read_committed`` see a transaction whole or
    not at all. A producer restarted with the same transactional id fences the
    old one and aborts whatever it left open. Records of an aborted
    transaction are not kept here: the caller redoes it from its checkpoint.
    """

    COMMIT_ATTEMPTS = 5

    def __init__(self, bootstrap_servers: Connection, transactional_id: str) -> None:
        config = producer_config(bootstrap_servers)
        config.update({
            "transactional.id": transactional_id,
            "transaction.timeout.ms": 120_000,
            "partitioner": "murmur2_random",  # the Java client's choice: same key, same partition
        })  # fmt: skip
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
            raise DeliveryError(f"cannot begin a transaction: {error.args[0].str()}") from error

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
            self._abort_or_raise(error)

    def commit(self) -> None:
        """Make the open transaction visible; raises TransactionAbortedError or DeliveryError."""
        for attempt in range(1, self.COMMIT_ATTEMPTS + 1):
            try:
                self._producer.commit_transaction(60)
                return
            except KafkaException as error:
                if error.args[0].retriable() and attempt < self.COMMIT_ATTEMPTS:
                    time.sleep(min(2**attempt, 30))
                    continue
                self._abort_or_raise(error)

    def abort(self) -> None:
        """Abort the open transaction (tests use it to stand in for a failover)."""
        self._producer.abort_transaction(60)

    def close(self) -> None:
        self._producer.flush(30)

    def discard(self) -> None:
        """Let go of this instance after an aborted transaction, whatever state it is in:
        its transaction is gone, and the next instance fences it."""
        try:
            self._producer.flush(5)
        except KafkaException as error:
            log.warning("discarded producer: %s", error.args[0].str())

    def _produce_when_room(self, topic: str, key: bytes | None, value: bytes) -> None:
        while True:
            self._producer.poll(0.1)  # the local queue is full: let it drain
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                continue

    def _abort_or_raise(self, error: KafkaException) -> None:
        kafka_error = error.args[0]
        if kafka_error.txn_requires_abort():
            self._producer.abort_transaction(60)
            raise TransactionAbortedError(kafka_error.str()) from error
        raise DeliveryError(f"Kafka refused the transaction: {kafka_error.str()}") from error
