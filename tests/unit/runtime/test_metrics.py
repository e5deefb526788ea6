"""The metrics: the endpoint, the lag a consumer reports, the status line, retry causes."""

from __future__ import annotations

import io
import socket
import time
import urllib.request
from datetime import UTC, datetime

import pytest
from confluent_kafka import KafkaException, TopicPartition
from prometheus_client import REGISTRY

from fraudstream.consumers.retry import Backoff, Waiter, until_done
from fraudstream.consumers.sinks import EmailOutcome, LogEntry
from fraudstream.consumers.totals import live_times, observe_email_latency
from fraudstream.consumers.watch import LagWatch, StatusLine, lag_of
from fraudstream.runtime import metrics
from fraudstream.settings.config import load_settings


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serves_the_metrics_on_loopback_only() -> None:
    server = metrics.serve(free_port())
    assert server is not None
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        metrics.ROWS_REJECTED.inc(0)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        assert "fraudstream_producer_rows_rejected_total" in text
    finally:
        server.shutdown()
        server.server_close()


def test_no_port_no_endpoint() -> None:
    assert metrics.serve(None) is None


def test_a_port_in_use_fails_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(metrics.MetricsPortError) as error:
            metrics.serve(port)
    assert str(error.value) == (
        f"invalid configuration: METRICS_PORT: cannot serve metrics on 127.0.0.1:{port}: "
        "it is in use"
    )


def test_an_address_the_machine_does_not_have_fails_in_one_line() -> None:
    with pytest.raises(metrics.MetricsPortError) as error:
        metrics.serve(free_port(), host="192.0.2.1")  # TEST-NET-1: never this machine's
    assert str(error.value).startswith("invalid configuration: METRICS_HOST or METRICS_PORT: ")
    assert "\n" not in str(error.value)


def test_the_port_is_a_setting() -> None:
    assert load_settings(metrics_port=9101).metrics_port == 9101
    assert load_settings().metrics_port is None
    with pytest.raises(ValueError, match="METRICS_PORT"):
        load_settings(metrics_port=70000)


class FakeConsumer:
    """committed offsets and cached high watermarks, as librdkafka gives them."""

    def __init__(self, committed: dict[int, int], high: dict[int, int]) -> None:
        self._committed, self._high = committed, high
        self.down = False

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("t", p) for p in sorted(self._committed)]

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        if self.down:
            raise KafkaException("coordinator away")
        return [
            TopicPartition(tp.topic, tp.partition, self._committed[tp.partition])
            for tp in partitions
        ]

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool) -> tuple[int, int]:
        assert cached, "the lag must not cost a request per partition"
        return (0, self._high.get(tp.partition, -1001))


def test_lag_is_the_high_watermark_past_the_committed_offset() -> None:
    # Partition 1 has no commit yet (-1001): all of it is lag. Partition 2 fetched nothing.
    consumer = FakeConsumer({0: 40, 1: -1001, 2: 5}, {0: 100, 1: 7})
    assert lag_of(consumer, consumer.assignment()) == [("t", 0, 60), ("t", 1, 7)]  # type: ignore[arg-type]


def test_the_lag_gauge_follows_the_partitions_held() -> None:
    consumer = FakeConsumer({0: 40, 1: 0}, {0: 100, 1: 3})
    watch = LagWatch("unit-lag")
    watch.update(consumer, force=True)  # type: ignore[arg-type]
    assert watch.total == 63
    assert sample("fraudstream_consumer_lag", group="unit-lag", topic="t", partition="0") == 60
    consumer._committed = {0: 100}  # partition 1 went to another member
    watch.update(consumer, force=True)  # type: ignore[arg-type]
    assert watch.total == 0
    assert (
        REGISTRY.get_sample_value(
            "fraudstream_consumer_lag", {"group": "unit-lag", "topic": "t", "partition": "1"}
        )
        is None
    )
    consumer.down = True
    watch.update(consumer, force=True)  # type: ignore[arg-type]
    assert watch.total == 0  # kept; the next update tries again


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_status_line_redraws_one_line_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 2.0, 2.5, 4.0])
    monkeypatch.setattr("fraudstream.consumers.watch.time.monotonic", lambda: next(clock))
    screen = Terminal()
    line = StatusLine("fraud-confirmer", screen)
    line.show(0, 0, 500)
    line.show(1000, 100, 250)  # 2 s later
    line.show(1100, 110, 200)  # too soon: not redrawn
    line.show(1500, 150, 0)
    line.close()
    drawn = screen.getvalue().split("\r")[1:]
    assert drawn[0].rstrip() == "fraud-confirmer: 1,000 records, 500/s, lag 250, 50 emails/s"
    assert drawn[1].rstrip() == "fraud-confirmer: 1,500 records, 250/s, lag 0, 25 emails/s"
    assert screen.getvalue().endswith("\n")


