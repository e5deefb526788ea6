"""Each service built from the settings: what it needs checked, its clients made once and
passed in. A missing topic, schema or bucket stops it here, before it starts, with
one line that says to run ``fraudstream setup``."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer
from flask import Flask
from sqlalchemy import Engine

from fraudstream import kafka
from fraudstream.consumers.case_consumer import CaseConsumer
from fraudstream.consumers.clients import ConsumerClients
from fraudstream.consumers.confirmation.answers import AnswerBook, AnswerPublisher
from fraudstream.consumers.confirmation.service import create_app
from fraudstream.consumers.email_sending import Mailer
from fraudstream.consumers.handlers import AskCustomer, Handler, NotifyCustomer
from fraudstream.consumers.loop import BatchConsumer
from fraudstream.kafka import registry
from fraudstream.paysim.avro_codec import RecordDecoder
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings, note_key, token_key
from fraudstream.storage import case_table, lake
from fraudstream.topology import lake_prefix, storage_prefixes, topology


def handler(settings: Settings, kind: str) -> Handler:
    """What the ``kind`` consumer does with each record."""
    return NotifyCustomer(settings) if kind == "non-fraud" else AskCustomer(settings)


def batch_consumer(
    settings: Settings, kind: str, stop: StopFlag, send_emails: bool = True
) -> BatchConsumer:
    """The ``kind`` consumer, its topic, dead-letter topic and lake checked."""
    note_key(settings)  # a missing key is said before any server is asked
    chosen = handler(settings, kind)
    connection = settings.kafka_connection
    kafka.require_topics(connection, [chosen.topic, topology(settings).dead_letters.name])
    bucket = lake.lake_bucket(settings.gcp_project, settings.lake_bucket)
    lake.require_bucket(bucket, lake_prefix(chosen.folder, chosen.topic))  # its grant is there
    replies = kafka.CommitReplies()
    clients = ConsumerClients(
        consumer=Consumer(kafka.consumer_config(connection, chosen.group, on_commit=replies)),
        dead_letter_producer=Producer(kafka.producer_config(connection)),
        bucket=bucket,
        mailer=Mailer.from_settings(settings) if send_emails else None,
        decoder=record_decoder(settings, "transaction"),
        commit_replies=replies,
    )
    return BatchConsumer(settings, chosen, clients, stop)


def case_consumer(settings: Settings, stop: StopFlag) -> CaseConsumer:
    """The case consumer, its topics checked and its table at the newest migration."""
    token_key(settings)  # answers are checked with it: a missing key is said at once
    declared = topology(settings)
    connection = settings.kafka_connection
    topics = [declared.fraud.name, declared.confirmations.name, declared.dead_letters.name]
    kafka.require_topics(connection, topics)
    engine = cases_engine(settings)
    case_table.require_current(engine)
    decoders = {
        topic.name: record_decoder(settings, str(topic.schema))
        for topic in (declared.fraud, declared.confirmations)
    }
    return CaseConsumer(
        settings,
        Consumer(kafka.consumer_config(connection, settings.cases_consumer_group)),
        Producer(kafka.producer_config(connection)),
        decoders,
        engine,
        stop,
    )


def record_decoder(settings: Settings, schema: str) -> RecordDecoder:
    """A decoder that reads each record as ``schemas/<schema>.avsc``, whatever wrote it."""
    fetch = registry.schema_fetcher(
        settings.schema_registry_url, settings.schema_registry_login, settings.tls_ca_file
    )
    return RecordDecoder(fetch, registry.load_schema(schema))


def cases_engine(settings: Settings) -> Engine:
    return case_table.cases_engine(settings.cases_database_url.get_secret_value())


def confirmation_app(settings: Settings, book: AnswerBook | None = None) -> Flask:
    """The confirmation service's pages over ``book`` (by default, ``answer_book``)."""
    key = token_key(settings)
    return create_app(book or answer_book(settings), key, settings.brand())


def answer_book(settings: Settings) -> AnswerBook:
    """Where answers are recorded and published, its topic, schema and lake checked."""
    answers = topology(settings).confirmations
    kafka.require_topics(settings.kafka_connection, [answers.name])
    bucket = lake.lake_bucket(settings.gcp_project, settings.lake_bucket)
    lake.require_bucket(bucket, storage_prefixes(settings)["confirmation-service"][0])
    client = registry.registry_client(
        settings.schema_registry_url, settings.schema_registry_login, settings.tls_ca_file
    )
    schema = registry.load_schema(str(answers.schema))
    registry.registered_id(client, answers.subject, schema)
    publisher = AnswerPublisher(
        Producer(kafka.producer_config(settings.kafka_connection)),
        answers.name,
        registry.value_serializer(client, answers.name, schema),
    )
    return AnswerBook(bucket, publisher, token_key(settings))
