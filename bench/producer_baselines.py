"""The producer benchmark's two baselines, and how every variant is measured.

- straightforward: the usual pattern - csv.reader, a dict per row, confluent's
  AvroSerializer per row, produce, poll(0) - with acks=all and idempotence;
- ceiling: the same records pre-encoded in memory before the clock starts,
  produced with the pipeline's tuned producer settings (no parsing, no
  encoding, no transactions): what Kafka on this machine takes at most.
"""

from __future__ import annotations

import csv
import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bench.cpu import CpuClocks, stack_brokers
from fraudstream import kafka
from fraudstream.detection.detectors import LabelDetector
from fraudstream.kafka import registry
from fraudstream.paysim.format import HOUR_MS
from fraudstream.paysim.payments import parse_block
from fraudstream.paysim.records import to_records
from fraudstream.paysim.source import read_chunks, read_header
from fraudstream.producer.preparing import Preparer
from fraudstream.settings.config import Settings


def measured(records: int, seconds: float, start: CpuClocks) -> dict[str, float]:
    """Records a second, and the CPU a record since ``start`` (``CpuClocks.per_record``)."""
    cpu = start.per_record(CpuClocks.read(stack_brokers()), records)
    return {"rows_per_second": records / seconds, **cpu}


def run_ceiling(settings: Settings, source: Path) -> dict[str, float]:
    preparer = Preparer(settings, LabelDetector())
    messages: list[tuple[str, bytes, bytes]] = []
    with source.open("rb") as stream:
        for chunk in read_chunks(stream, read_header(stream)[1], 2):
            block = parse_block(chunk.data, chunk.first_line)
            records = to_records(block, settings.event_start_time, preparer.emails)
            topics, keys, values = preparer.encode(records, LabelDetector().assess(records))
            messages += zip(topics, keys, values, strict=True)
    producer = Producer(kafka.producer_config(settings.kafka_bootstrap_servers))
    start, started = CpuClocks.read(stack_brokers()), time.perf_counter()
    for topic, key, value in messages:
        produce_with_backpressure(producer, topic, key, value)
    if producer.flush(120):
        raise SystemExit("the ceiling run left records undelivered")
    return measured(len(messages), time.perf_counter() - started, start)


def run_straightforward(settings: Settings, source: Path) -> dict[str, float]:
    client = registry.registry_client(
        settings.schema_registry_url, settings.schema_registry_login, settings.tls_ca_file
    )
    schema = registry.load_schema("transaction")
    serializer = AvroSerializer(client, schema, conf=registry.SERIALIZER_CONFIG)
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
        }
    )
    failures: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(error)

    start_ms = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    start, started = CpuClocks.read(stack_brokers()), time.perf_counter()
    count = 0
    with source.open(newline="") as handle:
        for line_number, row in enumerate(csv.DictReader(handle), start=2):
            fraud = row["isFraud"] in ("1", "1.0")
            topic = settings.fraud_topic if fraud else settings.non_fraud_topic
            record = {
                "transaction_id": hashlib.blake2b(
                    f"{line_number},{','.join(row.values())}".encode(), digest_size=8
                ).hexdigest(),
                "step": int(row["step"]),
                "event_time": start_ms + (int(row["step"]) - 1) * HOUR_MS,
                "type": row["type"],
                "amount": float(row["amount"]),
                "nameOrig": row["nameOrig"],
                "oldbalanceOrg": float(row["oldbalanceOrg"]),
                "newbalanceOrig": float(row["newbalanceOrig"]),
                "nameDest": row["nameDest"],
                "oldbalanceDest": float(row["oldbalanceDest"]),
                "newbalanceDest": float(row["newbalanceDest"]),
                "isFraud": fraud,
                "isFlaggedFraud": row["isFlaggedFraud"] in ("1", "1.0"),
                "customer_email": f"{row['nameOrig']}@{settings.customer_email_domain}",
                "detector": "label",
                "score": 1.0 if fraud else 0.0,
            }
            value = serializer(record, SerializationContext(topic, MessageField.VALUE))
            while True:
                try:
                    producer.produce(topic, value, row["nameOrig"], on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            count += 1
    if producer.flush(120) or failures:
        raise SystemExit("the straightforward run lost records")
    return measured(count, time.perf_counter() - started, start)


def produce_with_backpressure(producer: Producer, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value, key)
            return
        except BufferError:
            producer.poll(0.1)
