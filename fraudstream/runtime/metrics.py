"""The services' Prometheus metrics, served at METRICS_HOST:METRICS_PORT when the port is set.

Every metric a service updates is declared here, once per process (the default
registry), so the names the dashboards and alerts query are in one place:
``infrastructure/monitoring.tf`` and the tests read them from ``METRIC_NAMES``.
Counters only ever grow; a restarted process starts them again from zero, which
Prometheus's ``rate`` and ``increase`` take in their stride.
"""

from __future__ import annotations

import errno
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from wsgiref.simple_server import WSGIServer

import numpy as np
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from fraudstream.errors import PermanentError

LOOPBACK = "127.0.0.1"  # scraped by the agent on the same machine, never from outside

# Seconds: a commit or a batch takes from a few milliseconds to a minute of retries.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

# The producer
ROWS_READ = Counter("fraudstream_producer_rows_read", "CSV lines read and committed, good or not")
ROWS_PRODUCED = Counter(
    "fraudstream_producer_rows_produced",
    "Records committed to Kafka, by the detector's verdict",
    ["verdict"],
)
ROWS_REJECTED = Counter("fraudstream_producer_rows_rejected", "Malformed lines quarantined")
TRANSACTIONS = Counter(
    "fraudstream_producer_transactions", "Kafka transactions, committed or failed", ["outcome"]
)
COMMIT_SECONDS = Histogram(
    "fraudstream_producer_commit_seconds",
    "Time to commit a Kafka transaction",
    buckets=_LATENCY_BUCKETS,
)

# A live run's payments (``produce --rate``), each stamped with its release: seconds from
# then to each sink: ``commit`` (the producer's transaction), ``email/<folder>`` (the mail
# server took the email), ``lake/<folder>`` (the batch's object written), ``case_row``
# (the case table's transaction committed).
LATENCY = Histogram(
    "fraudstream_payment_latency_seconds",
    "From a live payment's event_time to a sink",
    ["sink"],
    # Fine around the lake's 10 s cadence too, so a quantile read from the buckets (by the
    # dashboard, the live demo) lands near the value, not anywhere in 10-30 s.
    buckets=(
        *(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5),  # emails, case rows
        *(7.5, 10, 11, 12.5, 15, 20, 30, 60),  # the lake, and what is late
    ),
)

# The consumers (the label ``group`` is the consumer group: one per kind of consumer)
RECORDS_CONSUMED = Counter(
    "fraudstream_consumer_records", "Records taken from Kafka", ["group", "topic"]
)
BATCHES = Counter(
    "fraudstream_consumer_batches",
    "Slices finished: their emails sent (without emails, the slice is a lake batch written)",
    ["group"],
)
BATCH_SECONDS = Histogram(
    "fraudstream_consumer_batch_seconds",
    "Time to finish a slice, retries included",
    ["group"],
    buckets=_LATENCY_BUCKETS,
)
EMAILS = Counter(
    "fraudstream_emails",
    "Emails by outcome: sent, rejected (the address or the server "
    "refused it for good), already_sent (a redo found it in the email log)",
    ["group", "status"],
)
EMAILS_RETRIED = Counter(
    "fraudstream_emails_retried", "Emails tried again after a transient SMTP failure", ["group"]
)
DEAD_LETTERS = Counter(
    "fraudstream_dead_letters", "Records sent to the dead-letter topic", ["group"]
)
RETRIES = Counter(
    "fraudstream_retries", "Waits before another attempt, by what failed", ["group", "cause"]
)
LAG = Gauge(
    "fraudstream_consumer_lag",
    "Records in a partition past the group's committed offset (high watermark - committed)",
    ["group", "topic", "partition"],
)
# The lag watcher (``fraudstream watch-lag``): a group's lag as one series, for an autoscaler
GROUP_LAG = Gauge(
    "fraudstream_group_lag",
    "Records past a consumer group's committed offsets, over every partition of its topics",
    ["group"],
)

# The confirmation service
ANSWERS_RECORDED = Counter(
    "fraudstream_answers_recorded", "Customers' answers recorded, by answer", ["status"]
)
ANSWERS_PUBLISHED = Counter(
    "fraudstream_answers_published", "Answers published to the confirmation topic"
)
LAKE_REFUSED = Counter(
    "fraudstream_consumer_recovery_refused",
    "What a consumer taking over a partition would not trust: a note or batch name past "
    "the partition's end, an email log line that is not an entry",
    ["kind"],
)
ANSWERS_REFUSED = Counter(
    "fraudstream_answers_refused",
    "Answers the confirmation service did not record (no valid MAC, or misnamed), refused "
    "by its republisher or by the case consumer",
)

