"""Column-wise Avro encoding in Confluent's wire format.

Encodes a whole table of flat records at once with numpy and pyarrow,
instead of one Python dict at a time. The output is byte for byte what
confluent-kafka's ``AvroSerializer`` (fastavro underneath) writes for the
same records; ``tests/unit/paysim/test_avro_codec.py`` checks that on real and
random rows. Supported field types: boolean, int, long (also
timestamp-millis), double, string and enum, which is all the transaction
record needs; anything else is refused when the encoder is built.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastavro.read import SchemaResolutionError

MAGIC_BYTE = b"\x00"
_MAX_VARINT_BYTES = 10

# A column -> the pieces of its values' encodings, one array a piece, joined row by row.
ColumnEncoder = Callable[[pa.ChunkedArray], list[pa.Array]]


class UnsupportedSchemaError(ValueError):
    """The schema uses a type this encoder does not write."""


def wire_header(schema_id: int) -> bytes:
    """Confluent's 5-byte prefix: magic byte 0, then the schema id as 4 big-endian bytes."""
    return MAGIC_BYTE + schema_id.to_bytes(4, "big")


class RecordEncoder:
    """Encodes tables whose columns are named after the fields of one record schema."""

    def __init__(self, schema_text: str) -> None:
        schema = json.loads(schema_text)
        self.field_names = [f["name"] for f in schema["fields"]]
        self._encoders = [_encoder_for(f["type"], f["name"]) for f in schema["fields"]]

    def encode(self, table: pa.Table, headers: pa.Array) -> pa.Array:
        """One binary value per row: its header (see ``wire_header``) then the Avro body."""
        parts = [
            part
            for name, encode in zip(self.field_names, self._encoders, strict=True)
            for part in encode(table[name])
        ]
        return pc.binary_join_element_wise(headers, *parts, pa.scalar(b"", pa.binary()))


def _encoder_for(avro_type: object, name: str) -> ColumnEncoder:
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "enum":
            return _enum_encoder(list(avro_type["symbols"]))
        if avro_type.get("type") == "long":  # a logical type such as timestamp-millis
            return _encode_numbers
        avro_type = avro_type.get("type")
    encoders: dict[object, ColumnEncoder] = {
        "boolean": _encode_booleans,
        "int": _encode_numbers,
        "long": _encode_numbers,
        "double": _encode_doubles,
        "string": _encode_strings,
    }
    if avro_type not in encoders:
        raise UnsupportedSchemaError(f"field {name!r}: Avro type {avro_type!r} is not supported")
    return encoders[avro_type]


def _enum_encoder(symbols: list[str]) -> ColumnEncoder:
    value_set = pa.array(symbols)

    def encode(column: pa.ChunkedArray) -> list[pa.Array]:
        index = pc.index_in(column, value_set=value_set)
        if index.null_count:
            raise ValueError(f"a value is not one of the enum symbols {symbols}")
        return _encode_numbers(index)

    return encode


def _encode_booleans(column: pa.ChunkedArray) -> list[pa.Array]:
    values = column.to_numpy(zero_copy_only=False).astype(np.uint8)
    return [_fixed_width(values.tobytes(), 1, len(values))]


def _encode_doubles(column: pa.ChunkedArray) -> list[pa.Array]:
    values = np.ascontiguousarray(column.to_numpy(), dtype="<f8")
    return [_fixed_width(values.tobytes(), 8, len(values))]


def _encode_strings(column: pa.ChunkedArray) -> list[pa.Array]:
    """Avro string: the UTF-8 length as a long, then the bytes."""
    as_binary = pc.cast(column, pa.binary())
    return [*_encode_numbers(pc.binary_length(as_binary)), as_binary]


def _encode_numbers(column: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    return [_encode_varints(column.to_numpy(zero_copy_only=False).astype(np.int64))]


def _encode_varints(signed: np.ndarray) -> pa.Array:
    """Avro int/long: zig-zag, then 7 bits a byte, least significant first."""
    rest = ((signed << 1) ^ (signed >> 63)).view(np.uint64)
    count = len(rest)
    if count and rest.max() < 0x80:  # the usual column: every value in one byte
        return _fixed_width(rest.astype(np.uint8).tobytes(), 1, count)
    out = np.zeros((count, _MAX_VARINT_BYTES), dtype=np.uint8)
    lengths = np.ones(count, dtype=np.int32)
    for position in range(_MAX_VARINT_BYTES):
        low = (rest & np.uint64(0x7F)).astype(np.uint8)
        rest = rest >> np.uint64(7)
        more = rest != 0
        out[:, position] = low | (more.astype(np.uint8) << 7)
        lengths += more
        if not more.any():
            break
    used = np.arange(_MAX_VARINT_BYTES) < lengths[:, None]
    offsets = np.zeros(count + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(
        pa.binary(), count, [None, pa.py_buffer(offsets), pa.py_buffer(out[used].tobytes())]
    )


def _fixed_width(data: bytes, width: int, count: int) -> pa.Array:
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), count, [None, pa.py_buffer(data)]
    )
    return fixed.cast(pa.binary())


class DecodeError(ValueError):
    """A message is not a record this consumer can read; the text says why."""


class NotAvroSchemaError(LookupError):
    """The registry holds the id, under another schema type (JSON Schema, Protobuf)."""


