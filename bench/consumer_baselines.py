"""The consumer benchmark's baselines: a bare consume-and-decode loop for the lake, and
the mail server's own accept rate for the emails."""

from __future__ import annotations

import smtplib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from confluent_kafka import Consumer, KafkaError, TopicPartition

from fraudstream.emails.messages import Email
from fraudstream.kafka import consumer_config
from fraudstream.kafka.registry import schema_fetcher
from fraudstream.paysim.avro_codec import RecordDecoder
from fraudstream.settings.config import Settings
from fraudstream.wiring import factory


def consume_and_decode(settings: Settings) -> tuple[float, int]:
    """Records/s of a consumer that reads every record and decodes it, nothing more; and
    how many it read."""
    group = f"bench-ceiling-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        {**consumer_config(settings.kafka_bootstrap_servers, group), "enable.partition.eof": True}
    )
    decoder = RecordDecoder(
        schema_fetcher(
            settings.schema_registry_url, settings.schema_registry_login, settings.tls_ca_file
        )
    )
    partitions = range(settings.topic_partitions)
    consumer.assign([TopicPartition(settings.non_fraud_topic, p, 0) for p in partitions])
    at_end: set[int] = set()
    count, started = 0, None
    while len(at_end) < settings.topic_partitions:
        for message in consumer.consume(1000, 1.0):
            error = message.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                at_end.add(message.partition() or 0)
                continue
            started = started or time.monotonic()
            decoder.decode(message.value())
            count += 1
    elapsed = time.monotonic() - (started or time.monotonic())
    consumer.close()
    return count / elapsed, count


def server_accept_rate(settings: Settings, count: int) -> float:
    """Emails/s the mail server takes over plain connections, the messages rendered first."""
    messages = [_message(settings, number) for number in range(count)]
    wire = [(email.sender, email.recipient, email.data) for email in messages]
    shares = [wire[i :: settings.smtp_connections] for i in range(settings.smtp_connections)]

    def send_share(share: list[tuple[str, str, bytes]]) -> None:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port) as smtp:
            for sender, recipient, data in share:
                smtp.sendmail(sender, [recipient], data)

    started = time.monotonic()
    with ThreadPoolExecutor(settings.smtp_connections) as pool:
        list(pool.map(send_share, shares))
    return count / (time.monotonic() - started)


def _message(settings: Settings, number: int) -> Email:
    """The notification the consumer would send, rendered now, before the clock starts."""
    recipient = f"baseline-{number}@{settings.customer_email_domain}"
    transaction = {
        **_SAMPLE_TRANSACTION,
        "transaction_id": f"{number:016x}",
        "customer_email": recipient,
    }
    return factory.handler(settings, "non-fraud").email(transaction, {}).email


_SAMPLE_TRANSACTION = {
    "transaction_id": "0123456789abcdef",
    "step": 1,
    "event_time": 1_767_225_600_000,
    "type": "PAYMENT",
    "amount": 9839.64,
    "nameOrig": "C1231006815",
    "oldbalanceOrg": 170136.0,
    "newbalanceOrig": 160296.36,
    "nameDest": "M1979787155",
    "oldbalanceDest": 0.0,
    "newbalanceDest": 0.0,
    "isFraud": False,
    "isFlaggedFraud": False,
}
