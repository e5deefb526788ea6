"""Running the pipeline's parts in tests, and reading back what they left in the lake and mail."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy import select

from fraudstream.consumers.totals import Totals
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.runs import RunOptions, Summary
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings, as_environment
from fraudstream.storage import case_table
from fraudstream.storage.lake import storage_client
from fraudstream.wiring import factory, producing
from tests.integration.kafka_reading import read_committed

REPO_ROOT = Path(__file__).resolve().parents[2]
Ran = TypeVar("Ran")


def environment(settings: Settings, **overrides: object) -> dict[str, str]:
    """The process environment that gives a child process exactly ``settings``."""
    return {**os.environ, **as_environment(settings, **overrides)}


def run_command(
    settings: Settings, *args: str, **overrides: object
) -> subprocess.CompletedProcess[str]:
    """``fraudstream ARGS``, run to its end with exactly ``settings`` (and ``overrides``)."""
    return subprocess.run(
        [sys.executable, "-m", "fraudstream", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment(settings, **overrides),
    )


def command_output(settings: Settings, *args: str) -> str:
    """What ``fraudstream ARGS`` prints, run with exactly ``settings``; it must exit 0."""
    finished = run_command(settings, *args)
    assert finished.returncode == 0, finished.stderr[-2000:]
    return finished.stdout


def produce(settings: Settings, source: Path) -> Summary:
    run = producing.producer_run(settings, RunOptions(source=str(source)), StopFlag())
    summary = run.run(ProgressLog())
    assert summary.complete
    return summary


def consume(settings: Settings, kind: str) -> Totals:
    """Run the ``kind`` consumer in this process until it has committed everything its
    topic holds now, then stop it as SIGTERM would."""
    stop = StopFlag()
    consumer = factory.batch_consumer(settings, kind, stop)
    caught_up = CaughtUp(settings, *_group_and_topics(settings, kind))
    return _run_until(caught_up, stop, consumer.run)


def consume_cases(settings: Settings) -> None:
    """Run the case consumer in this process until it has committed everything its topics
    hold now, then stop it as SIGTERM would."""
    stop = StopFlag()
    consumer = factory.case_consumer(settings, stop)
    caught_up = CaughtUp(settings, *_group_and_topics(settings, "cases"))
    _run_until(caught_up, stop, consumer.run)


class CaughtUp:
    """True once a member of ``group`` holds partitions (so even one with nothing to do
    has read its committed offsets) and the group has committed, on every partition of
    ``topics``, the offset after the last record committed there when this was made:
    the moment a consumer that exits when idle would start waiting."""

    def __init__(self, settings: Settings, group: str, topics: list[str]) -> None:
        servers = settings.kafka_bootstrap_servers
        self.group = group
        self.ends: dict[tuple[str, int], int] = {}
        for topic in topics:
            for message in read_committed(servers, topic):
                where = (topic, message.partition() or 0)
                self.ends[where] = max(self.ends.get(where, 0), (message.offset() or 0) + 1)
        self.admin = AdminClient({"bootstrap.servers": servers})
        self.reader = Consumer({"bootstrap.servers": servers, "group.id": group})

    def __call__(self) -> bool:
        """False too while Kafka cannot say (a coordinator still loading, say)."""
        try:
            return self._joined() and self._committed_to_the_end()
        except KafkaException:
            return False

    def close(self) -> None:
        self.reader.close()

    def where(self) -> str:
        """The group's members and committed offsets beside the ends, for a failure."""
        try:
            asked = [TopicPartition(topic, partition) for topic, partition in self.ends]
            committed = {
                (tp.topic, tp.partition): tp.offset
                for tp in self.reader.committed(asked, timeout=10)
            }
            described = self.admin.describe_consumer_groups([self.group])[self.group].result(10)
        except (KafkaException, TimeoutError) as error:
            return f"Kafka could not say: {error}"
        members = [str(m.assignment.topic_partitions) for m in described.members]
        return f"members {members}, committed {committed}, ends {self.ends}"

    def _joined(self) -> bool:
        described = self.admin.describe_consumer_groups([self.group])[self.group].result(10)
        return any(member.assignment.topic_partitions for member in described.members)

    def _committed_to_the_end(self) -> bool:
        asked = [TopicPartition(topic, partition) for topic, partition in self.ends]
        committed = self.reader.committed(asked, timeout=10) if asked else []
        return all(tp.offset >= self.ends[(tp.topic, tp.partition)] for tp in committed)


def _run_until(
    caught_up: CaughtUp, stop: StopFlag, run: Callable[[], Ran], timeout: float = 240
) -> Ran:
    """``run()``, with ``stop`` requested by a watcher thread once ``caught_up()``; a run
    that has not caught up within ``timeout`` is stopped too, and fails saying where it is."""
    done = threading.Event()
    behind: list[str] = []

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not done.wait(0.2):
            if caught_up():
                break
            if time.monotonic() > deadline:
                behind.append(caught_up.where())
                break
        stop.request()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        ran = run()
    finally:
        done.set()
        watcher.join()
        caught_up.close()
    assert not behind, f"not caught up within {timeout} s: {behind[0]}"
    return ran


def stop_once_caught_up(
    members: list[subprocess.Popen[bytes]], logs: list[Path], settings: Settings, kind: str
) -> None:
    """Wait until the ``kind`` consumers have caught up (``CaughtUp``), then SIGTERM each
    member: each must exit 0."""
    caught_up = CaughtUp(settings, *_group_and_topics(settings, kind))
    try:
        wait_until(caught_up, f"the {kind} consumers catching up", timeout=240)
    except AssertionError as late:
        raise AssertionError(f"{late}: {caught_up.where()}") from None
    finally:
        caught_up.close()
    for member in members:
        member.send_signal(signal.SIGTERM)
    for member, log in zip(members, logs, strict=True):
        assert member.wait(60) == 0, log.read_text()[-3000:]


def _group_and_topics(settings: Settings, kind: str) -> tuple[str, list[str]]:
    if kind == "cases":
        return settings.cases_consumer_group, [settings.fraud_topic, settings.confirmation_topic]
    chosen = factory.handler(settings, kind)
    return chosen.group, [chosen.topic]


def case_rows(settings: Settings) -> dict[str, dict[str, Any]]:
    """The case table, by transaction id."""
    engine = case_table.cases_engine(settings.cases_database_url.get_secret_value())
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(case_table.fraud_cases)).mappings().all()
    finally:
        engine.dispose()
    return {row["transaction_id"]: dict(row) for row in rows}


# Every consumer process a test started: the ones still running when it ends are killed
# (conftest's ``no_consumer_left_running``), so that a failed test leaves none behind.
STARTED: list[subprocess.Popen[bytes]] = []


def start_consumer(
    settings: Settings, kind: str, *args: str, log: Path | None = None, **overrides: object
) -> subprocess.Popen[bytes]:
    started = subprocess.Popen(
        [sys.executable, "-m", "fraudstream", "consume", kind, *args],
        cwd=REPO_ROOT,
        env=environment(settings, **overrides),
        stderr=log.open("wb") if log else subprocess.DEVNULL,
    )
    STARTED.append(started)
    return started


def kill_leftover_consumers() -> None:
    """Stop every consumer process a test started that still runs: SIGTERM (a parent of
    ``--processes`` members passes it on to them), then SIGKILL after 30 s."""
    while STARTED:
        started = STARTED.pop()
        if started.poll() is None:
            started.terminate()
            try:
                started.wait(30)
            except subprocess.TimeoutExpired:
                started.kill()
                started.wait(30)


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
