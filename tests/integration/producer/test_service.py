"""The producer against the real stack: exactly once, in the right topic, with the right values."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from fraudstream.detection.detectors import LabelDetector
from fraudstream.devstack import stack as devstack
from fraudstream.kafka import KafkaUnavailableError
from fraudstream.kafka.transactions import TransactionalProducer, TransactionFailedError
from fraudstream.paysim.format import NotPaySimError
from fraudstream.paysim.generator import write_csv
from fraudstream.paysim.source import WHOLE_FILE, Shard, read_chunks
from fraudstream.producer import service
from fraudstream.producer.checkpoint import Checkpoint, load_checkpoint
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.runs import RunOptions, Summary
from fraudstream.producer.service import ProducerRun
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings
from fraudstream.storage.lake import ensure_bucket, storage_client, upload_file
from tests.conftest import REPO_ROOT
from tests.integration.conftest import Stack
from tests.integration.kafka_reading import decoded_values, read_committed, transaction_id


def _environment(settings: Settings) -> dict[str, str]:
    names = (
        "fraud_topic",
        "non_fraud_topic",
        "rejected_topic",
        "checkpoint_topic",
        "topic_partitions",
        "topic_replication_factor",
        "producer_rows_per_transaction",
    )
    return {**os.environ, **{name.upper(): str(getattr(settings, name)) for name in names}}


def _produce(settings: Settings, source: Path, **options: object) -> Summary:
    options_ = RunOptions(source=str(source), **options)  # type: ignore[arg-type]
    return ProducerRun(settings, LabelDetector(), options_, StopFlag()).run(ProgressLog())


def _transactions(settings: Settings, stack: Stack) -> dict[str, list[dict[str, object]]]:
    return {
        topic: decoded_values(
            stack.schema_registry_url, topic, read_committed(stack.bootstrap_servers, topic)
        )
        for topic in (settings.fraud_topic, settings.non_fraud_topic)
    }


def _all_ids(settings: Settings, stack: Stack) -> list[str]:
    topics = (settings.fraud_topic, settings.non_fraud_topic)
    return [
        transaction_id(message)
        for topic in topics
        for message in read_committed(stack.bootstrap_servers, topic)
    ]


def test_every_sample_row_arrives_once_in_its_topic(
    settings: Settings, stack: Stack, paysim_sample: Path
) -> None:
    summary = _produce(settings, paysim_sample)
    assert summary.complete
    assert (summary.total.good, summary.total.fraud, summary.total.rejected) == (2688, 16, 0)

    by_topic = _transactions(settings, stack)
    assert len(by_topic[settings.fraud_topic]) == 16
    assert len(by_topic[settings.non_fraud_topic]) == 2672
    assert all(r["isFraud"] for r in by_topic[settings.fraud_topic])
    assert not any(r["isFraud"] for r in by_topic[settings.non_fraud_topic])

    received = [r for records in by_topic.values() for r in records]
    assert len({r["transaction_id"] for r in received}) == 2688
    with paysim_sample.open(newline="") as handle:
        expected = list(csv.DictReader(handle))
    as_sent = {(r["step"], r["nameOrig"], r["nameDest"], r["amount"]): r for r in received}
    for row in expected:
        key = (int(row["step"]), row["nameOrig"], row["nameDest"], float(row["amount"]))
        record = as_sent.pop(key)
        assert record["type"] == row["type"]
        for money in ("oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest"):
            assert record[money] == float(row[money])
        assert record["isFlaggedFraud"] == (row["isFlaggedFraud"] == "1")
        assert record["customer_email"] == f"{row['nameOrig']}@{settings.customer_email_domain}"
    assert as_sent == {}


def test_rows_are_keyed_by_customer(settings: Settings, stack: Stack, paysim_sample: Path) -> None:
    _produce(settings, paysim_sample, limit=200)
    messages = read_committed(stack.bootstrap_servers, settings.non_fraud_topic)
    records = decoded_values(stack.schema_registry_url, settings.non_fraud_topic, messages)
    assert [m.key().decode() for m in messages] == [r["nameOrig"] for r in records]  # type: ignore[union-attr]


def test_bad_rows_are_quarantined_and_good_rows_pass(
    settings: Settings, stack: Stack, paysim_sample: Path, tmp_path: Path
) -> None:
    lines = paysim_sample.read_text().splitlines()[:101]  # the header and 100 good rows
    broken = {
        5: "1,PAYMENT,9839.64,C1231006815",
        20: "1,PAYMENT,-3.0,C1,1.0,0.0,M1,0.0,0.0,0,0",
        40: "1,REFUND,3.0,C1,1.0,0.0,M1,0.0,0.0,0,0",
        60: "1,PAYMENT,3.0,C1,1.0,0.0,M1,0.0,0.0,yes,0",
        80: "",
    }
    for line_number in sorted(broken):
        lines.insert(line_number - 1, broken[line_number])
    source = tmp_path / "broken.csv"
    source.write_text("\n".join(lines) + "\n")

    summary = _produce(settings, source)
    assert (summary.total.good, summary.total.rejected) == (100, 5)
    assert len(_all_ids(settings, stack)) == 100

    messages = read_committed(stack.bootstrap_servers, settings.rejected_topic)
    rejected = [json.loads(m.value() or b"null") for m in messages]
    assert sorted(r["line"] for r in rejected) == sorted(broken)
    for entry in rejected:
        assert entry["source"] == str(source.resolve())
        assert entry["text"] == broken[entry["line"]]
        assert entry["reason"]
    reasons = {r["line"]: r["reason"] for r in rejected}
    assert "columns" in reasons[5] and "negative" in reasons[20] and "REFUND" in reasons[40]
    assert reasons[80] == "empty line"


def test_a_file_without_the_header_produces_nothing(
    settings: Settings, stack: Stack, paysim_sample: Path, tmp_path: Path
) -> None:
    source = tmp_path / "headless.csv"
    source.write_text("\n".join(paysim_sample.read_text().splitlines()[1:50]) + "\n")
    with pytest.raises(NotPaySimError):
        _produce(settings, source)
    assert _all_ids(settings, stack) == []


def test_a_second_run_produces_nothing_again(
    settings: Settings, stack: Stack, paysim_sample: Path
) -> None:
    _produce(settings, paysim_sample, limit=1000)
    _produce(settings, paysim_sample)
    again = _produce(settings, paysim_sample)
    assert again.this_run.good == 0
    assert again.total.good == 2688
    ids = _all_ids(settings, stack)
    assert len(ids) == len(set(ids)) == 2688


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("generated") / "paysim-300k.csv"
    write_csv(path, rows=300_000, seed=11)
    return path


def _start_producer(settings: Settings, source: Path, *options: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "fraudstream", "produce", str(source), *options],
        cwd=REPO_ROOT,
        env=_environment(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _checkpoint(settings: Settings, source: Path, shard: Shard = WHOLE_FILE) -> Checkpoint | None:
    name = shard.name(str(source.resolve()))
    return load_checkpoint(settings.kafka_bootstrap_servers, settings.checkpoint_topic, name)


def _wait_for_checkpoint(
    settings: Settings, source: Path, timeout: float = 60, shard: Shard = WHOLE_FILE
) -> int:
    """Until the run has committed its first transaction; return the line it reached."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            saved = _checkpoint(settings, source, shard)
        except KafkaUnavailableError:  # the cluster is busy starting the run
            saved = None
        if saved is not None:
            return saved.next_line
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint within {timeout} s")


