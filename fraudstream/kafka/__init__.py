"""Kafka: the adapter that speaks confluent-kafka below and the project's errors above.

``KafkaUnavailableError`` is what a retry may mend, ``KafkaSetupError`` and
``MissingResourceError`` what it will not, ``OwnershipLostError`` a commit of
partitions that went to another member of the group. By concern:

- ``clients``: where the cluster is, who asks, and how producers and consumers behave;
- ``admin``: topics made and checked, principals and their ACLs, reachability;
- ``producing``: records acknowledged outside a transaction;
- ``consuming``: records told from client events, commits, a compacted topic's last value;
- ``transactions``: the transactional producer;
- ``errors``: Kafka's answers as the project's errors.

The names the services use are imported here, so ``kafka.commit`` reads as it is.
"""

from fraudstream.kafka.admin import (
    ensure_principals,
    ensure_topics,
    require_reachable,
    require_topics,
)
from fraudstream.kafka.clients import (
    CommitReplies,
    Connection,
    client_config,
    consumer_config,
    producer_config,
    report_failed_commit,
    servers_of,
)
from fraudstream.kafka.consuming import (
    COMMIT_REPLY_SECONDS,
    assign_fetching,
    commit,
    commit_serving,
    committed,
    end_offsets,
    fetch,
    is_record,
    read_last_value,
)
from fraudstream.kafka.errors import (
    DeliveryError,
    KafkaSetupError,
    KafkaUnavailableError,
    OwnershipLostError,
)
from fraudstream.kafka.producing import produce_and_wait

__all__ = [
    "COMMIT_REPLY_SECONDS",
    "CommitReplies",
    "Connection",
    "DeliveryError",
    "KafkaSetupError",
    "KafkaUnavailableError",
    "OwnershipLostError",
    "assign_fetching",
    "client_config",
    "commit",
    "commit_serving",
    "committed",
    "consumer_config",
    "end_offsets",
    "ensure_principals",
    "ensure_topics",
    "fetch",
    "is_record",
    "produce_and_wait",
    "producer_config",
    "read_last_value",
    "report_failed_commit",
    "require_reachable",
    "require_topics",
    "servers_of",
]
