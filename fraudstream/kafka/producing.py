"""Producing outside a transaction: records acknowledged, or DeliveryError."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from fraudstream.kafka.errors import DeliveryError


def produce_and_wait(
    producer: Producer, messages: Iterable[dict[str, Any]], what: str, timeout: float = 30
) -> None:
    """Produce each message (keyword arguments of ``Producer.produce``) and wait until
    every one is acknowledged; DeliveryError, naming ``what``, if any is not."""
    failures: list[str] = []

    def delivered(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failures.append(error.str())

    try:
        for message in messages:
            producer.produce(**message, on_delivery=delivered)
    except (KafkaException, BufferError) as error:
        raise DeliveryError(f"{what} not accepted by the client: {error}") from error
    if producer.flush(timeout) > 0 or failures:
        raise DeliveryError(f"{what} not acknowledged: {'; '.join(failures) or 'timed out'}")
