"""Latency from the payment to every sink, in a live run, beside Kafka's own at the same rate.

    make bench-latency   # or: python -m bench.latency --rates 250,500,1000 --seconds 60

For each rate, on fresh topics and a fresh lake: the three consumers (notifications,
fraud confirmations, cases) run as processes of their own with their default
settings, beside the mail server, and ``produce --rate`` releases that many payments a
second for ``--seconds``. Each payment's latency runs from its ``event_time`` (its
release) to:
- ``commit``: its producer transaction committed (measured in the producer);
- ``email/fraud_confirmation``, ``email/transaction``: the mail server took its email
  (the email log's ``finished_at``);
- ``lake/...``: its batch's object created in the lake (the object's creation time);
- ``case_row``: the case table's transaction committed (read from the cases
  consumer's histogram: its quantiles interpolated in buckets, its max a bucket bound).

The baseline, measured in the same run at the same rate: Kafka's own end-to-end
latency on the same stack, a transactional producer committing every 100 ms records of
the same size, read by a ``read_committed`` consumer; from the produce call to the read.
The knee: the lowest rate at which p99 to the fraud confirmation email passes 1 s.
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
import pyarrow.csv
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from bench.consumers import assigned_members
from bench.cpu import CpuBudget, stack_services
from bench.scratch import discard_bench_topics, fresh_settings
from fraudstream import kafka
from fraudstream.devstack.services import empty_mail_catcher
from fraudstream.paysim.generator import write_csv
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.runs import RunOptions
from fraudstream.runtime import metrics
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings, as_environment
from fraudstream.storage import lake
from fraudstream.topology import LakeFolder
from fraudstream.wiring import producing
from fraudstream.wiring.live_view import Periodic, quantile, scrape

CASES_METRICS_PORT = 9114
CONSUMERS = ("non-fraud", "fraud", "cases")
FRAUD_COLUMN = pyarrow.csv.ConvertOptions(include_columns=["isFraud"])
PRODUCER = "producer (the benchmark)"
FRAUD_EMAIL = f"email/{LakeFolder.FRAUD_CASES}"
RECORD_BYTES = 230  # about an encoded transaction record
QUANTILES = (0.5, 0.95, 0.99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="250,500,1000", help="payments a second, in turn")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each rate is held")
    args = parser.parse_args()
    figures: dict[float, dict[str, list[float]]] = {}
    for rate in (float(r) for r in args.rates.split(",")):
        figures[rate] = measure(rate, args.seconds)
        discard_bench_topics()
    knee = next((r for r, f in figures.items() if _p99(f.get(FRAUD_EMAIL)) > 1.0), None)
    where = "at none of the rates" if knee is None else f"from {knee:,.0f}/s"
    print(f"knee: p99 from the payment to the fraud email is over 1 s {where}")


def measure(rate: float, seconds: float) -> dict[str, list[float]]:
    """Every sink's latencies at ``rate`` (case_row as its histogram's quantiles), and the
    baseline's; printed as a table."""
    baseline = kafka_end_to_end(rate, seconds)
    settings = fresh_settings(cases_consumer_group=f"bench-cases-{time.monotonic_ns()}")
    source = Path("build/bench") / f"live-{int(rate)}.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    write_csv(source, rows=int(rate * seconds), seed=1)
    if mail_api := os.environ.get("MAIL_API_URL"):  # a catcher holding many slows down
        empty_mail_catcher(mail_api)
    consumers = start_consumers(settings, idle_exit=10 + longest_fraud_gap(source) / rate)
    wait_for_members(settings)
    cases = CasesScraper(f"http://127.0.0.1:{CASES_METRICS_PORT}/metrics")
    budget = CpuBudget(
        {
            **stack_services(),
            **{f"consumer {kind}": c.pid for kind, c in zip(CONSUMERS, consumers, strict=True)},
            PRODUCER: os.getpid(),
        },
        alone=PRODUCER,
    )
    with cases, budget:
        started = time.monotonic()
        run = producing.producer_run(settings, RunOptions(str(source), rate=rate), StopFlag())
        run.run(ProgressLog(3600))
        took = time.monotonic() - started
        for consumer in consumers:
            consumer.wait(600)
        spent = budget.spent()  # before this process reads the lake
    found = {"kafka (baseline)": baseline, "commit": _recent("commit", started)}
    found.update(lake_latencies(settings))
    print(f"\nrate {rate:,.0f}/s for {seconds:.0f} s: the producer took {took:.1f} s")
    print(f"{'sink':<28}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'n':>9}")
    for sink, values in sorted(found.items()):
        print(_row(sink, values))
    print(cases.row())
    print(objects_line(settings, took))
    for line in spent.table(int(rate * seconds)):
        print(line)
    return found


