"""A batch's messages decoded: the records, their offsets, and what could not be read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from confluent_kafka import Message

from fraudstream.consumers.retry import Waiter, until_done
from fraudstream.consumers.sinks import DeadLetter
from fraudstream.kafka.registry import RegistryUnavailableError
from fraudstream.paysim.avro_codec import DecodeError, RecordDecoder


@dataclass
class Decoded:
    records: list[dict[str, Any]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # each record came as
    offsets: list[int] = field(default_factory=list)  # of each record
    dead: list[DeadLetter] = field(default_factory=list)


def decode_batch(
    decoders: Mapping[str, RecordDecoder], batch: Sequence[Message], waiter: Waiter
) -> Decoded:
    """Decode every message with its topic's decoder; one that is not a record we can read
    becomes a dead letter.

    A registry that does not answer is not the message's fault: the lookup
    of a new schema id is retried until it answers.
    """
    decoded = Decoded()
    only = next(iter(decoders.values())) if len(decoders) == 1 else None  # one topic
    for message in batch:
        value = message.value()
        decoder = only or decoders[str(message.topic())]
        try:
            try:
                record = decoder.decode(value)
            except RegistryUnavailableError:
                record = until_done(
                    partial(decoder.decode, value),
                    "schema lookup",
                    waiter,
                    (RegistryUnavailableError,),
                )
        except DecodeError as error:
            decoded.dead.append(DeadLetter(message, str(error)))
            continue
        decoded.records.append(record)
        decoded.messages.append(message)
        decoded.offsets.append(message.offset() or 0)
    return decoded
