"""The local Kafka cluster through our own adapter: replicated topics, the pipeline's producer
and consumer settings writing and reading back in order."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource

from fraudstream.devstack.install import ensure_installed
from fraudstream.devstack.layout import Topology, cache_dir
from fraudstream.devstack.services import kafka_node_properties
from fraudstream.devstack.stack import format_storage
from fraudstream.errors import MissingResourceError
from fraudstream.kafka import (
    assign_fetching,
    consumer_config,
    ensure_topics,
    is_record,
    produce_and_wait,
    producer_config,
    require_topics,
)
from fraudstream.topology import Topic
from tests.integration.conftest import Stack


def test_metadata_lists_three_brokers(three_brokers: Stack) -> None:
    admin = AdminClient({"bootstrap.servers": three_brokers.bootstrap_servers})
    brokers = admin.list_topics(timeout=10).brokers
    assert sorted(brokers) == [1, 2, 3]
    assert {broker.host for broker in brokers.values()} == {"127.0.0.1"}


def test_topic_is_replicated_three_times_with_two_insync(
    three_brokers: Stack, topic_name: str
) -> None:
    name = topic_name
    created = ensure_topics(three_brokers.bootstrap_servers, [Topic(name, 3, 3)])
    assert created == [name]

    admin = AdminClient({"bootstrap.servers": three_brokers.bootstrap_servers})
    partitions = _partitions_once_known(admin, name)
    assert len(partitions) == 3
    for partition in partitions.values():
        assert sorted(partition.replicas) == [1, 2, 3]
        assert sorted(partition.isrs) == [1, 2, 3]
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    config = admin.describe_configs([resource])[resource].result(10)
    assert config["min.insync.replicas"].value == "2"


def _partitions_once_known(admin: AdminClient, name: str) -> dict[int, Any]:
    """A new topic's partitions, as soon as the broker asked knows them: the metadata of a
    topic just created reaches each broker a moment later (a run once read none)."""
    deadline = time.monotonic() + 10
    while True:
        partitions: dict[int, Any] = admin.list_topics(name, timeout=10).topics[name].partitions
        if partitions or time.monotonic() > deadline:
            return partitions
        time.sleep(0.1)


def test_creating_an_existing_topic_is_harmless(three_brokers: Stack, topic_name: str) -> None:
    spec = Topic(topic_name, 1, 3)
    assert ensure_topics(three_brokers.bootstrap_servers, [spec]) == [spec.name]
    assert ensure_topics(three_brokers.bootstrap_servers, [spec]) == []


def test_require_topics_names_the_missing_one(three_brokers: Stack, topic_name: str) -> None:
    present = Topic(topic_name, 2, 3)
    ensure_topics(three_brokers.bootstrap_servers, [present])
    require_topics(three_brokers.bootstrap_servers, [present.name])
    with pytest.raises(MissingResourceError, match=r"it-absent.*fraudstream setup"):
        require_topics(three_brokers.bootstrap_servers, [present.name, "it-absent"])


def test_acks_all_writes_are_read_back_in_order(three_brokers: Stack, topic_name: str) -> None:
    """The pipeline's producer settings (acks=all, idempotent, lz4, large batches) and its
    consumer settings (read_committed, manual commits): every record back, in order."""
    name = topic_name
    ensure_topics(three_brokers.bootstrap_servers, [Topic(name, 1, 3)])
    producer = Producer(producer_config(three_brokers.bootstrap_servers))
    messages = ({"topic": name, "value": str(index).encode()} for index in range(500))
    produce_and_wait(producer, messages, "the test records")

    consumer = Consumer(consumer_config(three_brokers.bootstrap_servers, group=name))
    consumer.subscribe([name])
    received: list[int] = []
    try:
        while len(received) < 500:
            message = consumer.poll(10)
            assert message is not None, f"only {len(received)} of 500 messages came back"
            assert is_record(message)
            received.append(int(message.value() or b"-1"))
    finally:
        consumer.close()
    assert received == list(range(500))


def test_a_partition_paused_when_the_group_took_it_away_is_fetched_once_given_back(
    three_brokers: Stack, topic_name: str
) -> None:
    """librdkafka keeps a partition's pause across a rebalance. Member A pauses both
    partitions; B joins and takes one, then leaves, and A has both again: with
    ``assign_fetching`` as its ``on_assign``, A reads both to the end."""
    servers = three_brokers.bootstrap_servers
    ensure_topics(servers, [Topic(topic_name, 2, 3)])
    records = ({"topic": topic_name, "value": b"x", "partition": i % 2} for i in range(200))
    produce_and_wait(Producer(producer_config(servers)), records, "the test records")
    a = _member(servers, topic_name)
    members = [a]
    try:
        _poll_until(lambda: len(a.assignment()) == 2, a)
        a.pause(a.assignment())
        b = _member(servers, topic_name)
        members.append(b)
        _poll_until(lambda: len(a.assignment()) == len(b.assignment()) == 1, a, b)
        b.close()
        members.remove(b)
        _poll_until(lambda: len(a.assignment()) == 2, a)
        _poll_until(lambda: [tp.offset for tp in a.position(a.assignment())] == [100, 100], a)
    finally:
        for member in members:
            member.close()


def _member(servers: str, topic: str) -> Consumer:
    consumer = Consumer(consumer_config(servers, group=topic))
    consumer.subscribe([topic], on_assign=assign_fetching)
    return consumer


def _poll_until(done: Callable[[], bool], *consumers: Consumer, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"not done in {seconds} s"
        for consumer in consumers:
            consumer.poll(0.2)


def test_storage_is_formatted_with_a_cluster_id_that_begins_with_a_dash(tmp_path: Path) -> None:
    """One id in 64 begins with "-"; Kafka's tool must take it as the id, not as an option
    (a full run once failed to start a SASL node so)."""
    config = tmp_path / "server.properties"
    properties = kafka_node_properties(Topology(brokers=1), 1, tmp_path / "data")
    config.write_text(properties, encoding="utf-8")
    format_storage(ensure_installed(cache_dir()), "-AKxtmneSmaoFY5DNFlhtA", config)
    meta = (tmp_path / "data" / "meta.properties").read_text(encoding="utf-8")
    assert "cluster.id=-AKxtmneSmaoFY5DNFlhtA" in meta.splitlines()
