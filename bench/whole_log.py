"""The whole log, end to end: every row through the producer, the lake, the emails and the
case table on the local stack, then each checked.

    make whole-log                      # 6,362,620 generated rows, the real log's size
    make whole-log ROWS=500000          # fewer
    make whole-log CSV=path/to/log.csv  # the real file

The consumers run as `fraudstream consume` processes with their default settings, first;
then `fraudstream produce` streams the file as fast as it goes. The emails go to
bench.mail_sink, a real SMTP server that logs one line an email: the mail catcher holds
no millions. Once every consumer has been idle for a while, the run checks:
- every row once in the lake (each transaction id in one record, none twice);
- one email-log entry per lake record, each sent, and the mail server took exactly
  the emails the log names, each once;
- every fraud in the case table.
It prints, and writes to build/whole-log/figures.json: the wall time, each process's
peak resident memory, the lake's objects and bytes by folder, and the email rate.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

from bench.cpu import CpuBudget, stack_services
from bench.latency import wait_for_members
from bench.mail_sink import read_log
from bench.memory import PeakMemory
from bench.scratch import discard_bench_topics, fresh_settings
from fraudstream.paysim.generator import write_csv
from fraudstream.settings.config import Settings, as_environment
from fraudstream.storage import case_table, lake
from fraudstream.topology import LakeFolder

WHOLE_LOG_ROWS = 6_362_620  # PaySim's log
OUT = Path("build/whole-log")
IDLE_EXIT_SECONDS = 30  # a consumer stops once nothing came for this long
CONSUMERS = ("non-fraud", "fraud", "cases")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=WHOLE_LOG_ROWS, help="generated rows")
    parser.add_argument("--csv", type=Path, help="a PaySim CSV to send instead of generated rows")
    parser.add_argument("--smtp-port", type=int, default=2526, help="the mail sink's port")
    parser.add_argument(
        "--processes", type=int, default=1, help="members of the notification consumer"
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    source = args.csv or generated(args.rows)
    discard_bench_topics()
    figures = run(source, args.smtp_port, args.processes)
    (OUT / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    print_figures(figures)
    if figures["problems"]:
        raise SystemExit(1)


def generated(rows: int) -> Path:
    """The generated file of ``rows`` rows (seed 7), made once and kept."""
    source = OUT / f"paysim-{rows}.csv"
    if not source.is_file():
        started = time.monotonic()
        write_csv(source, rows=rows, seed=7)
        print(f"generated {rows:,} rows in {time.monotonic() - started:.0f} s: {source}")
    return source


def run(source: Path, smtp_port: int, processes: int) -> dict[str, Any]:
    """Stream ``source`` through every consumer, and check and measure what they left."""
    cases_url = f"sqlite:///{(OUT / f'cases-{os.getpid()}.sqlite3').resolve()}"
    settings = fresh_settings(
        smtp_host="127.0.0.1", smtp_port=smtp_port, cases_database_url=cases_url
    )
    case_table.migrate(case_table.cases_engine(cases_url))
    mail_log = OUT / "mail.tsv"
    mail_log.unlink(missing_ok=True)
    sink = _start(
        [sys.executable, "-m", "bench.mail_sink", "--port", str(smtp_port), "--log", str(mail_log)],
        "mail-sink",
        {},
    )
    _wait_for_port(sink, smtp_port)
    environment = {**as_environment(settings), "LOG_FORMAT": "json"}
    consumers = {
        f"consume {kind}": _start(
            _consume_command(kind, processes if kind == "non-fraud" else 1),
            f"consume-{kind}",
            environment,
        )
        for kind in CONSUMERS
    }
    wait_for_members(settings)
    pipeline = {"mail sink": sink.pid, **{name: c.pid for name, c in consumers.items()}}
    memory = PeakMemory(pipeline)
    budget = CpuBudget({**stack_services(), **pipeline})
    with memory, budget:
        started = time.monotonic()
        producer = _start(
            [sys.executable, "-m", "fraudstream", "produce", str(source), "--detector", "label"],
            "produce",
            environment,
        )
        memory.add("produce", producer.pid)
        budget.add("produce", producer.pid)
        if producer.wait() != 0:
            raise SystemExit(f"the producer failed: see {OUT / 'produce.log'}")
        produced = time.monotonic() - started
        for name, consumer in consumers.items():
            if consumer.wait() != 0:
                raise SystemExit(f"{name} failed: see {OUT}/{name.replace(' ', '-')}.log")
        caught_up = time.monotonic() - started - IDLE_EXIT_SECONDS
        spent = budget.spent()
    sink.terminate()
    sink.wait(60)
    figures: dict[str, Any] = {
        "source": str(source),
        "wall_seconds": round(caught_up, 1),
        "produce_seconds": round(produced, 1),
        "peak_rss_mb": memory.peaks(),
        "rss_mb_each_minute": memory.resident_by_minute(),
    }
    figures.update(checked(settings, cases_url, mail_log))
    figures["cpu_budget"] = spent.table(figures["rows_in_lake"])
    return figures


def _wait_for_port(server: subprocess.Popen[bytes], port: int) -> None:
    """Until ``server`` takes connections on ``port``; one line if it ended instead (the
    port taken, say)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the mail sink did not start on port {port}: see {OUT}/mail-sink.log")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"the mail sink did not answer on port {port} within 30 s")


