"""The column-wise encoder writes exactly what confluent-kafka's AvroSerializer writes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from fraudstream.kafka.registry import load_schema
from fraudstream.paysim.avro_codec import RecordEncoder, UnsupportedSchemaError, wire_header
from fraudstream.paysim.payments import parse_block
from fraudstream.paysim.records import EmailDirectory, to_records, with_detection

START = datetime(2026, 1, 1, tzinfo=UTC)


def _confluent_bytes(table: pa.Table, schema_text: str) -> tuple[list[bytes], int]:
    client = SchemaRegistryClient.new_client({"url": "mock://codec"})
    serializer = AvroSerializer(client, schema_text)
    context = SerializationContext("codec", MessageField.VALUE)
    rows = table.to_pylist()
    encoded = [serializer(row, context) for row in rows]
    schema_id = int.from_bytes(encoded[0][1:5], "big")
    return encoded, schema_id


def _ours(table: pa.Table, schema_text: str, schema_id: int) -> list[bytes]:
    headers = pa.array([wire_header(schema_id)] * table.num_rows, pa.binary())
    encoded: list[bytes] = RecordEncoder(schema_text).encode(table, headers).to_pylist()
    return encoded


def test_identical_bytes_for_every_real_paysim_row(paysim_sample: Path) -> None:
    data = paysim_sample.read_bytes().split(b"\n", 1)[1]
    block = parse_block(data, first_line=2)
    records = to_records(block, START, EmailDirectory("example.com", {}))
    table = with_detection(records, "gbm", np.linspace(0, 1, records.num_rows))
    schema_text = load_schema("transaction")
    expected, schema_id = _confluent_bytes(table, schema_text)
    assert _ours(table, schema_text, schema_id) == expected
    assert len(expected) == 2688


def test_identical_bytes_at_the_edges_of_each_type() -> None:
    schema_text = """{"type": "record", "name": "Edge", "fields": [
        {"name": "i", "type": "int"}, {"name": "l", "type": "long"},
        {"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "d", "type": "double"}, {"name": "b", "type": "boolean"},
        {"name": "s", "type": "string"},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}}]}"""
    rng = np.random.default_rng(3)
    int_edges = [0, 1, -1, 63, 64, -64, -65, 2**31 - 1, -(2**31)]
    ints = int_edges + rng.integers(-(2**31), 2**31, 91).tolist()
    long_edges = [0, -1, 2**63 - 1, -(2**63), 2**35, -(2**35)]
    longs = long_edges + rng.integers(-(2**62), 2**62, 94).tolist()
    double_edges = [0.0, -0.0, 92_445_516.64, 1e-300, float("inf"), 1.916920493e7]
    doubles = double_edges + rng.normal(0, 1e6, 94).tolist()
    strings = ["", "é", "C1231006815", "x" * 200, "日本"] + [f"s{i}" * (i % 70) for i in range(95)]
    table = pa.table(
        {
            "i": pa.array(ints, pa.int32()),
            "l": pa.array(longs, pa.int64()),
            "t": pa.array(longs, pa.int64()),
            "d": pa.array(doubles, pa.float64()),
            "b": pa.array([i % 3 == 0 for i in range(100)]),
            "s": pa.array(strings),
            "e": pa.array(["A", "B", "C", "A"] * 25),
        }
    )
    expected, schema_id = _confluent_bytes(table, schema_text)
    assert _ours(table, schema_text, schema_id) == expected


@pytest.mark.parametrize("values", [[0, 1, -1, 63, -64], [63, 64], [-64, -65], [5], []])
def test_identical_bytes_where_every_varint_may_take_one_byte(values: list[int]) -> None:
    """A column of values that all zig-zag below 128 takes a one-byte path of its own."""
    schema_text = """{"type": "record", "name": "Small", "fields": [
        {"name": "i", "type": "int"}, {"name": "s", "type": "string"}]}"""
    table = pa.table(
        {"i": pa.array(values, pa.int32()), "s": pa.array(["x" * (v % 70) for v in values])}
    )
    if not values:
        assert _ours(table, schema_text, 1) == []
        return
    expected, schema_id = _confluent_bytes(table, schema_text)
    assert _ours(table, schema_text, schema_id) == expected


def test_unsupported_types_are_refused() -> None:
    schema_text = '{"type": "record", "name": "R", "fields": [{"name": "f", "type": "float"}]}'
    with pytest.raises(UnsupportedSchemaError, match="'f'"):
        RecordEncoder(schema_text)


def test_wire_header_is_magic_byte_and_big_endian_id() -> None:
    assert wire_header(258) == b"\x00\x00\x00\x01\x02"
