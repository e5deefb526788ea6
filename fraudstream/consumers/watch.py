"""What a running consumer shows: its lag per partition (a metric) and, on a terminal,
a status line with records/s, lag, emails/s and, in a live run, the payments' latency."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from confluent_kafka import Consumer, KafkaException, TopicPartition

from fraudstream.runtime import metrics

# librdkafka's answer for an offset it does not know (OFFSET_INVALID).
_NO_OFFSET = -1001


class LagWatch:
    """The group's lag on each partition this member holds: high watermark - committed.

    The high watermark is the one the last fetch brought (no request); the committed
    offsets are asked of the group coordinator, at most every ``interval`` seconds.
    A topic written in Kafka transactions keeps a lag of 1 on a partition that is
    read to the end: the transaction's commit marker takes an offset no record has.
    """

    def __init__(self, group: str, interval: float = 2.0) -> None:
        self.group, self.interval = group, interval
        self.total = 0
        self._checked = 0.0
        self._shown: set[tuple[str, int]] = set()

    def update(self, consumer: Consumer, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self.interval:
            return
        self._checked = now
        try:
            lags = lag_of(consumer, consumer.assignment(), timeout=min(self.interval, 1.0))
        except KafkaException:
            return  # the coordinator is away: the next update tries again
        metrics.set_lag(self.group, lags)
        held = {(topic, partition) for topic, partition, _ in lags}
        self.forget(self._shown - held)
        self._shown = held
        self.total = sum(lag for *_, lag in lags)

    def forget(self, partitions: set[tuple[str, int]]) -> None:
        metrics.forget_lag(self.group, partitions)
        self._shown -= partitions


def lag_of(
    consumer: Consumer, assignment: list[TopicPartition], timeout: float = 1.0
) -> list[tuple[str, int, int]]:
    """(topic, partition, lag) of each assigned partition whose high watermark is known;
    KafkaException when the coordinator does not answer within ``timeout``."""
    if not assignment:
        return []
    lags = []
    for tp in consumer.committed(assignment, timeout=timeout):
        low, high = consumer.get_watermark_offsets(tp, cached=True)
        if high == _NO_OFFSET:
            continue  # nothing fetched yet
        committed = tp.offset if tp.offset >= 0 else low
        lags.append((tp.topic, tp.partition, max(high - committed, 0)))
    return lags


class ConsumerWatch:
    """What a running consumer shows, updated from its loop: the lag metric, and on a
    terminal the status line."""

    def __init__(self, group: str, consumer: Consumer, latency_sink: str | None = None) -> None:
        self.consumer, self.latency_sink = consumer, latency_sink
        self.lag, self.line = LagWatch(group), StatusLine(group)

    def update(self, records: int, emails: int | None = None, force: bool = False) -> None:
        """``records`` and ``emails`` are the consumer's totals so far (None: it sends none)."""
        self.lag.update(self.consumer, force)
        sink = self.latency_sink
        latency = None if sink is None else metrics.recent_latency(sink)
        self.line.show(records, emails, self.lag.total, latency)

    def forget(self, partitions: set[tuple[str, int]]) -> None:
        self.lag.forget(partitions)

    def close(self) -> None:
        self.line.close()


class StatusLine:
    """One line on a terminal, redrawn every ``interval`` seconds: records/s, lag, emails/s."""

    def __init__(self, name: str, stream: TextIO | None = None, interval: float = 1.0) -> None:
        self.name, self.interval = name, interval
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self._last: tuple[float, int, int] | None = None  # when, records, emails
        self._width = 0

    def show(
        self, records: int, emails: int | None, lag: int, latency: tuple[float, float] | None = None
    ) -> None:
        """With ``latency``, the median and 99th percentile of the live payments' latency
        over the last seconds."""
        if not self.enabled:
            return
        now, sent = time.monotonic(), emails or 0
        if self._last is None:
            self._last = (now, records, sent)
            return
        then, records_then, sent_then = self._last
        if now - then < self.interval:
            return
        self._last = (now, records, sent)
        seconds = now - then
        rate = (records - records_then) / seconds
        text = f"{self.name}: {records:,} records, {rate:,.0f}/s, lag {lag:,}"
        if emails is not None:
            text += f", {(sent - sent_then) / seconds:,.0f} emails/s"
        if latency is not None:
            text += f", latency p50 {latency[0]:.2f} s p99 {latency[1]:.2f} s"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
