"""The consumers under faults, against the real stack: crashes, outages, bad input, signals.

Each test checks the lake at the end: every record of the topic once, none
twice. Consumers run as processes where a test kills, signals or redirects
them, and in this process otherwise.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client import REGISTRY

from fraudstream.consumers.email_sending import JOBS_AHEAD_PER_CONNECTION
from fraudstream.consumers.notes import EMAILED_THROUGH, CommitNotes
from fraudstream.consumers.slicing import SLICE_MAX_EMAILS
from fraudstream.devstack import stack as devstack
from fraudstream.paysim.generator import write_csv
from fraudstream.settings.config import Settings
from fraudstream.storage.batches import BatchKey, to_ndjson
from fraudstream.storage.lake import storage_client
from fraudstream.topology import LakeFolder
from fraudstream.wiring.provision import provision
from tests.integration.conftest import Stack
from tests.integration.kafka_reading import read_committed, transaction_id
from tests.integration.pipeline import (
    consume,
    json_lines,
    lake_objects,
    lake_records,
    mails_to,
    produce,
    start_consumer,
    stop_once_caught_up,
    wait_until,
)
from tests.outage import relay

pytestmark = pytest.mark.faults

BATCH = 250


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("generated") / "paysim-12k.csv"
    write_csv(path, rows=12_000, seed=21)
    return path


@pytest.fixture
def quick(settings: Settings) -> Settings:
    """Small batches, and short waits between retries."""
    return settings.model_copy(
        update={"batch_max_records": BATCH, "batch_max_seconds": 1.0, "retry_max_seconds": 1.0}
    )


def _topic_ids(settings: Settings) -> list[str]:
    return [
        transaction_id(m)
        for m in read_committed(settings.kafka_bootstrap_servers, settings.non_fraud_topic)
    ]


def _assert_lake_holds_each_once(
    settings: Settings, expected: list[str]
) -> list[dict[str, object]]:
    records = lake_records(settings, "transaction")
    ids = [str(record["transaction_id"]) for record in records]
    assert len(ids) == len(set(ids)), "a record is in the lake twice"
    assert sorted(ids) == sorted(expected), "the lake misses records, or holds others"
    logged = [
        str(entry["transaction_id"]) for entry in lake_records(settings, LakeFolder.EMAIL_LOG)
    ]
    assert sorted(logged) == sorted(expected), "the email log is not one entry per transaction"
    return records


def _committed(settings: Settings) -> dict[int, int]:
    reader = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": settings.non_fraud_consumer_group,
        }
    )
    try:
        partitions = [
            TopicPartition(settings.non_fraud_topic, p) for p in range(settings.topic_partitions)
        ]
        return {tp.partition: tp.offset for tp in reader.committed(partitions, timeout=10)}
    finally:
        reader.close()


def _headers(message: Message) -> dict[str, str]:
    pairs: list[tuple[str, bytes]] = list(message.headers() or [])  # type: ignore[arg-type]
    return {name: value.decode() for name, value in pairs}


def _events(log: Path, event: str) -> list[dict[str, object]]:
    return [line for line in json_lines(log) if line.get("event") == event]


def _finish(consumer: subprocess.Popen[bytes], log: Path, timeout: float = 240) -> None:
    returncode = consumer.wait(timeout)
    assert returncode == 0, log.read_text()[-3000:]


def test_a_killed_consumer_restarts_without_gap_or_duplicate(
    quick: Settings, stack: Stack, generated: Path, tmp_path: Path
) -> None:
    produce(quick, generated)
    expected = _topic_ids(quick)
    first = start_consumer(quick, "non-fraud", log=tmp_path / "first.log")
    wait_until(lambda: len(lake_objects(quick, "transaction")) >= 4, "the first batches")
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    assert len(lake_records(quick, "transaction")) < len(expected), "killed too late"

    second = start_consumer(quick, "non-fraud", log=tmp_path / "second.log")
    stop_once_caught_up([second], [tmp_path / "second.log"], quick, "non-fraud")

    records = _assert_lake_holds_each_once(quick, expected)
    mails = mails_to(stack.mail_api_url, quick.customer_email_domain)
    assert Counter(str(r["customer_email"]) for r in records) <= Counter(
        m["to"][0]["address"] for m in mails
    ), "a customer got no email"
    # At least once: only a batch in flight per partition at the kill can be sent twice.
    assert len(mails) - len(records) <= quick.topic_partitions * BATCH


def test_sigterm_finishes_the_buffered_batch_commits_and_exits(
    settings: Settings, stack: Stack, paysim_sample: Path, tmp_path: Path
) -> None:
    produce(settings, paysim_sample)
    expected = _topic_ids(settings)
    log = tmp_path / "consumer.log"
    # No batch is due by itself: only the signal can finish them.
    consumer = start_consumer(
        settings, "non-fraud", log=log, batch_max_records=100_000, batch_max_seconds=600
    )
    wait_until(lambda: len(_events(log, "partition assigned")) == 3, "the assignment")
    time.sleep(5)  # time to fetch the 2,688 records
    assert lake_objects(settings, "transaction") == []
    consumer.send_signal(signal.SIGTERM)
    _finish(consumer, log, timeout=60)

    _assert_lake_holds_each_once(settings, expected)
    ends = Counter(
        int(m.partition() or 0)
        for m in read_committed(settings.kafka_bootstrap_servers, settings.non_fraud_topic)
    )
    assert _committed(settings) == {p: ends[p] for p in range(3)}


@pytest.mark.parametrize("service", ["smtp", "gcs"])
def test_an_outage_holds_the_batch_and_loses_nothing(
    quick: Settings, stack: Stack, paysim_sample: Path, tmp_path: Path, service: str
) -> None:
    produce(quick, paysim_sample)
    expected = _topic_ids(quick)
    log = tmp_path / "consumer.log"
    gcs = urlsplit(stack.storage_emulator_host)
    target = (stack.smtp_host, stack.smtp_port) if service == "smtp" else (gcs.hostname, gcs.port)
    with relay(str(target[0]), int(target[1] or 80)) as outage:
        redirect = (
            {"smtp_port": outage.port}
            if service == "smtp"
            else {"storage_emulator_host": f"http://127.0.0.1:{outage.port}"}
        )
        consumer = start_consumer(quick, "non-fraud", log=log, **redirect)
        wait_until(lambda: len(lake_objects(quick, "transaction")) >= 1, "the first batch")
        outage.cut()
        wait_until(lambda: len(_events(log, "retrying")) >= 3, "the consumer meeting the outage")
        held = _committed(quick)
        time.sleep(3)
        assert _committed(quick) == held, "offsets moved on while the batch was held"
        assert consumer.poll() is None
        outage.restore()
        stop_once_caught_up([consumer], [log], quick, "non-fraud")

    records = _assert_lake_holds_each_once(quick, expected)
    sent = Counter(
        m["to"][0]["address"] for m in mails_to(stack.mail_api_url, quick.customer_email_domain)
    )
    wanted = Counter(str(r["customer_email"]) for r in records)
    if service == "gcs":  # the mail server never went away: nothing was sent twice
        assert sent == wanted
    else:
        # A message the server took just as its connection was cut looks unsent to
        # us and goes again: at most the one in flight on each connection.
        assert wanted <= sent, "a customer got no email"
        assert sent.total() - wanted.total() <= quick.smtp_connections


def test_undecodable_messages_go_to_the_dead_letter_topic_and_the_rest_goes_on(
    settings: Settings, stack: Stack, paysim_sample: Path
) -> None:
    produce(settings, paysim_sample)
    expected = _topic_ids(settings)
    schema_id = read_committed(settings.kafka_bootstrap_servers, settings.non_fraud_topic)[0]
    known_header = (schema_id.value() or b"")[:5]
    bad = {
        b"plain text, not Avro": "magic byte",
        b"\x00\x7f\xff\xff\xf0" + b"\x20" + b"x" * 16: "schema",
        known_header + b"\x20" + b"y" * 16 + b"\xff": "corrupt avro",
    }
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for value in bad:
        producer.produce(settings.non_fraud_topic, value, partition=1)
    assert producer.flush(30) == 0

    totals = consume(settings, "non-fraud")

    assert totals.dead_letters == 3
    _assert_lake_holds_each_once(settings, expected)
    dead = read_committed(settings.kafka_bootstrap_servers, settings.dead_letter_topic)
    assert sorted(m.value() or b"" for m in dead) == sorted(bad)
    for message in dead:
        headers = _headers(message)
        assert bad[message.value() or b""].lower() in headers["error"].lower()
        assert headers["source.topic"] == settings.non_fraud_topic
        assert headers["source.partition"] == "1"
        assert headers["consumer.group"] == settings.non_fraud_consumer_group
        assert int(headers["source.offset"]) >= 0


def test_two_members_of_a_group_share_the_partitions_and_each_record_lands_once(
    quick: Settings, stack: Stack, generated: Path, tmp_path: Path
) -> None:
    produce(quick, generated)
    expected = _topic_ids(quick)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    members = [start_consumer(quick, "non-fraud", log=log) for log in logs]
    stop_once_caught_up(members, logs, quick, "non-fraud")

    _assert_lake_holds_each_once(quick, expected)
    written_by = [{e["partition"] for e in _events(log, "batch written")} for log in logs]
    assert all(written_by), "one member wrote nothing: the group did not scale out"


def test_processes_share_the_group_and_a_member_killed_fails_the_parent(
    quick: Settings, stack: Stack, generated: Path, tmp_path: Path
) -> None:
    """`consume --processes 2`: two members in one group; SIGKILL one, and the parent stops
    the other and exits 1; run again, and every record is in the lake once."""
    produce(quick, generated)
    expected = _topic_ids(quick)
    parent = start_consumer(quick, "non-fraud", "--processes", "2", log=tmp_path / "first.log")
    wait_until(lambda: _group_size(quick) == 2, "two members in the group")
    wait_until(lambda: bool(lake_objects(quick, "transaction")), "the first batch")
    children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
    assert len(children) == 2
    os.kill(int(children[0]), signal.SIGKILL)
    assert parent.wait(120) == 1, "a member died and the parent did not say so"
    assert "member failed" in (tmp_path / "first.log").read_text()

    again = start_consumer(quick, "non-fraud", "--processes", "2", log=tmp_path / "second.log")
    stop_once_caught_up([again], [tmp_path / "second.log"], quick, "non-fraud")
    _assert_lake_holds_each_once(quick, expected)


def _group_size(settings: Settings) -> int:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    group = settings.non_fraud_consumer_group
    description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return len(description.members)


def test_a_batch_whose_emails_were_logged_is_redone_without_sending_them_again(
    settings: Settings, stack: Stack, paysim_sample: Path
) -> None:
    """The crash between the email log and the batch: the log is in the lake, the batch not."""
    produce(settings, paysim_sample)
    expected = _topic_ids(settings)
    everything = read_committed(settings.kafka_bootstrap_servers, settings.non_fraud_topic)
    partition_0 = [message for message in everything if message.partition() == 0]
    logged = [transaction_id(m) for m in partition_0[:100]]
    key = BatchKey(settings.non_fraud_topic, 0, 0, (partition_0[99].offset() or 0))
    bucket = storage_client(settings.gcp_project).bucket(settings.lake_bucket)
    entries = [
        {
            "transaction_id": transaction_id(m),
            "status": "sent",
            "attempts": 1,
            **{"topic": m.topic(), "partition": m.partition(), "offset": m.offset()},
        }
        for m in partition_0[:100]
    ]
    bucket.blob(key.object_name(LakeFolder.EMAIL_LOG)).upload_from_string(to_ndjson(entries))

    totals = consume(settings, "non-fraud")

    assert totals.emails_already_sent == 100
    _assert_lake_holds_each_once(settings, expected)
    assert key.object_name(LakeFolder.TRANSACTIONS) in lake_objects(settings, "transaction")
    mailed_ids = {m["text"] for m in mails_to(stack.mail_api_url, settings.customer_email_domain)}
    assert len(mailed_ids) == len(expected) - 100
    assert not any(tid in text for text in mailed_ids for tid in logged)


def test_a_note_forged_with_the_group_s_login_holds_back_no_email(
    settings: Settings, stack: Stack, generated: Path
) -> None:
    """Anyone who may commit for the group can leave a note that everything was emailed;
    without the consumers' seal, the member taking over refuses it and sends every email."""
    produce(settings, generated)
    expected = _topic_ids(settings)
    foreign = CommitNotes(secrets.token_urlsafe(32).encode(), settings.non_fraud_consumer_group)
    forged = {
        0: f"{EMAILED_THROUGH}{2**63 - 1}",  # the finding: no seal at all
        1: foreign.write((settings.non_fraud_topic, 1), 0, 10),  # sealed with another key
    }
    intruder = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": settings.non_fraud_consumer_group,
        }
    )
    topic = settings.non_fraud_topic
    notes = [TopicPartition(topic, p, 0, metadata=note) for p, note in forged.items()]
    intruder.commit(offsets=notes, asynchronous=False)
    intruder.close()
    refused_before = _refused_notes()

    totals = consume(settings, "non-fraud")

    assert totals.emails_already_sent == 0
    assert _refused_notes() == refused_before + len(forged)
    mailed = mails_to(stack.mail_api_url, settings.customer_email_domain)
    assert len(mailed) == len(expected), "a forged note held emails back"
    _assert_lake_holds_each_once(settings, expected)


