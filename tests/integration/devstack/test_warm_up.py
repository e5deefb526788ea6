"""The load `devstack up` sends through the brokers it started."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient

from fraudstream.devstack import warm_up
from fraudstream.devstack.layout import Topology
from tests.integration.conftest import Stack


def test_the_warm_up_commits_every_record_and_leaves_no_topic(stack: Stack) -> None:
    """Run twice, as two `devstack up` of one cluster would: the scratch topic is gone
    after each, so the second makes it again."""
    topology = Topology(brokers=3)
    for _ in range(2):
        assert warm_up.load_brokers(topology, records=150_000) == 150_000
        admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
        assert warm_up.TOPIC not in admin.list_topics(timeout=30).topics