METRIC_NAMES = frozenset(
    next(iter(metric.describe())).name  # without the _total that counters' samples add
    for metric in (
        ROWS_READ,
        ROWS_PRODUCED,
        ROWS_REJECTED,
        TRANSACTIONS,
        COMMIT_SECONDS,
        LATENCY,
        RECORDS_CONSUMED,
        BATCHES,
        BATCH_SECONDS,
        EMAILS,
        EMAILS_RETRIED,
        DEAD_LETTERS,
        RETRIES,
        LAG,
        GROUP_LAG,
        ANSWERS_RECORDED,
        ANSWERS_PUBLISHED,
        ANSWERS_REFUSED,
        LAKE_REFUSED,
    )
)


class MetricsPortError(PermanentError):
    """METRICS_PORT cannot be listened on."""


def serve(port: int | None, host: str = LOOPBACK) -> WSGIServer | None:
    """Serve /metrics on ``host``:``port`` from a background thread (None: no endpoint)."""
    if port is None:
        return None
    try:
        server, _thread = start_http_server(port, addr=host)
    except OSError as error:
        in_use = error.errno == errno.EADDRINUSE
        setting = "METRICS_PORT" if in_use else "METRICS_HOST or METRICS_PORT"
        reason = "it is in use" if in_use else str(error)
        raise MetricsPortError(
            f"invalid configuration: {setting}: cannot serve metrics on {host}:{port}: {reason}"
        ) from None
    return server


def count_committed(good: int, rejected: int, fraud: int, non_fraud: int) -> None:
    """What a committed producer transaction added to Kafka."""
    TRANSACTIONS.labels("committed").inc()
    ROWS_READ.inc(good + rejected)
    ROWS_PRODUCED.labels("fraud").inc(fraud)
    ROWS_PRODUCED.labels("non_fraud").inc(non_fraud)
    ROWS_REJECTED.inc(rejected)


def count_retry(group: str, cause: str) -> None:
    RETRIES.labels(group, cause).inc()


def count_batch(group: str, seconds: float, dead_letters: int) -> None:
    """A finished batch of a consumer: its time and its dead letters."""
    BATCHES.labels(group).inc()
    BATCH_SECONDS.labels(group).observe(seconds)
    DEAD_LETTERS.labels(group).inc(dead_letters)


def set_lag(group: str, lags: Iterable[tuple[str, int, int]]) -> None:
    """The lag of each (topic, partition, lag) this member holds."""
    for topic, partition, lag in lags:
        LAG.labels(group, topic, str(partition)).set(lag)


def forget_lag(group: str, partitions: Iterable[tuple[str, int]]) -> None:
    """Partitions this member no longer holds: another member reports them now."""
    for topic, partition in partitions:
        try:
            LAG.remove(group, topic, str(partition))
        except KeyError:
            continue


def set_group_lag(lags: Mapping[str, int]) -> None:
    """Each consumer group's whole lag."""
    for group, lag in lags.items():
        GROUP_LAG.labels(group).set(lag)


def forget_group_lag(groups: Iterable[str]) -> None:
    """No figure for these groups: Kafka did not say."""
    for group in groups:
        try:
            GROUP_LAG.remove(group)
        except KeyError:
            continue


# A payment made longer ago than this is history replayed on PaySim's calendar (months
# back), not a live one: it would swamp the figures, so it is not counted.
LIVE_WINDOW_SECONDS = 3600.0


# The latencies of the last moments, by sink, for the status lines: (when, seconds).
_RECENT: defaultdict[str, deque[tuple[float, float]]] = defaultdict(lambda: deque(maxlen=100_000))


def observe_latency(
    sink: str, event_times: Iterable[datetime | int], at: float | None = None
) -> None:
    """Each live payment's seconds from its ``event_time`` (a datetime, or milliseconds
    since the epoch) to ``at`` (now), at ``sink``."""
    now = time.time() if at is None else at
    histogram, recent = LATENCY.labels(sink), _RECENT[sink]
    for moment in event_times:
        made = _seconds(moment)
        if now - made <= LIVE_WINDOW_SECONDS:
            seconds = max(now - made, 0.0)  # clocks may differ by a hair
            histogram.observe(seconds)
            recent.append((now, seconds))


def is_live(moment: object) -> bool:
    """Whether ``moment``, an ``event_time``, is a live payment's (within the last hour)."""
    if not isinstance(moment, datetime | int):
        return False
    return time.time() - _seconds(moment) <= LIVE_WINDOW_SECONDS


def _seconds(moment: datetime | int) -> float:
    return moment.timestamp() if isinstance(moment, datetime) else moment / 1000


def recent_latencies(sink: str, seconds: float) -> list[float]:
    """``sink``'s latencies seen in the last ``seconds`` (the last 100,000 at most)."""
    since = time.time() - seconds
    return [latency for when, latency in _RECENT[sink] if when >= since]


def recent_latency(sink: str, seconds: float = 10.0) -> tuple[float, float] | None:
    """The median and 99th percentile of ``sink``'s latencies seen in the last ``seconds``
    (None if there were none)."""
    recent = recent_latencies(sink, seconds)
    if not recent:
        return None
    p50, p99 = np.percentile(recent, [50, 99])
    return float(p50), float(p99)