def test_no_status_line_off_a_terminal() -> None:
    logged = io.StringIO()
    line = StatusLine("x", logged)
    line.show(0, 0, 0)
    line.show(10, 0, 0)
    line.close()
    assert logged.getvalue() == ""


def test_each_retry_is_counted_by_its_cause() -> None:
    causes: list[str] = []
    waiter = Waiter(lambda _s: None, lambda: False, Backoff(0.01, 0.01), causes.append)
    attempts = iter([OSError("down"), OSError("down"), None])

    def flaky() -> str:
        error = next(attempts)
        if error is not None:
            raise error
        return "done"

    assert until_done(flaky, "lake write", waiter, (OSError,)) == "done"
    waiter.after_failure("3 emails", 1, OSError("421"), cause="smtp")
    assert causes == ["lake write", "lake write", "smtp"]


def test_every_metric_is_named_in_one_place() -> None:
    exposed = {family.name for family in REGISTRY.collect()}
    assert exposed >= metrics.METRIC_NAMES
    assert all(name.startswith("fraudstream_") for name in metrics.METRIC_NAMES)


def test_a_consumer_that_sends_no_email_shows_no_email_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter([0.0, 2.0])
    monkeypatch.setattr("fraudstream.consumers.watch.time.monotonic", lambda: next(clock))
    screen = Terminal()
    line = StatusLine("fraud-cases", screen)
    line.show(0, None, 3)
    line.show(400, None, 1)
    assert screen.getvalue().split("\r")[1] == "fraud-cases: 400 records, 200/s, lag 1"


def test_a_live_payments_latency_is_counted_and_replayed_history_is_not() -> None:
    name = "fraudstream_payment_latency_seconds"
    before = sample(f"{name}_count", sink="unit")
    under_300_ms = sample(f"{name}_bucket", sink="unit", le="0.3")
    now = time.time()
    as_datetime = datetime.fromtimestamp(now - 0.25, UTC)
    as_millis = int((now - 0.25) * 1000)
    paysim_calendar = datetime(2026, 1, 1, tzinfo=UTC)

    metrics.observe_latency("unit", [as_datetime, as_millis, paysim_calendar], at=now)

    assert sample(f"{name}_count", sink="unit") == before + 2
    assert sample(f"{name}_bucket", sink="unit", le="0.3") == under_300_ms + 2
    assert sample(f"{name}_sum", sink="unit") == pytest.approx(0.5, abs=0.01)


def test_a_slice_counts_each_sent_email_at_its_own_moment() -> None:
    name = "fraudstream_payment_latency_seconds_count"
    now = time.time()
    records = [
        {"transaction_id": tid, "event_time": datetime.fromtimestamp(now - 0.1, UTC)}
        for tid in ("a", "b", "c")
    ]
    finished = datetime.fromtimestamp(now, UTC)
    entries: list[LogEntry] = [
        {"transaction_id": "a", "status": "sent", "attempts": 1, "finished_at": finished},
        {"transaction_id": "b", "status": "rejected", "attempts": 0, "finished_at": finished},
    ]
    emails_before = sample(name, sink="email/unit")

    live = live_times(records)
    observe_email_latency("unit", records, EmailOutcome(entries, new_entries=entries), live)

    assert len(live) == 3
    assert sample(name, sink="email/unit") == emails_before + 1  # a rejected one is no email


def test_a_batch_of_replayed_history_is_passed_over_at_a_look_at_its_last_record() -> None:
    """Its records are not looked at one by one: a batch that ends with history is taken
    for history, whatever came before its last record."""
    now = datetime.fromtimestamp(time.time(), UTC)
    history = [{"transaction_id": tid, "event_time": now} for tid in ("a", "b", "c")]
    history.append({"transaction_id": "z", "event_time": datetime(2026, 1, 1, tzinfo=UTC)})

    assert live_times(history) == []
    assert live_times([]) == []
    assert len(live_times(history[:3])) == 3


def test_the_status_line_shows_the_latency_of_the_last_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = time.time()
    old = [now - 30 - 5.0] * 50  # seen 30 s ago: out of the window
    metrics.observe_latency("status-unit", [int(t * 1000) for t in old], at=now - 30)
    fresh = [now - 0.1] * 98 + [now - 0.9] * 2
    metrics.observe_latency("status-unit", [int(t * 1000) for t in fresh], at=now)
    latency = metrics.recent_latency("status-unit")
    assert latency is not None
    assert latency[0] == pytest.approx(0.1, abs=0.002)
    assert 0.1 < latency[1] <= 0.91
    assert metrics.recent_latency("no-such-sink") is None

    clock = iter([0.0, 2.0])
    monkeypatch.setattr("fraudstream.consumers.watch.time.monotonic", lambda: next(clock))
    screen = Terminal()
    line = StatusLine("fraud-confirmer", screen)
    line.show(0, 0, 0, (0.1, 0.5))
    line.show(1000, 100, 0, (0.12, 0.45))
    assert screen.getvalue().split("\r")[1].rstrip().endswith("latency p50 0.12 s p99 0.45 s")
