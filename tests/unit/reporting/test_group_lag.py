"""The lag watcher's loop, with Kafka's answers given: what it exports, and what it
withdraws while Kafka does not answer. Its figures against a real cluster are in
tests/integration/reporting/test_group_lag.py."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from fraudstream import kafka
from fraudstream.reporting import group_lag
from fraudstream.runtime import metrics
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings


def _exported() -> dict[str, float]:
    return {
        sample.labels["group"]: sample.value
        for family in metrics.GROUP_LAG.collect()
        for sample in family.samples
    }


def test_each_reading_is_exported_and_withdrawn_while_kafka_does_not_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings()
    groups = [settings.non_fraud_consumer_group, settings.fraud_consumer_group]
    stop = StopFlag()
    seen: list[dict[str, float]] = []  # what was exported when each reading began
    readings: list[dict[str, int] | None] = [{groups[0]: 120, groups[1]: 3}, None, {groups[0]: 40}]

    def answer(_admin: AdminClient, read: Mapping[str, tuple[str, ...]]) -> dict[str, int]:
        assert set(groups) <= set(read)
        seen.append(_exported())
        given = readings.pop(0)
        if not readings:
            stop.request()
        if given is None:
            raise KafkaException("the brokers are away")
        return given

    monkeypatch.setattr(group_lag, "group_lags", answer)
    monkeypatch.setattr(kafka, "require_topics", lambda *_args: None)
    group_lag.watch(settings, stop, every_seconds=0.01)
    assert seen[1] == {groups[0]: 120, groups[1]: 3}
    assert seen[2] == {}  # withdrawn: no stale figure for an autoscaler to steer by
    assert _exported() == {groups[0]: 40}
