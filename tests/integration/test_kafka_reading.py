"""The read-back helper the pipeline tests judge by: it must not stop short of a
transaction whose markers have not reached the partitions yet."""

from __future__ import annotations

import threading
import uuid

from confluent_kafka import Producer

from fraudstream.kafka import client_config
from fraudstream.settings.config import Settings
from tests.integration.kafka_reading import read_committed


def test_the_reader_waits_for_an_open_transaction_to_end(settings: Settings) -> None:
    """Until a commit's markers are written, the partition's end for a read_committed
    reader is before the transaction; the reader must wait for the markers."""
    topic = settings.fraud_topic
    producer = Producer(
        {
            **client_config(settings.kafka_connection),
            "transactional.id": f"it-reader-{uuid.uuid4().hex}",
        }
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(30):
        producer.produce(topic, key=b"%d" % i, value=b"v", partition=i % 3)
    producer.flush(30)
    committer = threading.Timer(3.0, producer.commit_transaction)  # within MARKER_WAIT
    committer.start()
    try:
        messages = read_committed(settings.kafka_bootstrap_servers, topic, timeout=60)
    finally:
        committer.join()
    assert sorted(int(m.key() or b"") for m in messages) == list(range(30))
