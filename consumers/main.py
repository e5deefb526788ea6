"""Wiring for ``fraudstream consume``: settings in, a consumer running until SIGTERM."""

from __future__ import annotations

import logging
import sys

from google.api_core.exceptions import GoogleAPIError

from consumers.handlers import AskCustomer, Handler, NotifyCustomer
from consumers.loop import BatchConsumer, Totals
from fraudstream import kafka, lake
from fraudstream.config import Settings
from fraudstream.stopping import StopFlag

log = logging.getLogger("fraudstream.consumer")

HANDLERS: dict[str, type[NotifyCustomer] | type[AskCustomer]] = {
    "non-fraud": NotifyCustomer,
    "fraud": AskCustomer,
}


def prepare(settings: Settings) -> None:
    """What a consumer reads and writes must exist: the transaction topics (made as the
    producer makes them, so either may start first), the dead-letter topic, the lake."""
    names = (settings.fraud_topic, settings.non_fraud_topic, settings.dead_letter_topic)
    kafka.ensure_pipeline_topics(settings, names)
    lake.ensure_bucket(lake.storage_client(settings.gcp_project), settings.lake_bucket)


def consume(
    settings: Settings, kind: str, idle_exit: float | None = None, send_emails: bool = True
) -> int:
    handler: Handler = HANDLERS[kind](settings)
    try:
        prepare(settings)
    except (kafka.KafkaSetupError, lake.StorageError) as error:
        print(f"fraudstream: {error}", file=sys.stderr)
        return 1
    stop = StopFlag()
    stop.install()
    try:
        totals = BatchConsumer(settings, handler, stop=stop, send_emails=send_emails).run(idle_exit)
    except (lake.StorageError, GoogleAPIError) as error:  # not an outage: retrying will not help
        print(f"fraudstream: the lake refused: {error}", file=sys.stderr)
        return 1
    print(f"{kind} consumer: {_summary(totals)}", file=sys.stderr)
    return 0


def _summary(totals: Totals) -> str:
    return (
        f"{totals.records:,} records in {totals.batches:,} batches, "
        f"{totals.emails_sent:,} emails sent, {totals.emails_rejected:,} rejected, "
        f"{totals.emails_already_sent:,} already sent before, "
        f"{totals.dead_letters:,} dead letters"
    )
