"""What the run report shows, gathered from the lake, Kafka and the case table.

Everything is counted here, once; ``reporting.page`` only draws and prints it,
so the figures on the page are the lake's own counts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from google.cloud import storage

from fraudstream import kafka
from fraudstream.runtime.metrics import LIVE_WINDOW_SECONDS
from fraudstream.settings.config import Settings
from fraudstream.storage import lake
from fraudstream.storage.case_reports import AnsweredPrecision
from fraudstream.topology import ANSWERS_FOLDER, LakeFolder, topology

KAFKA_TIMEOUT = 10
REPORT_GROUP = "fraudstream-report"  # reads offsets only: it never joins or commits


@dataclass(frozen=True)
class TopicView:
    name: str
    partitions: int
    replicas: int
    records: int  # end offset - start offset, over the partitions (markers included)


@dataclass(frozen=True)
class GroupView:
    group: str
    state: str
    members: int
    lag: dict[tuple[str, int], int]  # (topic, partition) -> high watermark - committed

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())


@dataclass
class Facts:
    lake: str
    rows_by_step: Counter[int] = field(default_factory=Counter)
    fraud_by_step: Counter[int] = field(default_factory=Counter)
    amounts_by_type: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    emails: Counter[str] = field(default_factory=Counter)  # by status
    unreadable: int = 0  # lake lines that are not JSON objects: skipped, counted
    answers: list[tuple[datetime, str]] = field(default_factory=list)  # (answered_at, status)
    # A live run's emails: (sent at, seconds from the payment, whether a fraud confirmation)
    email_latency: list[tuple[datetime, float, bool]] = field(default_factory=list)
    detectors: list[AnsweredPrecision] = field(default_factory=list)
    dead_letters: Counter[tuple[str, str]] = field(default_factory=Counter)  # (group, error)
    topics: list[TopicView] = field(default_factory=list)
    groups: list[GroupView] = field(default_factory=list)
    kafka_error: str | None = None

    @property
    def rows(self) -> int:
        return sum(self.rows_by_step.values())

    @property
    def fraud(self) -> int:
        return sum(self.fraud_by_step.values())


def gather(settings: Settings) -> Facts:
    """Read the lake, the dead-letter topic and Kafka's groups into ``Facts``."""
    bucket = lake.lake_bucket(settings.gcp_project, topology(settings).lake_bucket)
    lake.require_bucket(bucket, patience=10)  # a lake that does not answer, said at once
    facts = Facts(lake=f"gs://{bucket.name}/")
    flagged: dict[str, str] = {}  # transaction id -> detector, of the fraud records
    made: dict[str, tuple[str, bool]] = {}  # transaction id -> event_time, fraud
    for folder in (LakeFolder.TRANSACTIONS, LakeFolder.FRAUD_CASES):
        fraud = folder is LakeFolder.FRAUD_CASES
        for record in _records(bucket, folder, facts):
            _count_transaction(facts, record, fraud)
            made[str(record.get("transaction_id"))] = (str(record.get("event_time")), fraud)
            if fraud:
                flagged[record["transaction_id"]] = str(record.get("detector", "unknown"))
    log = _records(bucket, LakeFolder.EMAIL_LOG, facts)
    facts.emails.update(str(entry.get("status")) for entry in log)
    facts.email_latency = _email_latency(log, made)
    answers = _answers(bucket)
    facts.answers = sorted(
        (datetime.fromisoformat(a["answered_at"]), a["status"]) for a in answers.values()
    )
    facts.detectors = _by_detector(flagged, answers)
    try:
        facts.dead_letters = _dead_letters(settings)
        facts.topics, facts.groups = kafka_view(settings)
    except KafkaException as error:
        facts.kafka_error = f"Kafka did not answer: {error}"
    return facts


def _records(bucket: storage.Bucket, folder: LakeFolder, facts: Facts) -> list[dict[str, Any]]:
    """Every record of the batches in ``folder`` (the answers are not batches); a line
    that is not a JSON object is counted in ``facts.unreadable`` and skipped."""
    records = []
    for name in lake.list_names(bucket, f"{folder}/"):
        stored = lake.read_object(bucket, name) if name.endswith(".jsonl") else None
        for line in stored.data.splitlines() if stored is not None else []:
            record = _json_object(line)
            if record is None:
                facts.unreadable += 1
            else:
                records.append(record)
    return records


def _json_object(line: bytes) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _count_transaction(facts: Facts, record: dict[str, Any], fraud: bool) -> None:
    if not isinstance(record.get("step"), int) or not isinstance(record.get("amount"), float | int):
        facts.unreadable += 1  # not a transaction record
        return
    step = record["step"]
    facts.rows_by_step[step] += 1
    if fraud:
        facts.fraud_by_step[step] += 1
    facts.amounts_by_type[str(record["type"])].append(float(record["amount"]))


def _email_latency(
    log: list[dict[str, Any]], made: dict[str, tuple[str, bool]]
) -> list[tuple[datetime, float, bool]]:
    """Each email sent for a live payment: when, and how long after the payment. Payments
    of replayed history (over an hour before their email) are left out."""
    latency = []
    for entry in log:
        if entry.get("status") != "sent" or entry.get("transaction_id") not in made:
            continue
        event_time, fraud = made[entry["transaction_id"]]
        try:
            sent = datetime.fromisoformat(str(entry["finished_at"]))
            seconds = (sent - datetime.fromisoformat(event_time)).total_seconds()
        except (KeyError, ValueError, TypeError):
            continue  # not a time: an older or foreign entry
        if 0 <= seconds <= LIVE_WINDOW_SECONDS:
            latency.append((sent, seconds, fraud))
    return sorted(latency)


