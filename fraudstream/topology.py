"""The pipeline's topology, declared once: every topic with its shape and schema, every
bucket, every lake folder.

Provisioning (``fraudstream setup``, the demo) creates what is declared here;
the services only check, at start, that what they use exists; the tests, the
benchmarks and the Terraform tests read the same declaration. Adding a topic
is one entry in ``Topology`` (its name a setting, as the others are, if it
should be configurable); adding a lake folder is one member of ``LakeFolder``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from types import MappingProxyType

from fraudstream.settings.config import Settings


class LakeFolder(StrEnum):
    """The top-level folders of the lake bucket: one batch object per partition and offsets."""

    TRANSACTIONS = "transaction"  # non-fraud transactions, as the customer was notified
    FRAUD_CASES = "fraud_confirmation"  # fraud transactions, pending the customer's answer
    EMAIL_LOG = "email_confirmation"  # one entry per email: sent or rejected


# Customers' answers: one JSON object per transaction, beside the cases they answer.
ANSWERS_FOLDER = f"{LakeFolder.FRAUD_CASES}/answers"

# A compacted topic keeps the last record of each key only.
COMPACTED: Mapping[str, str] = MappingProxyType({"cleanup.policy": "compact"})


@dataclass(frozen=True)
class Topic:
    """A Kafka topic as the pipeline creates it."""

    name: str
    partitions: int
    replication_factor: int
    schema: str | None = None  # the Avro contract in schemas/, registered as <name>-value
    config: Mapping[str, str] = field(default_factory=dict)

    @property
    def min_insync_replicas(self) -> int:
        # With acks=all, a write survives the loss of any one replica.
        return min(2, self.replication_factor)

    @property
    def subject(self) -> str:
        """The registry subject of the topic's values."""
        return f"{self.name}-value"


@dataclass(frozen=True)
class Topology:
    """Everything the pipeline reads from and writes to, named by the settings."""

    fraud: Topic  # transactions the detector flags: the fraud consumer asks the customer
    non_fraud: Topic  # the others: the non-fraud consumer notifies the customer
    rejected: Topic  # rows the producer could not accept, as JSON with line and reason
    checkpoints: Topic  # where each producer run has got to, one record per source
    confirmations: Topic  # customers' answers to "was this you?"
    dead_letters: Topic  # messages a consumer could not read, as they came
    dataset_bucket: str  # the CSVs the producer reads
    lake_bucket: str  # what the consumers write, in the LakeFolder folders

    @property
    def topics(self) -> tuple[Topic, ...]:
        return tuple(
            value
            for value in (getattr(self, f.name) for f in fields(self))
            if isinstance(value, Topic)
        )

    @property
    def buckets(self) -> tuple[str, ...]:
        return (self.dataset_bucket, self.lake_bucket)


def topology(settings: Settings) -> Topology:
    """The topology ``settings`` name."""
    partitions, replicas = settings.topic_partitions, settings.topic_replication_factor

    def topic(name: str, schema: str | None = None) -> Topic:
        return Topic(name, partitions, replicas, schema)

    return Topology(
        fraud=topic(settings.fraud_topic, "transaction"),
        non_fraud=topic(settings.non_fraud_topic, "transaction"),
        rejected=topic(settings.rejected_topic),
        checkpoints=Topic(settings.checkpoint_topic, 1, replicas, config=COMPACTED),
        confirmations=topic(settings.confirmation_topic, "fraud_confirmation"),
        dead_letters=topic(settings.dead_letter_topic),
        dataset_bucket=settings.dataset_bucket,
        lake_bucket=settings.lake_bucket,
    )


# What each service asks of Google Cloud Storage, by bucket ("dataset" or
# "lake"), named by the IAM permission each request needs. A batch rewritten
# when a crashed one is redone, and an answer claimed over an earlier one,
# overwrite an object, which needs delete as well as create. The Terraform
# grants each service account these and no more; tests/integration/
# test_permissions.py checks this against the requests the services make.
LAKE_ACCESS = frozenset(
    {
        "storage.objects.create",
        "storage.objects.delete",
        "storage.objects.get",
        "storage.objects.list",
    }
)
STORAGE_ACCESS: Mapping[str, Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "producer": {"dataset": frozenset({"storage.objects.get"})},
        "fraud-consumer": {"lake": LAKE_ACCESS},
        "non-fraud-consumer": {"lake": LAKE_ACCESS},
        "confirmation-service": {"lake": LAKE_ACCESS},
    }
)


def lake_prefix(folder: LakeFolder, topic: str) -> str:
    """The common start of the names of every batch one topic leaves in ``folder``."""
    return f"{folder}/topic={topic}/"


