"""A load through the brokers just started, so that the user's first run is not their
warm-up.

A broker's Java code runs slowly until the JVM has compiled what it runs most: taking
lz4 batches apart to check them, appending to the log, serving the replicas' fetches.
A million-row `fraudstream produce` on a stack just started took about twice as long as
the same run once it had run (bench-producer, "exec to exit"). One transactional load of
records like the producer's, with its compression and batching, into a scratch topic
that is deleted after, does that compiling before anyone waits for it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from fraudstream.devstack.layout import Topology

TOPIC = "fraudstream-devstack-warm-up-load"
RECORDS = 1_000_000
RECORD_BYTES = 180  # about a payment's Avro record
PER_TRANSACTION = 100_000
TIMEOUT = 120.0


def load_brokers(
    topology: Topology, login: Mapping[str, str] | None = None, records: int = RECORDS
) -> int:
    """Send ``records`` records through every broker, as the producer sends payments (lz4,
    acks=all, transactions), into a scratch topic, then delete it; the records committed."""
    config: dict[str, str | int | float | bool] = {
        "bootstrap.servers": topology.bootstrap_servers,
        "log_level": 0,
        **(login or {}),
    }
    admin = AdminClient(config)
    replicas = min(3, len(topology.node_ids))
    admin.create_topics([NewTopic(TOPIC, 6, replicas)])[TOPIC].result(TIMEOUT)
    try:
        return _send(config, records)
    finally:
        admin.delete_topics([TOPIC])[TOPIC].result(TIMEOUT)


def _send(config: Mapping[str, str | int | float | bool], records: int) -> int:
    producer = Producer(
        {
            **config,
            "transactional.id": TOPIC,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 50,
            "batch.size": 1_000_000,
        }
    )
    values = _values()
    committed = 0
    producer.init_transactions(TIMEOUT)
    for start in range(0, records, PER_TRANSACTION):
        producer.begin_transaction()
        end = min(records, start + PER_TRANSACTION)
        for index in range(start, end):
            _produce(producer, values[index % len(values)], index)
        producer.commit_transaction(TIMEOUT)  # every record of it acknowledged, or raises
        committed += end - start
    del producer  # closed here, not as the interpreter ends (librdkafka may crash then)
    return committed


def _produce(producer: Producer, value: bytes, index: int) -> None:
    while True:
        try:
            producer.produce(TOPIC, value, key=index.to_bytes(4, "big"))
            return
        except BufferError:  # the client's queue is full: let it send
            producer.poll(0.01)


def _values() -> list[bytes]:
    """A thousand values of printable bytes that lz4 shrinks about as much as payments."""
    draw = random.Random(0)
    alphabet = b"0123456789.,:CMTRANSFERPAYMENTCASH_OUT"
    return [bytes(draw.choices(alphabet, k=RECORD_BYTES)) for _ in range(1000)]
