"""The local Kafka cluster is real: three brokers, replicated topics, acks=all writes."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource

from fraudstream.kafka import TopicSpec, ensure_topics
from tests.integration.conftest import Stack


def test_metadata_lists_three_brokers(three_brokers: Stack) -> None:
    admin = AdminClient({"bootstrap.servers": three_brokers.bootstrap_servers})
    brokers = admin.list_topics(timeout=10).brokers
    assert sorted(brokers) == [1, 2, 3]
    assert {broker.host for broker in brokers.values()} == {"127.0.0.1"}


def test_topic_is_replicated_three_times_with_two_insync(three_brokers: Stack) -> None:
    name = f"it-replicated-{uuid.uuid4().hex[:8]}"
    created = ensure_topics(three_brokers.bootstrap_servers, [TopicSpec(name, 3, 3)])
    assert created == [name]

    admin = AdminClient({"bootstrap.servers": three_brokers.bootstrap_servers})
    partitions = admin.list_topics(name, timeout=10).topics[name].partitions
    assert len(partitions) == 3
    for partition in partitions.values():
        assert sorted(partition.replicas) == [1, 2, 3]
        assert sorted(partition.isrs) == [1, 2, 3]
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    config = admin.describe_configs([resource])[resource].result(10)
    assert config["min.insync.replicas"].value == "2"


def test_creating_an_existing_topic_is_harmless(three_brokers: Stack) -> None:
    spec = TopicSpec(f"it-twice-{uuid.uuid4().hex[:8]}", 1, 3)
    assert ensure_topics(three_brokers.bootstrap_servers, [spec]) == [spec.name]
    assert ensure_topics(three_brokers.bootstrap_servers, [spec]) == []


def test_acks_all_writes_are_read_back_in_order(three_brokers: Stack) -> None:
    name = f"it-roundtrip-{uuid.uuid4().hex[:8]}"
    ensure_topics(three_brokers.bootstrap_servers, [TopicSpec(name, 1, 3)])
    producer = Producer(
        {
            "bootstrap.servers": three_brokers.bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
        }
    )
    failures: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(error)

    for index in range(500):
        producer.produce(name, value=str(index).encode(), on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []

    consumer = Consumer(
        {
            "bootstrap.servers": three_brokers.bootstrap_servers,
            "group.id": name,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([name])
    received: list[int] = []
    try:
        while len(received) < 500:
            message = consumer.poll(10)
            assert message is not None, f"only {len(received)} of 500 messages came back"
            assert message.error() is None
            received.append(int(message.value() or b"-1"))
    finally:
        consumer.close()
    assert received == list(range(500))