@pytest.fixture(scope="module")
def large_generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("generated") / "paysim-1500k.csv"
    write_csv(path, rows=1_500_000, seed=12)
    return path


@pytest.mark.parametrize("paced", [False, True], ids=["full-speed", "paced"])
def test_a_killed_run_resumes_and_produces_each_row_once(
    settings: Settings, stack: Stack, paced: bool, request: pytest.FixtureRequest
) -> None:
    # Full speed: 1.5 M rows in transactions of 50,000 take several seconds.
    # Paced: one transaction a step, and the resume point lies inside a block.
    source: Path = request.getfixturevalue("generated" if paced else "large_generated")
    rows = 300_000 if paced else 1_500_000
    settings = settings.model_copy(update={"producer_rows_per_transaction": 50_000})
    first = _start_producer(settings, source, *(["--speed", "200"] if paced else []))
    _wait_for_checkpoint(settings, source)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    partial = len(_all_ids(settings, stack))
    assert 0 < partial < rows, "the first run was meant to die half-way"

    second = _start_producer(settings, source)
    _, errors = second.communicate(timeout=300)
    assert second.returncode == 0, errors.decode()[-2000:]
    assert b"resuming" in errors

    ids = _all_ids(settings, stack)
    assert len(ids) == rows
    assert len(set(ids)) == rows


