"""Exactly once under network faults: seeded nemesis runs against a cluster whose every
client connection goes through a fault relay (``relayed_kafka``).

NEMESIS_SEEDS (comma-separated) chooses the seeds; a failure names its seed and
the faults it made, and ``NEMESIS_SEEDS=<seed>`` replays it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from fraudstream.detection.detectors import LabelDetector
from fraudstream.kafka import Connection
from fraudstream.kafka.transactions import TransactionalProducer, TransactionFailedError
from fraudstream.paysim.generator import write_csv
from fraudstream.paysim.payments import parse_block
from fraudstream.paysim.records import transaction_ids
from fraudstream.paysim.source import read_chunks, read_header
from fraudstream.producer import service
from fraudstream.producer.checkpoint import Checkpoint
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.runs import RunOptions
from fraudstream.producer.service import ProducerRun
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings
from fraudstream.storage.lake import storage_client
from fraudstream.topology import TRANSACTIONAL_ID_PREFIX, LakeFolder
from fraudstream.wiring import producing
from fraudstream.wiring.provision import provision
from tests.integration.conftest import MailCatcher, RelayedKafka
from tests.integration.kafka_reading import read_committed, transaction_id
from tests.integration.nemesis import AT_THE_CONSUMERS, Nemesis
from tests.integration.pipeline import (
    json_lines,
    lake_objects,
    lake_records,
    mails_to,
    start_consumer,
    stop_once_caught_up,
    wait_until,
)

pytestmark = [pytest.mark.faults, pytest.mark.isolated]

ROWS = 300_000
SPEED = 25  # PaySim steps a second: the run lasts about 30 s, a transaction a step
SEEDS = [int(seed) for seed in os.environ.get("NEMESIS_SEEDS", "1,2,3").split(",")]
REQUEST_TIMEOUT_MS = 6_000  # the producer gives up on a commit after half of it


class QuickToGiveUp(TransactionalProducer):
    """The producer with shorter client timeouts, so that faults of seconds matter."""

    def __init__(self, connection: Connection, transactional_id: str) -> None:
        assert not isinstance(connection, str)
        super().__init__(
            {**connection, "socket.timeout.ms": str(REQUEST_TIMEOUT_MS)}, transactional_id
        )


class RetriesOnTheSameInstance(QuickToGiveUp):
    """The defense taken out, for the record: a commit that fails with a retriable
    error (a timeout, a broken connection) is tried again on the same instance, as the
    client's documentation allows. ``NEMESIS_PRODUCER=retrying`` runs the nemesis with it."""

    def commit(self) -> None:
        for _ in range(5):
            try:
                self._producer.commit_transaction(self.commit_timeout)
                return
            except KafkaException as error:
                if not error.args[0].retriable():
                    self._abort_and_fail("commit failed", error)
        raise TransactionFailedError("commit failed five times")


PRODUCERS = {"defended": QuickToGiveUp, "retrying": RetriesOnTheSameInstance}
PRODUCER = PRODUCERS[os.environ.get("NEMESIS_PRODUCER", "defended")]


@dataclass(frozen=True)
class Rows:
    path: Path
    line_of: dict[str, int]  # the line of each row, by transaction id


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> Rows:
    path = tmp_path_factory.mktemp("nemesis") / "paysim.csv"
    write_csv(path, ROWS, seed=16)
    lines: dict[str, int] = {}
    with path.open("rb") as stream:
        _, header_end = read_header(stream)
        for chunk in read_chunks(stream, header_end, 2):
            block = parse_block(chunk.data, chunk.first_line)
            ids = transaction_ids(block.rows, block.lines).to_pylist()
            lines.update(zip(ids, block.lines.tolist(), strict=True))
    assert len(lines) == ROWS
    return Rows(path, lines)


@pytest.fixture
def relayed_settings(bare_settings: Settings, relayed_kafka: RelayedKafka) -> Iterator[Settings]:
    settings = bare_settings.model_copy(
        update={"kafka_bootstrap_servers": relayed_kafka.bootstrap_servers}
    )
    provision(settings, say=lambda _line: None)
    yield settings
    relayed_kafka.heal()


@pytest.fixture
def producer_under_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """The producer's instances are PRODUCER's: quick to give up, with the defense or not."""
    monkeypatch.setattr(service, "TransactionalProducer", PRODUCER)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.usefixtures("producer_under_test")
