"""One file produced by one producer, and by N producers each on its own shard.

    make bench-shards        # or: python -m bench.shards --rows 1000000 --shards 2

Each way runs against fresh topics of 6 partitions on the same generated file,
each producer in a process of its own started at once (the whole file is one
such process, so both pay the same start-up). The figure is rows per second
from the first start to the last exit, and the peak RSS of the largest one.
Every run is checked: the shards' rows add up to the file's, none twice.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.scratch import discard_bench_topics, generated_file, named_settings, peak_rss_mb
from fraudstream.detection.detectors import LabelDetector
from fraudstream.paysim.source import Shard
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.runs import RunOptions
from fraudstream.producer.service import ProducerRun
from fraudstream.runtime.stopping import StopFlag
from fraudstream.wiring.producing import release_arrow_memory_promptly
from fraudstream.wiring.provision import provision

PARTITIONS = 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--member", type=Shard.parse, help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.member:
        rows = produce_shard(args.run, args.file, args.member)
        print(json.dumps({"rows": rows, "peak_rss_mb": peak_rss_mb()}))
        return
    compare(args.rows, args.shards)


def compare(rows: int, shards: int) -> None:
    source = generated_file(rows)
    discard_bench_topics()
    produce_shard(_provisioned_run(), source, Shard())  # warm the file and the cluster
    discard_bench_topics()
    one = measure(source, 1)
    discard_bench_topics()
    many = measure(source, shards)
    print(
        f"{rows:,} generated PaySim rows, acks=all, {PARTITIONS} partitions, {os.cpu_count()} cores"
    )
    for count, (rate, rss) in ((1, one), (shards, many)):
        label = "the whole file" if count == 1 else f"{count} shards at once"
        print(f"  {label:<20} {rate:>10,.0f} rows/s   largest peak RSS {rss:>5.0f} MB")
    print(f"  {shards} shards / 1              {many[0] / one[0]:.2f}x")


def measure(source: Path, count: int) -> tuple[float, float]:
    """Rows a second and the largest peak RSS (MB) of ``count`` producers sharing ``source``."""
    run = _provisioned_run()
    started = time.monotonic()
    command = [sys.executable, "-m", "bench.shards", "--run", run, "--file", str(source)]
    children = [
        subprocess.Popen([*command, "--member", f"{index}/{count}"], stdout=subprocess.PIPE)
        for index in range(count)
    ]
    produced, peak_rss = 0, 0.0
    for child in children:
        assert child.stdout is not None
        output = child.stdout.read()
        if child.wait() != 0:
            raise SystemExit(f"a producer of {count} failed")
        report = json.loads(output)
        produced += report["rows"]
        peak_rss = max(peak_rss, report["peak_rss_mb"])
    seconds = time.monotonic() - started
    lines = sum(1 for _ in source.open("rb")) - 1
    if produced != lines:
        raise SystemExit(f"{count} producers produced {produced:,} rows of {lines:,}")
    return produced / seconds, peak_rss


def produce_shard(run: str, source: Path, shard: Shard) -> int:
    settings = named_settings(run, topic_partitions=PARTITIONS)
    options = RunOptions(str(source), from_start=True, shard=shard)
    release_arrow_memory_promptly()  # as `fraudstream produce` does
    summary = ProducerRun(settings, LabelDetector(), options, StopFlag()).run(ProgressLog(3600))
    return summary.this_run.good


def _provisioned_run() -> str:
    run = uuid.uuid4().hex[:8]
    provision(named_settings(run, topic_partitions=PARTITIONS), say=lambda _line: None)
    return run


if __name__ == "__main__":
    main()
