"""Consumer throughput: the lake and the emails, each beside a baseline measured in the same run.

    make bench-consumers   # or: python -m bench.consumers --rows 300000 --emails 5000 --rounds 3

The lake:
- ceiling: a read_committed consumer that only consumes and decodes every
  record of the non-fraud topic (no batching, no lake, no commit);
- fraudstream: the non-fraud consumer with ``--no-emails``: decoding,
  batches, NDJSON objects in the GCS emulator and offset commits.

The emails:
- server: the mail server's own accept rate: the same notifications rendered
  to bytes before the clock starts, sent over as many plain smtplib
  connections as the consumer uses;
- fraudstream: the non-fraud consumer end to end on a topic of that many
  records: decoding, rendering, sending, the email log, the lake, commits.
The two take turns over a few rounds, after a warm-up; medians are reported.
The mail catcher slows down as it fills, so the benchmark empties it when done
(``MAIL_API_URL``, which ``devstack env`` sets).

The emails by processes: ``consume non-fraud --processes N`` for N = 1 and
2, on a topic of 4 partitions, the records produced once every member holds
partitions. Its figure is the emails all members sent over their common busy
span, in total and per process: a process runs Python on one core at a time
(the GIL), so the per-process figure is the per-core one.

Each figure counts from the first message to the last commit (or the last
send): joining the group and the idle wait at the end are not counted. The
lake's two sides also report the CPU a record cost: their own process, the
local stack's brokers and GCS emulator, and the whole machine (``bench.cpu``),
over the whole call (joining and the idle wait, which cost little, included).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from bench.consumer_baselines import consume_and_decode, server_accept_rate
from bench.cpu import CpuClocks, stack_brokers
from bench.scratch import discard_bench_topics, fresh_settings
from fraudstream.devstack.services import empty_mail_catcher
from fraudstream.paysim.generator import write_csv
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.runs import RunOptions
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings, as_environment, load_settings
from fraudstream.wiring import factory, producing

# Every record is in the topic before the clock starts, so batches are cut by
# size, or by this age, not by the default 10 s a quiet stream would wait for.
BATCH_MAX_SECONDS = 0.5
# A round's few thousand records are a backlog: batches are cut by size, as a
# backlog's are with the default 10,000 records, not after the wait above.
EMAIL_BATCH_RECORDS = 1_000
PROCESS_PARTITIONS = 4  # two members take two each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=300_000, help="rows for the lake figures")
    parser.add_argument("--emails", type=int, default=5_000, help="emails in each email round")
    parser.add_argument("--rounds", type=int, default=3, help="email rounds (medians reported)")
    args = parser.parse_args()

    discard_bench_topics()
    lake_figures(args.rows)

    server, ours_mail = email_rounds(args.emails, args.rounds)
    print(
        f"email: {args.rounds} rounds of {args.emails:,} generated rows, "
        f"{load_settings().smtp_connections} SMTP connections, batches of {EMAIL_BATCH_RECORDS:,}"
    )
    print(f"  mail server, pre-rendered    {server:>10,.0f} emails/s (median)")
    print(f"  fraudstream, end to end      {ours_mail:>10,.0f} emails/s (median)")
    print(f"  fraudstream / server         {ours_mail / server:>10.0%}")

    print(
        f"email by processes: {args.emails:,} generated rows on {PROCESS_PARTITIONS} partitions, "
        f"`consume non-fraud --processes N`, {os.cpu_count()} cores"
    )
    for count in (1, 2):
        total = statistics.median(by_processes(args.emails, count) for _ in range(args.rounds))
        per_process = total / count
        print(f"  N = {count}: {total:>7,.0f} emails/s, {per_process:>7,.0f} per process (core)")
    if url := os.environ.get("MAIL_API_URL"):
        empty_mail_catcher(url)


def lake_figures(rows: int) -> None:
    """The lake beside consume-and-decode on the same records, and the CPU a record of each."""
    lake = bench_settings()
    produce(lake, rows, seed=2)
    ceiling, ceiling_cpu = with_cpu(partial(consume_and_decode, lake))
    ours, ours_cpu = with_cpu(partial(lake_only, lake))
    print(
        f"lake: {rows:,} generated rows, {lake.topic_partitions} partitions, "
        f"batches of {lake.batch_max_records:,} or {BATCH_MAX_SECONDS} s"
    )
    print(f"  ceiling (consume + decode)   {ceiling:>10,.0f} records/s")
    print(f"  fraudstream (--no-emails)    {ours:>10,.0f} records/s")
    print(f"  fraudstream / ceiling        {ours / ceiling:>10.0%}")
    print(
        "  CPU a record, in us: the consumer's process, the brokers and GCS emulator, the machine"
    )
    for name, cpu in (("ceiling", ceiling_cpu), ("fraudstream", ours_cpu)):
        print(
            f"  {name:<28} {cpu['own_us']:>6.2f} {cpu['services_us']:>6.2f} "
            f"{cpu['machine_us']:>6.2f}"
        )
    print(
        f"  the machine's CPU a record, ceiling / fraudstream "
        f"{ceiling_cpu['machine_us'] / ours_cpu['machine_us']:.0%}"
    )


def with_cpu(consume: Callable[[], tuple[float, int]]) -> tuple[float, dict[str, float]]:
    """The records/s ``consume`` gives, and the CPU a record it cost (``CpuClocks``)."""
    services = (*stack_brokers(), "gcs-emulator")
    start = CpuClocks.read(services)
    rate, records = consume()
    return rate, start.per_record(CpuClocks.read(services), records)


def email_rounds(emails: int, rounds: int) -> tuple[float, float]:
    """Median emails/s of the server baseline and of the consumer, measured in turns.

    The mail server (a Node.js process) speeds up as it warms, so it is warmed
    first, and the two measurements alternate rather than run one after the other.
    """
    server_accept_rate(bench_settings(), emails)  # warm-up, not counted
    server, ours = [], []
    for number in range(rounds):
        settings = bench_settings(batch_max_records=EMAIL_BATCH_RECORDS)
        produce(settings, emails, seed=3 + number)
        server.append(server_accept_rate(settings, emails))
        ours.append(emails_end_to_end(settings))
    return statistics.median(server), statistics.median(ours)


def by_processes(emails: int, count: int) -> float:
    """Emails a second of ``count`` member processes on a fresh topic of ``emails`` records:
    all they sent, from the first member's first message to the last one's last commit.
    The records are produced once every member has joined the group."""
    settings = bench_settings(
        batch_max_records=EMAIL_BATCH_RECORDS, topic_partitions=PROCESS_PARTITIONS
    )
    log = Path("build/bench/members.log")
    command = [
        sys.executable,
        "-m",
        "fraudstream",
        "consume",
        "non-fraud",
        "--processes",
        str(count),
        "--idle-exit",
        "5",
    ]
    environment = {**os.environ, **as_environment(settings, log_format="json")}
    with log.open("wb") as stderr:
        parent = subprocess.Popen(
            command, env=environment, stderr=stderr, stdout=subprocess.DEVNULL
        )
        admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
        while assigned_members(admin, settings.non_fraud_consumer_group) < count:
            time.sleep(0.2)
        produce(settings, emails, seed=40 + count)
        if parent.wait() != 0:
            raise SystemExit(f"consume --processes {count} failed: see {log}")
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    stopped = [line for line in lines if line.get("event") == "consumer stopped"]
    span = max(s["busy_to"] for s in stopped) - min(s["busy_from"] for s in stopped)
    return sum(int(s["emails_sent"]) for s in stopped) / float(span)


def assigned_members(admin: AdminClient, group: str) -> int:
    """Members of the group holding partitions, once it is stable (0 while it rebalances)."""
    description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    if description.state != ConsumerGroupState.STABLE:
        return 0
    return sum(1 for member in description.members if member.assignment.topic_partitions)


def bench_settings(**overrides: Any) -> Settings:
    return fresh_settings(
        **{"topic_partitions": 3, "batch_max_seconds": BATCH_MAX_SECONDS, **overrides}
    )


def produce(settings: Settings, rows: int, seed: int) -> None:
    source = Path("build/bench") / f"paysim-{rows}-seed{seed}.csv"
    if not source.is_file():
        write_csv(source, rows=rows, seed=seed)
    producing.producer_run(settings, RunOptions(str(source)), StopFlag()).run(ProgressLog(3600))


def lake_only(settings: Settings) -> tuple[float, int]:
    """Records/s of the non-fraud consumer without emails, and how many it wrote."""
    consumer = factory.batch_consumer(settings, "non-fraud", StopFlag(), send_emails=False)
    totals = consumer.run(idle_exit=3)
    return totals.records / totals.busy_seconds, totals.records


def emails_end_to_end(settings: Settings) -> float:
    totals = factory.batch_consumer(settings, "non-fraud", StopFlag()).run(idle_exit=3)
    return totals.emails_sent / totals.busy_seconds


if __name__ == "__main__":
    main()
