"""Producing outside a transaction: every message acknowledged, or DeliveryError."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError

from fraudstream import kafka


class _FlakyProducer:
    """Acknowledges every message but those whose key is ``b"lost"``."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[Any, bytes]] = []

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Any) -> None:
        self.callbacks.append((on_delivery, key))

    def flush(self, _timeout: float) -> int:
        for on_delivery, key in self.callbacks:
            error = KafkaError(KafkaError._MSG_TIMED_OUT, "timed out") if key == b"lost" else None
            on_delivery(error, None)
        return 0


def test_produce_and_wait_fails_when_any_message_is_not_acknowledged() -> None:
    good = [{"topic": "t", "value": b"v", "key": b"fine"}]
    kafka.produce_and_wait(_FlakyProducer(), good, "letters")  # type: ignore[arg-type]
    with pytest.raises(kafka.DeliveryError, match="letters not acknowledged: timed out"):
        kafka.produce_and_wait(
            _FlakyProducer(),  # type: ignore[arg-type]
            [*good, {"topic": "t", "value": b"v", "key": b"lost"}],
            "letters",
        )