def test_every_row_is_committed_once_under_a_seeded_nemesis(
    seed: int,
    relayed_settings: Settings,
    relayed_kafka: RelayedKafka,
    rows: Rows,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run = ProducerRun(
        relayed_settings, LabelDetector(), RunOptions(str(rows.path), speed=SPEED), StopFlag()
    )
    with Nemesis(relayed_kafka.relays, seed, client=TRANSACTIONAL_ID_PREFIX) as nemesis:
        summary = run.run(ProgressLog())
    anomalies = _anomalies(relayed_settings, relayed_kafka, rows.line_of)
    redos = [r for r in caplog.records if r.getMessage() == "going on"]
    landed = sum(bool(getattr(r, "commit_landed", False)) for r in redos)
    print(f"seed {seed}: {len(redos)} failed transactions, {landed} of them had committed")
    assert summary.complete, nemesis.report()
    assert not anomalies, f"{nemesis.report()}\n" + "\n".join(anomalies)


def _anomalies(settings: Settings, kafka: RelayedKafka, line_of: dict[str, int]) -> list[str]:
    """What a read_committed reader sees that exactly-once forbids: a row missing or
    twice, a row no committed checkpoint covers, or a checkpoint that does not follow
    the one before it."""
    servers = kafka.direct_servers
    seen = Counter(
        transaction_id(message)
        for topic in (settings.fraud_topic, settings.non_fraud_topic)
        for message in read_committed(servers, topic)
    )
    anomalies = [
        f"row at line {line_of[id_]} committed {n} times" for id_, n in seen.items() if n > 1
    ]
    anomalies += [f"row at line {line} missing" for id_, line in line_of.items() if id_ not in seen]
    checkpoints = [
        Checkpoint.from_bytes(message.value() or b"")
        for message in read_committed(servers, settings.checkpoint_topic)
    ]
    anomalies += _checkpoint_anomalies(checkpoints)
    return anomalies[:20]


def _checkpoint_anomalies(checkpoints: list[Checkpoint]) -> list[str]:
    """Each committed checkpoint moves past the one before it (the last, which marks
    the file complete, may stay at the same line), and counts every line before its
    own. A transaction torn in two (a part committed by a late EndTxn, the rest
    aborted and redone) shows up here, or as rows missing or twice above."""
    anomalies = []
    for previous, checkpoint in zip([None, *checkpoints], checkpoints, strict=False):
        if previous is not None and (
            checkpoint.next_line < previous.next_line
            or (checkpoint.next_line == previous.next_line and not checkpoint.complete)
        ):
            anomalies.append(
                f"checkpoint at line {checkpoint.next_line} after {previous.next_line}"
            )
        counted = checkpoint.counts.good + checkpoint.counts.rejected
        if counted != checkpoint.next_line - 2:
            anomalies.append(f"checkpoint at line {checkpoint.next_line} counts {counted} lines")
    if not checkpoints or not checkpoints[-1].complete:
        anomalies.append("no complete checkpoint committed")
    return anomalies


# Consumers -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_the_consumers_leave_each_record_once_under_a_seeded_nemesis(
    seed: int,
    relayed_settings: Settings,
    relayed_kafka: RelayedKafka,
    mail_catcher: MailCatcher,
    tmp_path: Path,
) -> None:
    """Two members of a group while a nemesis cuts them from brokers and from their
    coordinator (some cuts outlast the session) and delays every reply of a broker."""
    settings = _small_batches(relayed_settings)
    source = tmp_path / "paysim.csv"
    write_csv(source, rows=20_000, seed=seed)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    members = [start_consumer(settings, "non-fraud", log=log) for log in logs]
    group = settings.non_fraud_consumer_group
    with Nemesis(relayed_kafka.relays, seed, group, AT_THE_CONSUMERS, faults=6) as nemesis:
        run = producing.producer_run(settings, RunOptions(str(source), speed=20), StopFlag())
        assert run.run(ProgressLog()).complete
        nemesis.wait()
    stop_once_caught_up(members, logs, settings, "non-fraud")
    _print_partition_events(logs)
    _assert_each_record_once(settings, relayed_kafka, mail_catcher, nemesis.report())


