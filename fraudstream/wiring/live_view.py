"""What a live demo prints while it runs: every few seconds, each sink's latency from the
payment (p50 and p99 over those seconds), read from the metrics endpoints of the producer
and the consumers, as Prometheus would read them."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

LATENCY_BUCKETS = "fraudstream_payment_latency_seconds_bucket"
RECORDS_TAKEN = "fraudstream_consumer_records_total"
Buckets = dict[str, dict[float, float]]  # by sink: cumulative count by upper bound


def samples(url: str) -> list[Sample] | None:
    """Every sample the endpoint shows now; None while it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            text = response.read().decode()
    except (urllib.error.URLError, OSError):
        return None  # not up yet, or done
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def scrape(urls: Iterable[str]) -> Buckets:
    """Each sink's latency buckets, summed over the endpoints that answer."""
    buckets: Buckets = defaultdict(lambda: defaultdict(float))
    for url in urls:
        for sample in samples(url) or []:
            if sample.name == LATENCY_BUCKETS:
                buckets[sample.labels["sink"]][float(sample.labels["le"])] += sample.value
    return buckets


def records_taken(url: str) -> float | None:
    """How many records the consumer serving ``url`` has taken from Kafka so far; None
    while it does not answer."""
    shown = samples(url)
    if shown is None:
        return None
    return sum(sample.value for sample in shown if sample.name == RECORDS_TAKEN)


def quantile(q: float, cumulative: dict[float, float]) -> float | None:
    """The ``q`` quantile of a histogram's cumulative bucket counts, interpolated within
    its bucket as PromQL's ``histogram_quantile`` does; None for an empty histogram."""
    bounds = sorted(cumulative)
    total = cumulative[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound in bounds:
        count = cumulative[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower  # past the last finite bound: say where it starts
            share = (rank - below) / (count - below) if count > below else 1.0
            return lower + (bound - lower) * share
        lower, below = bound, count
    return lower


def latency_line(before: Buckets, now: Buckets) -> str:
    """Each sink's p50 and p99 over what came between the two scrapes."""
    parts = []
    for sink in sorted(now):
        recent = {
            bound: count - before.get(sink, {}).get(bound, 0.0)
            for bound, count in now[sink].items()
        }
        p50, p99 = quantile(0.5, recent), quantile(0.99, recent)
        if p50 is not None and p99 is not None:
            parts.append(f"{sink} p50 {p50:.2f} s p99 {p99:.2f} s")
    return "latency: " + (" | ".join(parts) if parts else "no live payment yet")


class Periodic:
    """Calls ``tick`` every ``interval`` seconds on a thread of its own, from entering a
    ``with`` block to leaving it (``begin`` once first)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def __enter__(self) -> Periodic:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def begin(self) -> None:
        """Before the first tick."""

    def tick(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        self.begin()
        while not self._stop.wait(self.interval):
            self.tick()


class LiveView(Periodic):
    """Prints ``latency_line`` every ``interval`` seconds until stopped."""

    def __init__(self, urls: list[str], say: Callable[[str], None], interval: float = 5) -> None:
        super().__init__(interval)
        self.urls, self.say = urls, say
        self._before: Buckets = {}

    def begin(self) -> None:
        self._before = scrape(self.urls)

    def tick(self) -> None:
        now = scrape(self.urls)
        self.say(latency_line(self._before, now))
        self._before = now