def _consume_command(kind: str, processes: int) -> list[str]:
    command = [sys.executable, "-m", "fraudstream", "consume", kind]
    return [*command, "--idle-exit", str(IDLE_EXIT_SECONDS), "--processes", str(processes)]


def _start(command: list[str], name: str, environment: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        env={**os.environ, **environment},
        stdout=(OUT / f"{name}.out").open("wb"),
        stderr=(OUT / f"{name}.log").open("wb"),
    )


def checked(settings: Settings, cases_url: str, mail_log: Path) -> dict[str, Any]:
    """What the run left, counted and checked; ``problems`` lists what is wrong."""
    bucket = lake.lake_bucket(settings.gcp_project, settings.lake_bucket)
    folders = {folder: _folder(bucket, folder) for folder in LakeFolder}
    records = Counter[str]()
    for folder in (LakeFolder.TRANSACTIONS, LakeFolder.FRAUD_CASES):
        records.update(folders[folder].pop("ids"))
    emails = folders[LakeFolder.EMAIL_LOG].pop("ids")
    sent_at = folders[LakeFolder.EMAIL_LOG].pop("finished")
    message_ids = folders[LakeFolder.EMAIL_LOG].pop("message_ids")
    taken = Counter(message_id for message_id, _ in read_log(mail_log))
    frauds = folders[LakeFolder.FRAUD_CASES]["records"]
    cases = _case_rows(cases_url)
    problems = Tally(records, emails, message_ids, taken, frauds, cases).problems()
    span = (max(sent_at) - min(sent_at)).total_seconds() if sent_at else 0.0
    for figures in folders.values():
        for key in ("finished", "message_ids"):
            figures.pop(key, None)
    return {
        "rows_in_lake": sum(records.values()),
        "emails_logged": sum(emails.values()),
        "emails_taken_by_the_server": sum(taken.values()),
        "email_rate_per_second": round(sum(emails.values()) / span) if span else None,
        "frauds": frauds,
        "case_rows": cases,
        "lake": folders,
        "problems": problems,
    }


