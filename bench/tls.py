"""Kafka over TLS: what encryption costs the producer, beside plaintext, in the same run.

    make bench-tls             # or: python -m bench.tls --rows 500000

Two clusters of three brokers, started here alike from the local stack's configuration
on free ports: one with every listener in plaintext, one with every listener on TLS
(certificates of an authority of its own; the brokers replicate over TLS too, as in
the cloud). The real producer (transactions, checkpoints, ``DETECTOR=label``) streams
the same generated file into fresh topics of 6 partitions, replication 3, on each
cluster in turn, ``--rounds`` times, each run in a process of its own, after a run of
100,000 rows on each (a new cluster's first runs are slow, TLS or not). The figure is
rows a second from start to the last acknowledgement; beside it, the CPU a row cost
the producer's process and the cluster's three brokers. The ratio is the median of the
rounds' own ratios. The schema registry is the local stack's.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median

from confluent_kafka.admin import AdminClient

from bench.cpu import CpuClocks
from bench.producer import run_rounds
from bench.scratch import fresh_settings, generated_file, peak_rss_mb
from fraudstream.detection.detectors import LabelDetector
from fraudstream.devstack import health, process
from fraudstream.devstack import stack as devstack
from fraudstream.devstack.certificates import CA_FILE
from fraudstream.devstack.install import ensure_installed
from fraudstream.devstack.layout import HOST, Topology, cache_dir
from fraudstream.kafka import client_config
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.runs import RunOptions
from fraudstream.producer.service import ProducerRun
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import load_settings
from fraudstream.topology import topology
from fraudstream.wiring.producing import release_arrow_memory_promptly

VARIANTS = ("plaintext", "tls")
WARM_UP_ROWS = 100_000  # a new cluster's first runs are slow, TLS or not
BROKERS = ("kafka-1", "kafka-2", "kafka-3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps({**run_producer(args.file), "peak_rss_mb": peak_rss_mb()}))
    else:
        compare(args.rows, args.rounds)


def compare(rows: int, rounds: int) -> None:
    source = generated_file(rows)
    with cluster(tls=False) as plaintext, cluster(tls=True) as tls:
        clusters = {"plaintext": plaintext, "tls": tls}
        for name in VARIANTS:  # each cluster warmed alike: its coordinator loaded, its JIT done
            measure(clusters[name], _first_rows(source, WARM_UP_ROWS))
        results = run_rounds(
            VARIANTS, source, rounds, lambda variant, file: measure(clusters[variant], file)
        )
    print(f"{rows:,} generated PaySim rows, acks=all, 3 replicas, 6 partitions, 3 brokers each")
    for variant in VARIANTS:
        rates = [result["rows_per_second"] for result in results[variant]]
        own, brokers = (
            median(result[figure] for result in results[variant])
            for figure in ("own_us", "services_us")
        )
        print(
            f"  {variant:<10} {median(rates):>9,.0f} rows/s   CPU a row {own:5.2f} us producer,"
            f" {brokers:5.2f} us brokers   (rates {', '.join(f'{r:,.0f}' for r in rates)})"
        )
    ratio = median(
        ours["rows_per_second"] / theirs["rows_per_second"]
        for ours, theirs in zip(results["tls"], results["plaintext"], strict=True)
    )
    print(f"  tls / plaintext  {ratio:.0%}   (the median of the rounds' own ratios)")


@contextmanager
def cluster(*, tls: bool) -> Iterator[dict[str, str]]:
    """Three new brokers, plaintext or TLS: the environment that points a run at them."""
    root = Path(tempfile.mkdtemp(prefix=f"bench-{'tls' if tls else 'plaintext'}-"))
    brokers = _free_ports(3, 20_000)
    topology = Topology(
        brokers=3,
        tls=tls,
        first_broker_port=brokers,
        first_controller_port=_free_ports(3, brokers + 3),
    )
    devstack.start_kafka(topology, ensure_installed(cache_dir()), root)
    ca = root / "tls" / CA_FILE
    login = {"security.protocol": "SSL", "ssl.ca.location": str(ca)} if tls else {}
    try:
        health.wait_until_healthy(
            "bench kafka", lambda: health.kafka_brokers_listed(topology, login), 120
        )
        yield {
            "KAFKA_BOOTSTRAP_SERVERS": topology.bootstrap_servers,
            "TOPIC_REPLICATION_FACTOR": "3",
            "BENCH_CLUSTER_ROOT": str(root),
            **({"TLS_CA_FILE": str(ca)} if tls else {}),
        }
    finally:
        for name in BROKERS:
            process.stop(root, name)


def measure(environment: dict[str, str], source: Path) -> dict[str, float]:
    variant = "tls" if "TLS_CA_FILE" in environment else "plaintext"
    command = [sys.executable, "-m", "bench.tls", "--variant", variant, "--file", str(source)]
    child = subprocess.run(
        command, stdout=subprocess.PIPE, env={**os.environ, **environment}, check=False
    )
    if child.returncode != 0:
        raise SystemExit(f"the {variant} run failed")
    result: dict[str, float] = json.loads(child.stdout)
    return result


def run_producer(source: Path) -> dict[str, float]:
    """In the child: the producer, file to this cluster; its topics deleted after."""
    settings = fresh_settings(topic_partitions=6)
    release_arrow_memory_promptly()  # as `fraudstream produce` does
    options = RunOptions(str(source), from_start=True)
    run = ProducerRun(settings, LabelDetector(), options, StopFlag())
    root = Path(os.environ["BENCH_CLUSTER_ROOT"])
    start = CpuClocks.read(BROKERS, root)
    summary = run.run(ProgressLog(3600))
    cpu = start.per_record(CpuClocks.read(BROKERS, root), summary.total.good)
    admin = AdminClient(client_config(load_settings().kafka_connection))
    topics = [topic.name for topic in topology(settings).topics]
    for future in admin.delete_topics(topics, operation_timeout=60).values():
        future.result()
    return {"rows_per_second": summary.total.good / summary.seconds, **cpu}


def _first_rows(source: Path, rows: int) -> Path:
    tiny = source.with_name(f"first-{rows}.csv")
    with source.open() as full, tiny.open("w") as out:
        out.writelines(line for _, line in zip(range(rows + 1), full, strict=False))
    return tiny


def _free_ports(count: int, lowest: int) -> int:
    """The first of ``count`` consecutive loopback ports free now, from ``lowest`` up."""
    for first in range(lowest, 30_000):
        if all(_free(port) for port in range(first, first + count)):
            return first
    raise SystemExit(f"no {count} consecutive free ports between {lowest} and 30000")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


if __name__ == "__main__":
    main()