def test_a_member_cut_from_its_group_coordinator_leaves_each_record_once_in_the_lake(
    relayed_settings: Settings,
    relayed_kafka: RelayedKafka,
    mail_catcher: MailCatcher,
    tmp_path: Path,
) -> None:
    """Member A loses its partitions (its heartbeats cannot reach the coordinator for
    longer than the session timeout) while it can still fetch from other brokers and
    write to the lake; member B takes them over. When A is back, the lake and the
    email log hold each record once, and no customer got an email twice."""
    settings = _small_batches(relayed_settings)
    source = tmp_path / "paysim.csv"
    write_csv(source, rows=20_000, seed=22)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    members = [start_consumer(settings, "non-fraud", log=log) for log in logs]
    cut = threading.Thread(
        target=_cut_from_coordinator, args=(relayed_kafka, settings, members[0].pid, logs[0])
    )
    cut.start()
    try:
        run = producing.producer_run(settings, RunOptions(str(source), speed=20), StopFlag())
        assert run.run(ProgressLog()).complete
    finally:
        cut.join()
        relayed_kafka.heal()
    wait_until(lambda: _rejoined(logs[0]), "member A losing its partitions and rejoining")
    stop_once_caught_up(members, logs, settings, "non-fraud")
    _assert_each_record_once(settings, relayed_kafka, mail_catcher, "member A cut off")


def _rejoined(log: Path) -> bool:
    """The member's log shows its partitions revoked, then a partition assigned again."""
    events = [line["event"] for line in json_lines(log)]
    return (
        "partitions revoked" in events
        and "partition assigned" in events[events.index("partitions revoked") :]
    )


def _small_batches(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"batch_max_records": 250, "batch_max_seconds": 1.0, "retry_max_seconds": 1.0}
    )


def _assert_each_record_once(
    settings: Settings, kafka: RelayedKafka, mail_catcher: MailCatcher, context: str
) -> None:
    """The lake and the email log hold each committed record once; one email each."""
    expected = [
        transaction_id(m) for m in read_committed(kafka.direct_servers, settings.non_fraud_topic)
    ]
    ids = [str(record["transaction_id"]) for record in lake_records(settings, "transaction")]
    twice = "" if len(ids) == len(set(ids)) else _objects_sharing_records(settings)
    assert not twice, f"{context}: a record is in the lake twice, in {twice}"
    assert sorted(ids) == sorted(expected), f"{context}: the lake misses records"
    log_entries = lake_records(settings, LakeFolder.EMAIL_LOG)
    logged = [str(entry["transaction_id"]) for entry in log_entries]
    assert sorted(logged) == sorted(expected), f"{context}: the email log is not one per record"
    mailed = mails_to(mail_catcher.api_url, settings.customer_email_domain)
    assert len(mailed) == len(expected), f"{context}: an email was sent twice, or not at all"


def _objects_sharing_records(settings: Settings) -> str:
    """The lake objects holding a record another object holds too, with the members' log
    lines about their partitions printed (pytest shows them with the failure)."""
    bucket = storage_client(settings.gcp_project).bucket(settings.lake_bucket)
    holders: dict[str, list[str]] = defaultdict(list)
    for name in lake_objects(settings, "transaction"):
        for line in bucket.blob(name).download_as_bytes().splitlines():
            holders[str(json.loads(line)["transaction_id"])].append(name)
    return ", ".join(sorted({n for names in holders.values() if len(names) > 1 for n in names}))


def _print_partition_events(logs: list[Path]) -> None:
    """Each member's takeovers, revocations and batches, for a failure to show."""
    shown = ("partition assigned", "partitions revoked", "batch written")
    for member, log in zip("ab", logs, strict=True):
        for line in json_lines(log):
            if line.get("event") in shown or "moved" in str(line.get("event")):
                keys = ("time", "event", "partition", "partitions", "offset", "first_offset")
                print(member, {key: line[key] for key in keys if key in line})


def _cut_from_coordinator(kafka: RelayedKafka, settings: Settings, pid: int, log: Path) -> None:
    """Once member ``pid`` has written a batch, cut its group connections at the
    coordinator for 16 s, longer than the 10 s session timeout. The coordinator is the
    broker Kafka names for the group (the relays' heartbeat counts would also hold those
    of the module's earlier groups, whose coordinators may be other brokers)."""
    group = settings.non_fraud_consumer_group
    wait_until(
        lambda: any(line.get("event") == "batch written" for line in json_lines(log)),
        "member A's first batch",
    )
    admin = AdminClient({"bootstrap.servers": kafka.direct_servers})
    described = admin.describe_consumer_groups([group])[group].result(timeout=30)
    coordinator = kafka.relays[described.coordinator.id - 1]
    coordinator.partition(f"{group}-{pid}")
    time.sleep(16)
    coordinator.heal()