@dataclass(frozen=True)
class Tally:
    """What a run left: records and email-log entries by transaction id, the Message-IDs
    the log names and those the mail server took, the frauds and the case rows."""

    records: Counter[str]
    emails: Counter[str]
    message_ids: Counter[str]
    taken: Counter[str]
    frauds: int
    cases: int

    def problems(self) -> list[str]:
        problems = []
        if twice := sum(1 for count in self.records.values() if count > 1):
            problems.append(f"{twice:,} transactions twice in the lake")
        if missing := len(set(self.records) ^ set(self.emails)):
            problems.append(
                f"{missing:,} transactions without an email-log entry, or not in the lake"
            )
        if doubled := sum(1 for count in self.emails.values() if count > 1):
            problems.append(f"{doubled:,} transactions with more than one email-log entry")
        if self.taken != self.message_ids:
            problems.append(
                f"the mail server took {self.taken.total():,} emails, "
                f"{len(self.taken):,} distinct; the log names {len(self.message_ids):,}"
            )
        if self.cases != self.frauds:
            problems.append(f"{self.cases:,} case rows for {self.frauds:,} frauds")
        return problems


def _folder(bucket: Any, folder: str) -> dict[str, Any]:
    """A lake folder's objects, bytes and records, and the keys the checks need."""
    objects = [blob for blob in bucket.client.list_blobs(bucket, prefix=f"{folder}/")]
    ids = Counter[str]()
    finished: list[datetime] = []
    message_ids = Counter[str]()
    batches = [blob for blob in objects if blob.name.endswith(".jsonl")]
    for record in _records(batches):
        ids[record["transaction_id"]] += 1
        if folder == LakeFolder.EMAIL_LOG and record.get("status") == "sent":
            message_ids[record["message_id"]] += 1
            finished.append(datetime.fromisoformat(record["finished_at"]))
    return {
        "objects": len(objects),
        "bytes": sum(blob.size or 0 for blob in objects),
        "records": sum(ids.values()),
        "ids": ids,
        "finished": finished,
        "message_ids": message_ids,
    }


def _records(blobs: list[Any]) -> Iterator[dict[str, Any]]:
    for blob in blobs:
        for line in blob.download_as_bytes().splitlines():
            if line:
                yield orjson.loads(line)


def _case_rows(url: str) -> int:
    engine = case_table.cases_engine(url)
    try:
        with engine.connect() as connection:
            query = select(func.count()).select_from(case_table.fraud_cases)
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def print_figures(figures: dict[str, Any]) -> None:
    print(f"\n{figures['rows_in_lake']:,} rows from {figures['source']}")
    print(
        f"  wall time, the first row produced to the last consumer caught up: "
        f"{figures['wall_seconds']:,.0f} s"
        f" (the producer alone: {figures['produce_seconds']:,.1f} s)"
    )
    print(
        f"  emails: {figures['emails_logged']:,} logged, {figures['emails_taken_by_the_server']:,}"
        f" taken by the mail server, {figures['email_rate_per_second'] or 0:,} a second"
    )
    print(f"  frauds {figures['frauds']:,}, case rows {figures['case_rows']:,}")
    for folder, lake_figures in figures["lake"].items():
        print(
            f"  lake {folder}/: {lake_figures['objects']:,} objects, "
            f"{lake_figures['bytes'] / 1e6:,.0f} MB, {lake_figures['records']:,} records"
        )
    print("  peak RSS (MB): " + ", ".join(f"{k} {v:,}" for k, v in figures["peak_rss_mb"].items()))
    for name, minutes in figures["rss_mb_each_minute"].items():
        print(f"  RSS of {name} (MB) at each tenth of the run: {at_each_tenth(minutes)}")
    for line in figures["cpu_budget"]:
        print(f"  {line}")
    print(
        "  checks: "
        + (
            "every row once, one email each, every fraud a case"
            if not figures["problems"]
            else "; ".join(figures["problems"])
        )
    )


def at_each_tenth(minutes: list[int]) -> str:
    """The readings at 10 %, 20 % ... 100 % of the run: a curve short enough to print."""
    picked = [minutes[max(0, round(len(minutes) * tenth / 10) - 1)] for tenth in range(1, 11)]
    return " ".join(f"{mb:,}" for mb in picked)


if __name__ == "__main__":
    main()
