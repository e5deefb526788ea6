"""Whatever a message holds, the decoder gives a record of the reader's schema or a DecodeError:
a foreign schema, a schema of another kind, a few bytes that declare 2^62 items."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest

from fraudstream.kafka.registry import load_schema
from fraudstream.paysim.avro_codec import (
    DecodeError,
    NotAvroSchemaError,
    RecordDecoder,
    wire_header,
)

TRANSACTION = load_schema("transaction")
ANSWER = load_schema("fraud_confirmation")


def _registry(schemas: dict[int, str]) -> Any:
    asked: list[int] = []

    def fetch(schema_id: int) -> str:
        asked.append(schema_id)
        if schema_id not in schemas:
            raise LookupError(schema_id)
        return schemas[schema_id]

    fetch.asked = asked  # type: ignore[attr-defined]
    return fetch


def _message(schema_id: int, schema_text: str, record: dict[str, Any]) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(json.loads(schema_text)), record)
    return wire_header(schema_id) + body.getvalue()


def _answer() -> dict[str, Any]:
    return {
        "transaction_id": "00000000000000f1",
        "status": "not_fraud",
        "answered_at": datetime(2026, 1, 2, tzinfo=UTC),
    }


def _transaction() -> dict[str, Any]:
    return {
        "transaction_id": "00000000000000a1",
        "step": 1,
        "event_time": datetime(2026, 1, 1, tzinfo=UTC),
        "type": "PAYMENT",
        "amount": 10.5,
        "nameOrig": "C1",
        "oldbalanceOrg": 100.0,
        "newbalanceOrig": 89.5,
        "nameDest": "M1",
        "oldbalanceDest": 0.0,
        "newbalanceDest": 0.0,
        "isFraud": False,
        "isFlaggedFraud": False,
        "customer_email": "c1@bank.example",
    }


def test_a_record_of_the_readers_schema_is_read() -> None:
    decoder = RecordDecoder(_registry({1: ANSWER}), ANSWER)
    assert decoder.decode(_message(1, ANSWER, _answer()))["status"] == "not_fraud"


def test_an_older_writer_schema_is_resolved_to_the_readers() -> None:
    older = json.loads(ANSWER)
    channel = {"name": "channel", "type": "string", "default": "web"}
    newer = {**older, "fields": [*older["fields"], channel]}
    decoder = RecordDecoder(_registry({1: ANSWER}), json.dumps(newer))
    assert decoder.decode(_message(1, ANSWER, _answer()))["channel"] == "web"


def test_a_record_of_another_topics_schema_is_a_decode_error() -> None:
    decoder = RecordDecoder(_registry({7: TRANSACTION}), ANSWER)
    with pytest.raises(DecodeError, match="does not resolve"):
        decoder.decode(_message(7, TRANSACTION, _transaction()))


@pytest.mark.parametrize(
    "text",
    [
        '{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}',
        'syntax = "proto3";\nmessage Answer { string transaction_id = 1; }',
        '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "Unknown"}]}',
    ],
)
def test_a_writer_schema_that_cannot_be_parsed_is_a_decode_error(text: str) -> None:
    fetch = _registry({3: text})
    decoder = RecordDecoder(fetch, ANSWER)
    for _ in range(2):
        with pytest.raises(DecodeError, match="schema id 3 cannot be read"):
            decoder.decode(wire_header(3) + b"\x02a")
    assert fetch.asked == [3]  # a schema that cannot serve is asked for once


def test_a_schema_id_of_another_kind_is_a_decode_error() -> None:
    def fetch(schema_id: int) -> str:
        raise NotAvroSchemaError("a PROTOBUF schema, not Avro")

    with pytest.raises(DecodeError, match="PROTOBUF"):
        RecordDecoder(fetch, ANSWER).decode(wire_header(9) + b"\x00")


def _zigzag(number: int) -> bytes:
    rest, out = number << 1, bytearray()
    while rest >= 0x80:
        out.append(rest & 0x7F | 0x80)
        rest >>= 7
    out.append(rest)
    return bytes(out)


@pytest.mark.parametrize("items", ['"null"', '{"type": "record", "name": "E", "fields": []}'])
def test_a_few_bytes_cannot_declare_countless_items(items: str) -> None:
    writer = (
        '{"type": "record", "name": "R", "fields": '
        f'[{{"name": "a", "type": {{"type": "array", "items": {items}}}}}]}}'
    )
    decoder = RecordDecoder(_registry({5: writer}))
    started = time.monotonic()
    for count in (10_000_000, 2**62):
        with pytest.raises(DecodeError, match="items take no bytes"):
            decoder.decode(wire_header(5) + _zigzag(count) + b"\x00")
    assert time.monotonic() - started < 1


def test_a_schema_that_contains_itself_is_a_decode_error() -> None:
    writer = json.dumps(
        {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}
    )
    with pytest.raises(DecodeError, match="contains itself"):
        RecordDecoder(_registry({4: writer})).decode(wire_header(4) + b"\x02" * 100_000 + b"\x00")


def test_arrays_and_maps_of_real_values_are_read_and_bounded_by_the_message() -> None:
    writer = json.dumps(
        {
            "type": "record",
            "name": "R",
            "fields": [
                {"name": "a", "type": {"type": "array", "items": "int"}},
                {"name": "m", "type": {"type": "map", "values": "null"}},
            ],
        }
    )
    decoder = RecordDecoder(_registry({6: writer}))
    assert decoder.decode(_message(6, writer, {"a": [1, 2], "m": {"k": None}})) == {
        "a": [1, 2],
        "m": {"k": None},
    }
    with pytest.raises(DecodeError, match="corrupt"):
        decoder.decode(wire_header(6) + _zigzag(2**62) + b"\x02")


def test_a_string_longer_than_the_message_is_a_decode_error() -> None:
    decoder = RecordDecoder(_registry({1: ANSWER}), ANSWER)
    with pytest.raises(DecodeError, match="corrupt"):
        decoder.decode(wire_header(1) + _zigzag(2**40) + b"abc")


def test_each_message_under_a_bad_schema_gets_an_error_of_its_own() -> None:
    decoder = RecordDecoder(_registry({3: "not json"}), ANSWER)
    errors = []
    for _ in range(3):
        with pytest.raises(DecodeError) as refused:
            decoder.decode(wire_header(3) + b"\x00")
        errors.append(refused.value)
    assert len({id(error) for error in errors}) == 3  # no traceback grows on a shared one