class RecordDecoder:
    """Decodes Confluent wire-format Avro values, fetching each writer schema once by id.

    ``fetch_schema`` returns a schema's text, raises LookupError when the
    registry does not know the id (NotAvroSchemaError when it is not Avro), and
    anything else when the registry cannot be asked (which is then not the
    message's fault, and goes to the caller to retry).

    With a ``reader_schema``, each record is resolved to it: a record written
    under a schema that does not resolve to it (another topic's, say) is a
    DecodeError, like any writer schema that cannot be fetched, parsed or
    applied. Sizes stay bounded by the message's: every string's bytes must be
    in it, and a writer schema whose array items could take no bytes, or that
    refers to itself, is refused (see ``check_bounded``).
    """

    def __init__(
        self, fetch_schema: Callable[[int], str], reader_schema: str | None = None
    ) -> None:
        self._fetch_schema = fetch_schema
        self._reader = None if reader_schema is None else _parse(reader_schema)
        # By id: the writer and reader schemas, or why the writer schema cannot serve.
        self._schemas: dict[int, tuple[Any, Any] | str] = {}

    def decode(self, value: bytes | None) -> dict[str, Any]:
        if value is None or len(value) < 5:
            raise DecodeError("shorter than the 5-byte wire-format header")
        if value[:1] != MAGIC_BYTE:
            raise DecodeError(f"magic byte is {value[0]}, not 0: not Confluent wire format")
        writer, reader = self._schema(int.from_bytes(value[1:5], "big"))
        body = io.BytesIO(value)
        body.seek(5)
        try:
            record = fastavro.schemaless_reader(body, writer, reader)
        except SchemaResolutionError as error:
            raise DecodeError(
                f"written under a schema that does not resolve to the reader's: {str(error)[:200]}"
            ) from error
        except Exception as error:  # fastavro raises many kinds on corrupt input
            raise DecodeError(f"corrupt Avro body: {type(error).__name__}: {error}") from error
        if body.tell() != len(value):
            raise DecodeError(f"{len(value) - body.tell()} bytes left after the record")
        if not isinstance(record, dict):
            raise DecodeError("the schema is not a record schema")
        return record

    def _schema(self, schema_id: int) -> tuple[Any, Any]:
        """The writer schema of ``schema_id`` and the reader schema to resolve it to (None
        when they are the same). A schema that cannot serve is remembered by its reason,
        and each message under it gets a DecodeError of its own."""
        if schema_id not in self._schemas:
            try:
                text = self._fetch_schema(schema_id)
            except NotAvroSchemaError as error:
                raise DecodeError(f"schema id {schema_id}: {error}") from error
            except LookupError as error:
                raise DecodeError(f"schema id {schema_id} is unknown to the registry") from error
            self._schemas[schema_id] = self._prepared(schema_id, text)
        prepared = self._schemas[schema_id]
        if isinstance(prepared, str):
            raise DecodeError(prepared)
        return prepared

    def _prepared(self, schema_id: int, text: str) -> tuple[Any, Any] | str:
        try:
            writer = _parse(text)
            check_bounded(writer)
        except Exception as error:  # json's, fastavro's and ours: the schema cannot serve
            return (
                f"schema id {schema_id} cannot be read: {type(error).__name__}: {str(error)[:200]}"
            )
        if self._reader is None or _same(writer, self._reader):
            return writer, None
        return writer, self._reader


def _parse(text: str) -> Any:
    return fastavro.parse_schema(json.loads(text))


def _same(writer: Any, reader: Any) -> bool:
    """Whether two parsed schemas write the same bytes (then no resolution is needed)."""
    return bool(
        fastavro.schema.to_parsing_canonical_form(writer)
        == fastavro.schema.to_parsing_canonical_form(reader)
    )


class UnboundedSchemaError(ValueError):
    """A writer schema that lets a few bytes stand for an unbounded amount of data."""


_PRIMITIVE_MIN_BYTES = {
    "null": 0,
    "boolean": 1,
    "int": 1,
    "long": 1,
    "float": 4,
    "double": 8,
    "bytes": 1,
    "string": 1,
}


def check_bounded(schema: Any) -> None:
    """UnboundedSchemaError unless every value of ``schema`` takes bytes of the message:
    array items that can take none (null, an empty record) would let a 10-byte message
    declare 2^62 of them, and a schema that contains itself would nest without end."""
    _min_bytes(schema, {}, ())


def _min_bytes(schema: Any, named: dict[str, Any], inside: tuple[str, ...]) -> int:
    """The fewest bytes a value of ``schema`` takes; ``named`` holds the named types seen,
    ``inside`` the records being walked."""
    if isinstance(schema, list):  # a union: the branch's index comes first
        for branch in schema:
            _min_bytes(branch, named, inside)
        return 1
    if isinstance(schema, str):
        return _reference_min_bytes(schema, named, inside)
    kind = schema["type"]
    if kind in {"record", "error"}:
        name = schema["name"]
        named[name] = sum(_min_bytes(f["type"], named, (*inside, name)) for f in schema["fields"])
    elif kind in {"enum", "fixed"}:
        named[schema["name"]] = 1 if kind == "enum" else int(schema["size"])
    elif kind in {"array", "map"}:
        _check_items(schema, named, inside)
        return 1  # the block count; a map's entries hold a key of at least one byte each
    else:
        return _min_bytes(kind, named, inside)  # a primitive with attributes
    return int(named[schema["name"]])


def _reference_min_bytes(name: str, named: dict[str, Any], inside: tuple[str, ...]) -> int:
    if name in _PRIMITIVE_MIN_BYTES:
        return _PRIMITIVE_MIN_BYTES[name]
    if name in inside:
        raise UnboundedSchemaError(f"{name} contains itself")
    if name not in named:
        raise UnboundedSchemaError(f"{name} is not defined before its use")
    return int(named[name])


def _check_items(schema: dict[str, Any], named: dict[str, Any], inside: tuple[str, ...]) -> None:
    if schema["type"] == "map":
        _min_bytes(schema["values"], named, inside)
    elif _min_bytes(schema["items"], named, inside) == 0:
        raise UnboundedSchemaError("an array whose items take no bytes")