def test_three_shards_one_killed_and_restarted_produce_each_row_once(
    settings: Settings, stack: Stack, large_generated: Path
) -> None:
    settings = settings.model_copy(update={"producer_rows_per_transaction": 50_000})
    shards = [Shard(index, 3) for index in range(3)]
    runs = [_start_producer(settings, large_generated, "--shard", f"{s.index}/3") for s in shards]
    killed = shards[1]
    _wait_for_checkpoint(settings, large_generated, shard=killed)
    runs[1].send_signal(signal.SIGKILL)
    runs[1].wait(30)
    for run in (runs[0], runs[2]):
        _, errors = run.communicate(timeout=300)
        assert run.returncode == 0, errors.decode()[-2000:]
    left = _checkpoint(settings, large_generated, killed)
    assert left is not None and not left.complete, "the killed shard was meant to die half-way"

    again = _start_producer(settings, large_generated, "--shard", "1/3")
    _, errors = again.communicate(timeout=300)
    assert again.returncode == 0, errors.decode()[-2000:]
    assert b"resuming" in errors

    ids = _all_ids(settings, stack)
    assert len(ids) == len(set(ids)) == 1_500_000
    done = [_checkpoint(settings, large_generated, shard) for shard in shards]
    assert all(checkpoint and checkpoint.complete for checkpoint in done)
    assert sum(c.counts.good for c in done if c) == 1_500_000, "the shards' counts overlap"


def test_sigterm_stops_cleanly_at_a_checkpoint(
    settings: Settings, stack: Stack, generated: Path
) -> None:
    first = _start_producer(settings, generated, "--speed", "100")  # one transaction a step
    _wait_for_checkpoint(settings, generated)
    first.send_signal(signal.SIGTERM)
    _, errors = first.communicate(timeout=60)
    assert first.returncode == 0, errors.decode()[-2000:]
    assert b"stop requested" in errors
    stopped_at = len(_all_ids(settings, stack))
    assert 0 < stopped_at < 300_000

    assert (
        subprocess.run(
            [sys.executable, "-m", "fraudstream", "produce", str(generated)],
            cwd=REPO_ROOT,
            env=_environment(settings),
            capture_output=True,
            timeout=300,
            check=False,
        ).returncode
        == 0
    )
    ids = _all_ids(settings, stack)
    assert len(ids) == len(set(ids)) == 300_000


def test_losing_one_of_three_brokers_mid_run_loses_nothing(
    settings: Settings, three_brokers: Stack, generated: Path
) -> None:
    if devstack.running_topology() is None:
        pytest.skip("stopping a broker needs the native stack started by devstack")
    producer = _start_producer(settings, generated, "--speed", "40")  # about 19 s
    _wait_for_checkpoint(settings, generated)
    assert devstack.stop_node(3)
    try:
        assert producer.poll() is None, "the run ended before the broker was gone"
        _, errors = producer.communicate(timeout=300)
        assert producer.returncode == 0, errors.decode()[-3000:]
    finally:
        devstack.start_node(3, log=lambda _message: None)
    ids = _all_ids(settings, three_brokers)
    assert len(ids) == len(set(ids)) == 300_000