def _answers(bucket: storage.Bucket) -> dict[str, dict[str, Any]]:
    """The customers' answers on record, by transaction id."""
    answers = {}
    for name in lake.list_names(bucket, f"{ANSWERS_FOLDER}/"):
        stored = lake.read_object(bucket, name)
        if stored is None or not name.endswith(".json") or "refused" in stored.metadata:
            continue
        try:
            answer = orjson.loads(stored.data)
            answers[str(answer["transaction_id"])] = answer
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue  # not an answer (the confirmation service refuses it too)
    return answers


def _by_detector(
    flagged: dict[str, str], answers: dict[str, dict[str, Any]]
) -> list[AnsweredPrecision]:
    """Each detector's flagged transactions, and how their customers answered."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for transaction_id, detector in flagged.items():
        counts[detector]["flagged"] += 1
        answer = answers.get(transaction_id)
        if answer is not None:
            counts[detector][answer["status"]] += 1
    return [
        AnsweredPrecision(name, c["flagged"], c["confirmed_fraud"], c["not_fraud"])
        for name, c in sorted(counts.items())
    ]


def _dead_letters(settings: Settings) -> Counter[tuple[str, str]]:
    """The dead-letter topic, read to its end: letters by the group that wrote them and why."""
    topic = settings.dead_letter_topic
    letters: Counter[tuple[str, str]] = Counter()
    reader = Consumer(
        {
            **kafka.consumer_config(settings.kafka_connection, REPORT_GROUP),
            "enable.partition.eof": True,
        }
    )
    try:
        pending = set(_partitions(reader, topic))
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        while pending:
            batch = reader.consume(1000, KAFKA_TIMEOUT)
            if not batch:
                raise KafkaException(f"{topic}: no end of partition within {KAFKA_TIMEOUT} s")
            for message in batch:
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition() or 0)
                elif error is None:
                    pairs: list[tuple[str, bytes | None]] = list(message.headers() or [])  # type: ignore[arg-type]
                    headers = {k: (v or b"").decode(errors="replace") for k, v in pairs}
                    letters[(headers.get("group", "?"), _kind(headers.get("error", "?")))] += 1
    finally:
        reader.close()
    return letters


def _kind(error: str) -> str:
    """The error's class, or its first words: what many letters have in common."""
    head = error.split(":", 1)[0].strip()
    return head if len(head) <= 60 else head[:57] + "..."


def _partitions(client: Consumer, topic: str) -> list[int]:
    found = client.list_topics(topic, timeout=KAFKA_TIMEOUT).topics.get(topic)
    if found is None or found.error is not None:
        return []
    return sorted(found.partitions)


def kafka_view(settings: Settings) -> tuple[list[TopicView], list[GroupView]]:
    """The pipeline's topics and consumer groups, with each group's lag by partition."""
    admin = AdminClient(kafka.client_config(settings.kafka_connection))
    reader = Consumer(kafka.consumer_config(settings.kafka_connection, REPORT_GROUP))
    try:
        watermarks: dict[tuple[str, int], tuple[int, int]] = {}
        topics = []
        for topic in topology(settings).topics:
            metadata = admin.list_topics(topic.name, timeout=KAFKA_TIMEOUT).topics.get(topic.name)
            if metadata is None or metadata.error is not None:
                continue
            for p in metadata.partitions:
                watermarks[(topic.name, p)] = reader.get_watermark_offsets(
                    TopicPartition(topic.name, p), KAFKA_TIMEOUT
                )
            records = sum(
                high - low for (name, _), (low, high) in watermarks.items() if name == topic.name
            )
            replicas = max((len(p.replicas) for p in metadata.partitions.values()), default=0)
            topics.append(TopicView(topic.name, len(metadata.partitions), replicas, records))
        groups = [_group_view(admin, group, watermarks) for group in consumer_groups(settings)]
    finally:
        reader.close()
    return topics, groups


def consumer_groups(settings: Settings) -> list[str]:
    """The pipeline's consumer groups."""
    return [
        settings.non_fraud_consumer_group,
        settings.fraud_consumer_group,
        settings.cases_consumer_group,
    ]


def _group_view(
    admin: AdminClient, group: str, watermarks: dict[tuple[str, int], tuple[int, int]]
) -> GroupView:
    described = admin.describe_consumer_groups([group])[group].result(timeout=KAFKA_TIMEOUT)
    state = str(described.state).rsplit(".", 1)[-1].lower()
    request = [ConsumerGroupTopicPartitions(group)]
    offsets = admin.list_consumer_group_offsets(request)[group].result(timeout=KAFKA_TIMEOUT)
    lag = {}
    for tp in offsets.topic_partitions or []:
        ends = watermarks.get((tp.topic, tp.partition))
        if ends is not None and tp.offset >= 0:
            lag[(tp.topic, tp.partition)] = max(ends[1] - max(tp.offset, ends[0]), 0)
    return GroupView(group, state, len(described.members), lag)