def wait_for_members(settings: Settings) -> None:
    """Until each consumer holds its partitions: payments released before would wait for
    the processes to start and join, which is not the latency being measured."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    groups = [
        settings.non_fraud_consumer_group,
        settings.fraud_consumer_group,
        settings.cases_consumer_group,
    ]
    deadline = time.monotonic() + 120
    while not all(assigned_members(admin, group) for group in groups):
        if time.monotonic() > deadline:
            raise SystemExit("the consumers did not join their groups within 120 s")
        time.sleep(0.5)


def objects_line(settings: Settings, seconds: float) -> str:
    """The lake objects each folder got, per topic partition and 10 s of the run."""
    bucket = lake.lake_bucket(settings.gcp_project, settings.lake_bucket)
    shown = []
    for folder in LakeFolder:
        names = [blob.name for blob in bucket.client.list_blobs(bucket, prefix=f"{folder}/")]
        partitions = {name.rsplit("/", 1)[0] for name in names}
        each = len(names) / max(len(partitions), 1) / (seconds / 10)
        shown.append(f"{folder}/ {len(names)} ({each:.2f} a partition every 10 s)")
    return "lake objects: " + ", ".join(shown)


def longest_fraud_gap(source: Path) -> int:
    """The most rows from the file's start, or between two frauds, with no fraud."""
    frauds = pyarrow.csv.read_csv(source, convert_options=FRAUD_COLUMN).column("isFraud")
    at = np.flatnonzero(frauds.to_numpy(zero_copy_only=False))
    return int(np.diff(at, prepend=0).max()) if len(at) else len(frauds)


def start_consumers(settings: Settings, idle_exit: float) -> list[subprocess.Popen[bytes]]:
    """The three consumers, each a process of its own, stopping after ``idle_exit`` s of
    quiet: longer than the longest wait for a fraud at the run's rate, so that the fraud
    and cases consumers do not stop between two. The cases consumer serves its metrics."""
    environment = {**os.environ, **as_environment(settings), "LOG_FORMAT": "json"}
    logs = Path("build/bench/logs")
    logs.mkdir(parents=True, exist_ok=True)
    started = []
    for kind in CONSUMERS:
        own = {"METRICS_PORT": str(CASES_METRICS_PORT)} if kind == "cases" else {}
        started.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fraudstream",
                    "consume",
                    kind,
                    "--idle-exit",
                    f"{idle_exit:.0f}",
                ],
                env={**environment, **own},
                stdout=subprocess.DEVNULL,
                stderr=(logs / f"latency-{kind}.log").open("wb"),
            )
        )
    return started


def lake_latencies(settings: Settings) -> dict[str, list[float]]:
    """Each record's seconds from its event_time to its lake object's creation, and each
    sent email's to its ``finished_at``, by sink."""
    bucket = lake.lake_bucket(settings.gcp_project, settings.lake_bucket)
    made: dict[str, tuple[float, str]] = {}  # transaction id -> event_time, folder
    found: dict[str, list[float]] = defaultdict(list)
    for folder in (LakeFolder.TRANSACTIONS, LakeFolder.FRAUD_CASES):
        for blob in bucket.client.list_blobs(bucket, prefix=f"{folder}/"):
            created = blob.time_created.timestamp()
            for line in blob.download_as_bytes().splitlines():
                record = orjson.loads(line)
                event_time = datetime.fromisoformat(record["event_time"]).timestamp()
                made[record["transaction_id"]] = (event_time, str(folder))
                found[f"lake/{folder}"].append(created - event_time)
    for blob in bucket.client.list_blobs(bucket, prefix=f"{LakeFolder.EMAIL_LOG}/"):
        for line in blob.download_as_bytes().splitlines():
            entry = orjson.loads(line)
            if entry["status"] == "sent" and entry["transaction_id"] in made:
                event_time, kind = made[entry["transaction_id"]]
                sent = datetime.fromisoformat(entry["finished_at"]).timestamp()
                found[f"email/{kind}"].append(sent - event_time)
    return found