def _refused_notes() -> float:
    sample = REGISTRY.get_sample_value(
        "fraudstream_consumer_recovery_refused_total", {"kind": "note"}
    )
    return sample or 0.0


def test_a_consumer_killed_mid_batch_resends_at_most_the_slice_in_flight(
    bare_settings: Settings, stack: Stack, tmp_path: Path
) -> None:
    """SIGKILL while the slices of one lake batch go out, nothing of it in the lake yet:
    the restart sends none of the emails the commit's note counts as done, and logs them
    as sent by an earlier owner. Sent twice: at most the slice in flight (and what was on
    the wire), where the whole batch so far would otherwise go again."""
    one_partition = bare_settings.model_copy(
        update={"topic_partitions": 1, "batch_max_records": 10_000, "batch_max_seconds": 15.0}
    )
    provision(one_partition, say=lambda _line: None)
    source = tmp_path / "paysim-11k.csv"
    write_csv(source, rows=11_000, seed=17)
    produce(one_partition, source)
    expected = _topic_ids(one_partition)
    assert len(expected) > 10_000, "the first batch is not a full one"

    first = start_consumer(one_partition, "non-fraud", log=tmp_path / "first.log")
    domain = one_partition.customer_email_domain
    wait_until(lambda: len(mails_to(stack.mail_api_url, domain)) > 3 * SLICE_MAX_EMAILS, "slices")
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    assert not lake_objects(one_partition, "transaction"), "the batch ended before the kill"
    sent_before = len(mails_to(stack.mail_api_url, domain))

    second = start_consumer(one_partition, "non-fraud", log=tmp_path / "second.log")
    stop_once_caught_up([second], [tmp_path / "second.log"], one_partition, "non-fraud")

    _assert_lake_holds_each_once(one_partition, expected)
    mails = mails_to(stack.mail_api_url, domain)
    copies = Counter(mail["text"] for mail in mails)  # the text names the transaction
    assert len(copies) == len(expected), "a customer got no email"
    resent = sum(copies.values()) - len(copies)
    skipped = int(
        str(_events(tmp_path / "second.log", "consumer stopped")[0]["emails_already_sent"])
    )
    print(f"{sent_before} emails before the kill; {skipped} not sent again, {resent} sent again")
    on_the_wire = JOBS_AHEAD_PER_CONNECTION * one_partition.smtp_connections
    assert resent <= SLICE_MAX_EMAILS + on_the_wire, f"{resent} emails sent twice"
    assert skipped >= sent_before - SLICE_MAX_EMAILS - on_the_wire
    log = lake_records(one_partition, LakeFolder.EMAIL_LOG)
    assert len(log) == len(expected), "an email without its entry, or one logged twice"
    assert sum("note" in entry for entry in log) == skipped


def test_losing_one_of_three_brokers_mid_stream_loses_nothing(
    quick: Settings, three_brokers: Stack, generated: Path, tmp_path: Path
) -> None:
    if devstack.running_topology() is None:
        pytest.skip("stopping a broker needs the native stack started by devstack")
    produce(quick, generated)
    expected = _topic_ids(quick)
    log = tmp_path / "consumer.log"
    consumer = start_consumer(quick, "non-fraud", log=log)
    wait_until(lambda: len(lake_objects(quick, "transaction")) >= 2, "the first batches")
    assert devstack.stop_node(3)
    try:
        assert consumer.poll() is None, "the consumer ended before the broker was gone"
        stop_once_caught_up([consumer], [log], quick, "non-fraud")
    finally:
        devstack.start_node(3, log=lambda _message: None)
    _assert_lake_holds_each_once(quick, expected)
