"""Kafka's answers as the project's errors, and the error codes that decide which."""

from __future__ import annotations

from confluent_kafka import KafkaError

from fraudstream.errors import FraudstreamError, PermanentError, TransientError

# Kafka reports a commit for partitions this member no longer owns with these.
OWNERSHIP_LOST = {
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError._ASSIGNMENT_LOST,
}
# What a broker answers about a topic that was created but has not reached it yet.
NOT_THERE_YET = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.LEADER_NOT_AVAILABLE}
# Message errors the client recovers from by itself.
SELF_HEALING = {KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE}
# The group coordinator moving (its broker stopped): a commit answered so is tried again,
# although librdkafka does not mark every one of these retriable on a synchronous commit.
COORDINATOR_MOVING = {*SELF_HEALING, KafkaError.NOT_COORDINATOR, KafkaError.REQUEST_TIMED_OUT}


class KafkaSetupError(PermanentError):
    """The cluster cannot be reached at start, or refused a topic."""


class KafkaUnavailableError(TransientError):
    """A broker, or the group coordinator, did not answer: try again."""


class DeliveryError(TransientError):
    """Kafka did not acknowledge records: refused them, or not within the time allowed."""


class OwnershipLostError(FraudstreamError):
    """The partition of the batch in hand went to another member: drop the batch."""
