"""The load `devstack up` sends through the brokers it started."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient

from fraudstream.devstack import warm_up
from fraudstream.devstack.layout import Topology
from tests.integration.conftest import Stack
from tests.integration.pipeline import wait_until


def test_the_warm_up_commits_every_record_and_leaves_no_topic(stack: Stack) -> None:
    """Every record committed, and the scratch topic deleted after (the brokers' metadata
    says so a moment later: a deletion spreads to each broker in its own time)."""
    assert warm_up.load_brokers(Topology(brokers=3), records=150_000) == 150_000
    admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
    wait_until(
        lambda: warm_up.TOPIC not in admin.list_topics(timeout=30).topics,
        "the scratch topic deleted",
        timeout=60,
    )