def storage_prefixes(settings: Settings) -> Mapping[str, tuple[str, ...]]:
    """The lake folders each service may reach, and no other: its IAM grant holds only
    there (a condition in infrastructure/iam.tf), so every object it names and every
    listing it asks for starts with one of them. A consumer writes its own topic's
    batches and email log; the confirmation service, which faces the internet, the
    answers it records. A stolen login of one can neither read nor plant another's."""
    declared = topology(settings)
    fraud, non_fraud = declared.fraud.name, declared.non_fraud.name
    return MappingProxyType(
        {
            "fraud-consumer": (
                lake_prefix(LakeFolder.FRAUD_CASES, fraud),
                lake_prefix(LakeFolder.EMAIL_LOG, fraud),
            ),
            "non-fraud-consumer": (
                lake_prefix(LakeFolder.TRANSACTIONS, non_fraud),
                lake_prefix(LakeFolder.EMAIL_LOG, non_fraud),
            ),
            "confirmation-service": (f"{ANSWERS_FOLDER}/",),
        }
    )


def consumer_group_topics(settings: Settings) -> Mapping[str, tuple[str, ...]]:
    """Each consumer group of the pipeline and the topics it reads."""
    declared = topology(settings)
    return MappingProxyType(
        {
            settings.non_fraud_consumer_group: (declared.non_fraud.name,),
            settings.fraud_consumer_group: (declared.fraud.name,),
            settings.cases_consumer_group: (declared.fraud.name, declared.confirmations.name),
        }
    )


# Kafka principals --------------------------------------------------------------------

# The producer's transactional ids: this prefix and a digest of the source.
TRANSACTIONAL_ID_PREFIX = "fraudstream-producer-"
# The cloud's schema registry (Confluent's): the topic it keeps schemas in, and the
# prefix of its groups (the leader election's, and its store reader's).
REGISTRY_TOPIC = "_schemas"
REGISTRY_GROUP = "schema-registry"
# The group id the producer's checkpoint reader names; it assigns partitions
# itself and commits nothing, so the group is never joined.
CHECKPOINT_READER_GROUP = "fraudstream-last-value-reader"


@dataclass(frozen=True)
class Grant:
    """What a principal may do to one Kafka resource (a topic, a group, a transactional
    id, or the cluster), by name or, with ``prefixed``, every name that starts so."""

    resource: str
    name: str
    operations: tuple[str, ...]
    prefixed: bool = False


def kafka_principals(settings: Settings) -> Mapping[str, tuple[Grant, ...]]:
    """Each service's principal and its ACLs: its own topics and groups, nothing else.
    Administration (``fraudstream setup``) runs as the cluster's super user."""
    declared = topology(settings)

    def writes(*topics: Topic) -> tuple[Grant, ...]:
        return tuple(Grant("topic", t.name, ("WRITE", "DESCRIBE")) for t in topics)

    def reads(topic: Topic, group: str) -> tuple[Grant, ...]:
        return (Grant("topic", topic.name, ("READ", "DESCRIBE")), Grant("group", group, ("READ",)))

    return MappingProxyType(
        {
            "producer": (
                *writes(declared.fraud, declared.non_fraud, declared.rejected),
                Grant("topic", declared.checkpoints.name, ("WRITE", "READ", "DESCRIBE")),
                Grant("group", CHECKPOINT_READER_GROUP, ("READ",)),
                Grant("transactional_id", TRANSACTIONAL_ID_PREFIX, ("WRITE", "DESCRIBE"), True),
            ),
            "fraud-consumer": (
                *reads(declared.fraud, settings.fraud_consumer_group),
                *writes(declared.dead_letters),
            ),
            "non-fraud-consumer": (
                *reads(declared.non_fraud, settings.non_fraud_consumer_group),
                *writes(declared.dead_letters),
            ),
            "cases-consumer": (
                Grant("topic", declared.fraud.name, ("READ", "DESCRIBE")),
                *reads(declared.confirmations, settings.cases_consumer_group),
                *writes(declared.dead_letters),
            ),
            "confirmation-service": writes(declared.confirmations),
            # The cloud's schema registry keeps its schemas in a compacted topic of its own,
            # which it creates, and elects its leader through a group whose name starts so.
            "schema-registry": (
                Grant(
                    "topic",
                    REGISTRY_TOPIC,
                    ("CREATE", "READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS"),
                ),
                Grant("group", REGISTRY_GROUP, ("READ", "DESCRIBE"), True),
            ),
            # The lag watcher (`fraudstream watch-lag`): each group's committed offsets and
            # its topics' ends, for the autoscaler; it reads no record and changes nothing.
            "lag-watcher": _describes(consumer_group_topics(settings)),
            # Kafka UI: sees topics, groups and lag; reads no record and changes nothing.
            "kafka-ui": (
                Grant("topic", "*", ("DESCRIBE", "DESCRIBE_CONFIGS")),
                Grant("group", "*", ("DESCRIBE",)),
                Grant("cluster", "kafka-cluster", ("DESCRIBE", "DESCRIBE_CONFIGS")),
            ),
        }
    )


def _describes(groups: Mapping[str, tuple[str, ...]]) -> tuple[Grant, ...]:
    topics = sorted({topic for read in groups.values() for topic in read})
    return (
        *(Grant("topic", topic, ("DESCRIBE",)) for topic in topics),
        *(Grant("group", group, ("DESCRIBE",)) for group in groups),
    )
