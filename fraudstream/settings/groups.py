"""The settings, by concern: one class a group of variables and their checks, which
``fraudstream.settings.config.Settings`` puts together. Every variable keeps its name."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from fraudstream.emails.addresses import check_domain, check_sender
from fraudstream.emails.branding import Brand
from fraudstream.settings.keys import check_random_key
from fraudstream.settings.types import (
    LATEST_START_YEAR,
    MAX_TOKEN_TTL_HOURS,
    BucketName,
    Colour,
    Currency,
    HttpUrl,
    LocaleName,
    LogoUrl,
    OneLine,
    OptionalAddress,
    Port,
    PositiveInt,
    TopicName,
)


class KafkaSettings(BaseSettings):
    """Kafka, the schema registry and the topics."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # A SASL/SCRAM-SHA-512 principal: each service has its own, and ACLs let it
    # touch only its topics and groups. Unset: the cluster takes clients unauthenticated.
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    # The certificate (PEM) of the authority that signed the brokers': set, the clients
    # speak TLS to Kafka and check each broker's certificate and name against it.
    tls_ca_file: Path | None = None
    # `setup` only: NAME=password lines, one per service principal, whose SCRAM
    # credentials and ACLs it makes (as an administrator: KAFKA_USERNAME=admin).
    kafka_principals_file: Path | None = None
    schema_registry_url: HttpUrl = "http://127.0.0.1:8081/apis/ccompat/v7"
    # USER:PASSWORD, sent as HTTP basic authentication; unset: the registry is asked
    # without a login (the local stack's, on loopback).
    schema_registry_login: SecretStr | None = None
    fraud_topic: TopicName = "fraud_transaction"
    non_fraud_topic: TopicName = "non_fraud_transaction"
    rejected_topic: TopicName = "rejected_transaction"
    checkpoint_topic: TopicName = "producer_checkpoints"
    confirmation_topic: TopicName = "fraud_confirmation"
    dead_letter_topic: TopicName = "dead_letter"
    topic_partitions: PositiveInt = 6
    topic_replication_factor: PositiveInt = 3

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @field_validator("schema_registry_login")
    @classmethod
    def _check_login(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ":" not in value.get_secret_value():
            raise ValueError("write it as USER:PASSWORD")
        return value

    @model_validator(mode="after")
    def _check_kafka_login(self) -> Self:
        if (self.kafka_username is None) != (self.kafka_password is None):
            raise ValueError("set KAFKA_USERNAME and KAFKA_PASSWORD together, or neither")
        return self

    @field_validator("tls_ca_file")
    @classmethod
    def _check_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @property
    def kafka_connection(self) -> dict[str, str]:
        """The librdkafka settings that reach the cluster as this process's principal."""
        connection = {"bootstrap.servers": self.kafka_bootstrap_servers}
        tls = self.tls_ca_file is not None
        if self.kafka_username is not None and self.kafka_password is not None:
            connection |= {
                "security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": self.kafka_username,
                "sasl.password": self.kafka_password.get_secret_value(),
            }
        elif tls:
            connection["security.protocol"] = "SSL"
        if self.tls_ca_file is not None:
            # librdkafka checks the broker's name against its certificate by default.
            connection["ssl.ca.location"] = str(self.tls_ca_file)
        return connection


class StorageSettings(BaseSettings):
    """Google Cloud Storage (STORAGE_EMULATOR_HOST is read by the client library)."""

    gcp_project: str = "fraudstream-local"
    dataset_bucket: BucketName = "fraudstream-dataset"
    lake_bucket: BucketName = "fraudstream-lake"


class MailSettings(BaseSettings):
    """Outgoing mail: the SMTP server, the sender, the customers' addresses."""

    smtp_host: str = "127.0.0.1"
    smtp_port: Port = 1025
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # A password goes over the wire only inside STARTTLS, unless this says the
    # server is a local test server that takes logins in the clear.
    smtp_allow_plaintext_login: bool = False
    mail_from: str = "alerts@fraudstream.example"
    # Where a customer's reply goes. Set, the emails invite a reply and carry Reply-To;
    # unset, they point to SUPPORT_CONTACT only.
    mail_reply_to: OptionalAddress = None
    customer_email_domain: str = "customers.fraudstream.example"

    @field_validator("mail_from")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        return check_sender(value)

    @field_validator("customer_email_domain")
    @classmethod
    def _check_customer_domain(cls, value: str) -> str:
        return check_domain(value)

    @model_validator(mode="after")
    def _check_login_is_encrypted(self) -> Self:
        if self.smtp_password is not None and not (
            self.smtp_starttls or self.smtp_allow_plaintext_login
        ):
            raise ValueError(
                "SMTP_PASSWORD is set but SMTP_STARTTLS is not: the password would travel "
                "unencrypted; set SMTP_STARTTLS=true, or SMTP_ALLOW_PLAINTEXT_LOGIN=true "
                "for a local test server"
            )
        return self


class BrandSettings(BaseSettings):
    """The brand every email and confirmation page wears (fraudstream/emails/branding.py)."""

    bank_name: Annotated[OneLine, Field(max_length=80)] = "Fraudstream Bank"
    # How a customer reaches a person: a phone number, an address, a web page.
    support_contact: Annotated[OneLine, Field(max_length=200)] = (
        "+1 555 0100 (every day, 8:00 to 20:00)"
    )
    bank_logo_url: LogoUrl = None  # https:// address of the logo, shown above the name
    brand_colour: Colour = "#0b4f8a"  # buttons and accents, under white text
    currency: Currency = "USD"  # of the amounts, ISO 4217
    currency_locale: LocaleName = "en_US"  # how amounts are written: $1,234.50, 1.234,50 €

    def brand(self) -> Brand:
        """The brand these settings name."""
        return Brand(
            bank_name=self.bank_name,
            support_contact=self.support_contact,
            logo_url=self.bank_logo_url,
            colour=self.brand_colour,
            currency=self.currency,
            locale=self.currency_locale,
        )


class ProducerSettings(BaseSettings):
    """The producer: its detector, its transactions, the events' clock."""

    # The producer: which detector splits the stream (see fraudstream/detection/detectors.py).
    detector: str = "label"
    # DETECTOR=threshold flags amounts above this (900, as simple demos do).
    detector_amount_threshold: Annotated[float, Field(gt=0, lt=float("inf"))] = 900.0
    # DETECTOR=logreg, iforest or gbm: the model `fraudstream train` wrote, a path or a
    # gs:// address. Unset: models/<DETECTOR>.onnx.
    detector_model: str | None = None
    # Lines a producer transaction covers (whole blocks): larger is faster, smaller
    # redoes less after a failure.
    producer_rows_per_transaction: PositiveInt = 100_000
    event_start_time: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    customer_emails_file: Path | None = None

    @field_validator("event_start_time")
    @classmethod
    def _check_timezone(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone, for example 2026-01-01T00:00:00Z")
        if value.year > LATEST_START_YEAR:
            # Steps go up to a million hours (114 years) after it, and dates end at 9999.
            raise ValueError(f"give a time before the year {LATEST_START_YEAR + 1}")
        return value

    @field_validator("customer_emails_file")
    @classmethod
    def _check_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value


class ConsumerSettings(BaseSettings):
    """The consumers: batches, groups, the case table, sending and retrying."""

    # The consumers: a lake batch is written when it holds this many records
    # or its oldest record has waited this long, whichever comes first; its
    # emails go out meanwhile, each record's once it has waited email_max_seconds.
    batch_max_records: PositiveInt = 10_000
    batch_max_seconds: Annotated[float, Field(gt=0)] = 10.0
    email_max_seconds: Annotated[float, Field(gt=0)] = 0.1
    non_fraud_consumer_group: str = "non-fraud-notifier"
    fraud_consumer_group: str = "fraud-confirmer"
    cases_consumer_group: str = "fraud-cases"
    # The fraud case table: a SQLite file by default, PostgreSQL for real use
    # (postgresql+psycopg://user:password@host:5432/database).
    cases_database_url: SecretStr = SecretStr("sqlite:///build/fraud_cases.sqlite3")
    # Parallel SMTP connections a consumer sends over.
    smtp_connections: Annotated[int, Field(gt=0, le=64)] = 4
    # Waits between tries while SMTP, GCS or Kafka is out: doubling from the first to the most.
    retry_first_seconds: Annotated[float, Field(gt=0)] = 0.5
    retry_max_seconds: Annotated[float, Field(gt=0)] = 30.0
    # The key the email consumers seal their commit notes with (fraudstream.consumers.notes),
    # held by them alone. No default, like the token key.
    consumer_note_key: SecretStr | None = None

    @field_validator("consumer_note_key")
    @classmethod
    def _check_note_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_random_key(value.get_secret_value())
        return value

    @field_validator("cases_database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr) -> SecretStr:
        scheme = value.get_secret_value().partition("://")[0]
        if scheme not in {"sqlite", "postgresql", "postgresql+psycopg"}:
            raise ValueError(
                f"expected sqlite:///path or postgresql+psycopg://..., got a {scheme!r} URL"
            )
        return value


class ConfirmationSettings(BaseSettings):
    """The confirmation loop: the links in the fraud emails and the service behind them."""

    confirmation_base_url: HttpUrl = "http://127.0.0.1:8000"
    confirmation_host: str = "127.0.0.1"
    confirmation_port: Port = 8000
    # No default: a key in the code would let anyone sign answers (fraudstream.settings.keys).
    confirmation_token_key: SecretStr | None = None
    confirmation_token_ttl_hours: Annotated[int, Field(gt=0, le=MAX_TOKEN_TTL_HOURS)] = 72

    @field_validator("confirmation_token_key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_random_key(value.get_secret_value())
        return value


class RuntimeSettings(BaseSettings):
    """What every process shares: metrics and logs."""

    # Prometheus metrics at http://METRICS_HOST:METRICS_PORT/metrics; unset: none. Each
    # process on a machine needs a port of its own. Loopback unless in a container,
    # where 0.0.0.0 lets the engine's published port (itself on the host's loopback) in.
    metrics_port: Port | None = None
    metrics_host: str = "127.0.0.1"

    log_level: str = "INFO"
    # auto: readable text on a terminal, JSON lines otherwise; or force json or text.
    log_format: Literal["auto", "json", "text"] = "auto"

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"expected DEBUG, INFO, WARNING or ERROR, got {value!r}")
        return level