class CasesScraper(Periodic):
    """The cases consumer's case_row histogram, scraped every second while it runs: the
    last scrape before it exits holds every case."""

    def __init__(self, url: str) -> None:
        super().__init__(interval=1.0)
        self.url = url
        self.last: dict[float, float] = {}

    def tick(self) -> None:
        buckets = scrape([self.url]).get("case_row")
        if buckets:
            self.last = dict(buckets)

    def row(self) -> str:
        """p50, p95 and p99 interpolated in the buckets; as the max, the bucket it is in."""
        figures = [quantile(q, self.last) for q in QUANTILES]
        if not self.last or None in figures:
            return f"{'case_row (buckets)':<28}  no case seen"
        total = max(self.last.values())
        top = min(bound for bound, count in self.last.items() if count >= total)
        shown = "".join(f"{figure:>8.3f}" for figure in figures if figure is not None)
        return f"{'case_row (buckets)':<28}{shown}{f'<={top:g}':>8}{total:>9,.0f}"


def kafka_end_to_end(rate: float, seconds: float) -> list[float]:
    """Kafka's own latency at ``rate``: a transactional producer committing every 100 ms,
    a read_committed consumer, records of RECORD_BYTES; from produce to read, in seconds."""
    settings = fresh_settings(topic_partitions=3)
    topic, servers = settings.non_fraud_topic, settings.kafka_bootstrap_servers
    reader = Consumer(kafka.consumer_config(servers, f"bench-e2e-{time.monotonic_ns()}"))
    reader.assign([TopicPartition(topic, p, 0) for p in range(3)])
    count = int(rate * seconds)
    latencies: list[float] = []
    writer = threading.Thread(target=_produce_paced, args=(servers, topic, rate, count))
    writer.start()
    deadline = time.monotonic() + seconds + 60
    while len(latencies) < count and time.monotonic() < deadline:
        for message in reader.consume(500, 0.1):
            if message.error() is None:
                (sent,) = struct.unpack_from("!d", message.value() or b"")
                latencies.append(time.time() - sent)
    writer.join()
    reader.close()
    return latencies


def _produce_paced(servers: str, topic: str, rate: float, count: int) -> None:
    transactional_id = f"bench-e2e-{time.monotonic_ns()}"
    producer = Producer({**kafka.producer_config(servers), "transactional.id": transactional_id})
    producer.init_transactions()
    producer.begin_transaction()
    began, opened, padding = time.time(), time.time(), b"x" * (RECORD_BYTES - 8)
    for index in range(count):
        if (delay := began + index / rate - time.time()) > 0:
            time.sleep(delay)
        producer.produce(topic, struct.pack("!d", time.time()) + padding, partition=index % 3)
        producer.poll(0)
        if time.time() - opened >= 0.1:
            producer.commit_transaction()
            producer.begin_transaction()
            opened = time.time()
    producer.commit_transaction()


def _recent(sink: str, since: float) -> list[float]:
    """What this process observed at ``sink`` since ``since`` (the producer runs here)."""
    return metrics.recent_latencies(sink, seconds=time.monotonic() - since)


def _p99(values: list[float] | None) -> float:
    return float(np.percentile(values, 99)) if values else float("inf")


def _row(sink: str, values: list[float]) -> str:
    if not values:
        return f"{sink:<28}  none"
    p50, p95, p99 = np.percentile(values, [q * 100 for q in QUANTILES])
    return f"{sink:<28}{p50:>8.3f}{p95:>8.3f}{p99:>8.3f}{max(values):>8.3f}{len(values):>9,}"


if __name__ == "__main__":
    main()