def test_reads_the_csv_from_a_bucket(settings: Settings, stack: Stack, paysim_sample: Path) -> None:
    bucket = ensure_bucket(
        storage_client(settings.gcp_project), f"it-source-{uuid.uuid4().hex[:8]}"
    )
    address = upload_file(bucket, paysim_sample, "paysim/sample.csv")
    run = ProducerRun(settings, LabelDetector(), RunOptions(address), StopFlag())
    summary = run.run(ProgressLog())
    assert summary.source == address
    assert (summary.total.good, summary.total.fraud) == (2688, 16)
    ids = _all_ids(settings, stack)
    assert len(ids) == len(set(ids)) == 2688


class AbortsSecondCommit(TransactionalProducer):
    """A producer whose second commit fails the way a broker failover makes it fail."""

    commits = 0
    instances = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        type(self).instances += 1
        super().__init__(*args, **kwargs)

    def commit(self) -> None:
        type(self).commits += 1
        if type(self).commits == 2:
            self.abort()
            raise TransactionFailedError("injected: coordinator moved")
        super().commit()


def test_an_aborted_transaction_is_redone_from_the_last_checkpoint(
    settings: Settings, stack: Stack, paysim_sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "TransactionalProducer", AbortsSecondCommit)
    AbortsSecondCommit.commits = AbortsSecondCommit.instances = 0
    settings = settings.model_copy(update={"producer_rows_per_transaction": 500})
    # Small blocks, so that the file makes several transactions.
    monkeypatch.setattr(service, "read_chunks", partial(read_chunks, block_bytes=40_000))
    summary = _produce(settings, paysim_sample)
    assert AbortsSecondCommit.commits > 3  # the second failed, and the run went on
    assert AbortsSecondCommit.instances == 2  # redone by a new producer, which fenced the old
    assert summary.complete
    assert (summary.total.good, summary.total.fraud) == (2688, 16)
    ids = _all_ids(settings, stack)
    assert len(ids) == len(set(ids)) == 2688


def test_an_abort_that_fails_in_the_client_is_a_failed_transaction(
    settings: Settings, stack: Stack
) -> None:
    """An abort just after a commit and a few sends can fail for good in this client
    (INVALID_TXN_STATE, fatal: the EndTxn overtakes the partitions' registration).
    It must come out as TransactionFailedError, so that the run goes on with a new
    instance; and what the failed instance had sent stays invisible."""
    new_producer = partial(
        TransactionalProducer, settings.kafka_connection, f"abort-probe-{uuid.uuid4().hex}"
    )
    producer, failed_aborts, rounds = new_producer(), 0, 150
    for round_ in range(rounds):
        for outcome in ("commit", "abort"):
            producer.begin()
            keys = [b"%s-%d-%d" % (outcome.encode(), round_, i) for i in range(300)]
            producer.send([settings.fraud_topic] * len(keys), keys, [b"v"] * len(keys))
            try:
                producer.commit() if outcome == "commit" else producer.abort()
            except TransactionFailedError:
                assert outcome == "abort"
                failed_aborts += 1
                producer.abandon()
                producer = new_producer()  # fences the failed one, and aborts what it left open
    producer.close()
    messages = read_committed(stack.bootstrap_servers, settings.fraud_topic)
    keys = [message.key() or b"" for message in messages]
    assert len(keys) == len(set(keys)) == rounds * 300
    assert all(key.startswith(b"commit-") for key in keys)
    print(f"aborts that failed in the client: {failed_aborts} of {rounds}")
