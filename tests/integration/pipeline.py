"""Running the pipeline's parts in tests, and reading back what they left in the lake and mail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from fraudstream import case_table
from fraudstream.config import Settings, as_environment
from fraudstream.consumers.totals import Totals
from fraudstream.lake import storage_client
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.service import RunOptions, Summary
from fraudstream.stopping import StopFlag
from fraudstream.wiring import factory, producing

REPO_ROOT = Path(__file__).resolve().parents[2]


def environment(settings: Settings, **overrides: object) -> dict[str, str]:
    """The process environment that gives a child process exactly ``settings``."""
    return {**os.environ, **as_environment(settings, **overrides)}


def produce(settings: Settings, source: Path) -> Summary:
    run = producing.producer_run(settings, RunOptions(source=str(source)), StopFlag())
    summary = run.run(ProgressLog())
    assert summary.complete
    return summary


def consume(settings: Settings, kind: str) -> Totals:
    """Run the ``kind`` consumer in this process until its topic has been quiet for 3 s."""
    return factory.batch_consumer(settings, kind, StopFlag()).run(idle_exit=3)


def consume_cases(settings: Settings) -> None:
    """Run the case consumer in this process until its topics have been quiet for 3 s."""
    factory.case_consumer(settings, StopFlag()).run(idle_exit=3)


def case_rows(settings: Settings) -> dict[str, dict[str, Any]]:
    """The case table, by transaction id."""
    engine = case_table.cases_engine(settings.cases_database_url.get_secret_value())
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(case_table.fraud_cases)).mappings().all()
    finally:
        engine.dispose()
    return {row["transaction_id"]: dict(row) for row in rows}


def start_consumer(
    settings: Settings, kind: str, *args: str, log: Path | None = None, **overrides: object
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "fraudstream", "consume", kind, *args],
        cwd=REPO_ROOT,
        env=environment(settings, **overrides),
        stderr=log.open("wb") if log else subprocess.DEVNULL,
    )


def lake_objects(settings: Settings, folder: str) -> list[str]:
    client = storage_client(settings.gcp_project)
    return [blob.name for blob in client.list_blobs(settings.lake_bucket, prefix=f"{folder}/")]


def lake_records(settings: Settings, folder: str) -> list[dict[str, Any]]:
    """Every record of every batch in ``folder`` (answers excluded)."""
    bucket = storage_client(settings.gcp_project).bucket(settings.lake_bucket)
    return [
        json.loads(line)
        for name in lake_objects(settings, folder)
        if name.endswith(".jsonl")
        for line in bucket.blob(name).download_as_bytes().splitlines()
    ]


def lake_documents(settings: Settings, folder: str) -> list[dict[str, Any]]:
    """Each JSON object in ``folder``, one per lake object."""
    bucket = storage_client(settings.gcp_project).bucket(settings.lake_bucket)
    return [
        json.loads(bucket.blob(name).download_as_bytes()) for name in lake_objects(settings, folder)
    ]


def mails_to(mail_api_url: str, domain: str) -> list[dict[str, Any]]:
    """The messages the mail catcher holds for addresses at ``domain``."""
    with urllib.request.urlopen(f"{mail_api_url}/email", timeout=30) as response:
        messages = json.load(response)
    return [m for m in messages if m["to"][0]["address"].endswith(f"@{domain}")]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)


def json_lines(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            yield json.loads(line)
