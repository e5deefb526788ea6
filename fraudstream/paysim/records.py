"""Validated PaySim rows -> the fields of ``schemas/transaction.avsc`` (pure, column-wise).

Adds what the consumers need and PaySim lacks: a deterministic transaction
id, an event time, and the customer's email address.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fraudstream.emails.addresses import AddressError, check_address
from fraudstream.paysim.format import HOUR_MS, MONEY, TYPES
from fraudstream.paysim.payments import Block
from fraudstream.settings.config import ConfigError

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass(frozen=True)
class EmailDirectory:
    """Customer (nameOrig) -> email address: a known address, else ``<nameOrig>@domain``."""

    domain: str
    known: dict[str, str]

    @classmethod
    def load(cls, domain: str, mapping_file: Path | None = None) -> EmailDirectory:
        """``mapping_file`` is an optional CSV with the columns ``nameOrig,email``;
        ``ConfigError`` naming its first bad line, if it has one."""
        return cls(domain, {} if mapping_file is None else read_email_file(mapping_file))

    def addresses(self, customers: pa.ChunkedArray | pa.Array) -> pa.Array:
        default = pc.binary_join_element_wise(customers, pa.scalar("@" + self.domain), "")
        if not self.known:
            return default
        names = pa.array(list(self.known))
        found = pc.index_in(customers, value_set=names)
        mapped = pc.take(pa.array(list(self.known.values())), found)
        return pc.if_else(pc.is_null(found), default, mapped)


def read_email_file(path: Path) -> dict[str, str]:
    """The ``nameOrig,email`` rows of ``path`` (UTF-8, a byte order mark allowed), every
    address checked; ``ConfigError`` naming CUSTOMER_EMAILS_FILE and the line otherwise."""

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"invalid configuration: CUSTOMER_EMAILS_FILE: {path}: {why}")

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise refuse(f"not UTF-8 text (byte {error.start})") from error
    except OSError as error:
        raise refuse(f"cannot read it ({error.strerror})") from error
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, [])
    if [name.strip() for name in header] != ["nameOrig", "email"]:
        raise refuse(f"the first line must be nameOrig,email, not {','.join(header)[:80]!r}")
    known: dict[str, str] = {}
    line = rows.line_num + 1  # where the next row starts (a quoted field may span lines)
    for row in rows:
        if len(row) != 2 and row:
            raise refuse(f"line {line}: expected nameOrig,email, found {len(row)} fields")
        try:
            if row:
                known[row[0].strip()] = check_address(row[1].strip())
        except AddressError as error:
            raise refuse(f"line {line}: {error}") from error
        line = rows.line_num + 1
    return known


def to_records(
    block: Block, start_time: datetime, emails: EmailDirectory, released_ms: int | None = None
) -> pa.Table:
    """The rows of ``block`` with every field of the Avro record, in schema order.
    ``event_time`` is the step's hour on the calendar that begins at ``start_time``, or,
    when a live run releases the rows, ``released_ms``: the moment of the payment."""
    rows = block.rows
    start_ms = int(start_time.timestamp() * 1000)
    step = rows["step"].to_numpy().astype(np.int64)
    event_time = start_ms + (step - 1) * HOUR_MS if released_ms is None else released_ms
    fields = {
        "transaction_id": transaction_ids(rows, block.lines),
        "step": rows["step"],
        "event_time": pa.array(np.broadcast_to(event_time, step.shape), pa.int64()),
        **{name: rows[name] for name in rows.column_names if name != "step"},
        "customer_email": emails.addresses(rows["nameOrig"]),
    }
    return pa.table(fields)


def with_detection(records: pa.Table, detector: str, scores: np.ndarray) -> pa.Table:
    """``records`` with the last two fields of the record: who judged them, and the score."""
    return records.append_column(
        "detector", pa.repeat(pa.scalar(detector), records.num_rows)
    ).append_column("score", pa.array(scores, pa.float64()))


def transaction_ids(rows: pa.Table, lines: np.ndarray) -> pa.Array:
    """A 16-hex-digit id per row, from its line number and every value in it.

    Replaying the same file gives every row the same id again; a different
    row at the same line, or the same values at another line, gets another.
    """
    with np.errstate(over="ignore"):
        digest = _mix(lines.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
        for column in _numeric_columns(rows):
            digest = _mix(digest ^ column)
    return _hex(digest)


def _numeric_columns(rows: pa.Table) -> list[np.ndarray]:
    columns = [rows["step"].to_numpy().astype(np.uint64)]
    type_index = pc.index_in(rows["type"], value_set=pa.array(TYPES))
    columns.append(type_index.to_numpy(zero_copy_only=False).astype(np.uint64))
    columns += [rows[name].to_numpy().view(np.uint64) for name in MONEY]
    for name in ("nameOrig", "nameDest"):
        digits = pc.cast(pc.utf8_slice_codeunits(rows[name], 1), pa.uint64()).to_numpy()
        merchant = pc.starts_with(rows[name], "M").to_numpy(zero_copy_only=False)
        columns.append(digits | (merchant.astype(np.uint64) << np.uint64(40)))
    flags = rows["isFraud"].to_numpy(zero_copy_only=False).astype(np.uint64)
    flags |= rows["isFlaggedFraud"].to_numpy(zero_copy_only=False).astype(np.uint64) << np.uint64(1)
    columns.append(flags)
    return columns


def _mix(value: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit affects every output bit."""
    value = value.copy()
    value ^= value >> np.uint64(30)
    value *= np.uint64(0xBF58476D1CE4E5B9)
    value ^= value >> np.uint64(27)
    value *= np.uint64(0x94D049BB133111EB)
    value ^= value >> np.uint64(31)
    return value


def _hex(values: np.ndarray) -> pa.Array:
    raw = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    text = np.empty((len(values), 16), dtype=np.uint8)
    text[:, 0::2] = _HEX[raw >> 4]
    text[:, 1::2] = _HEX[raw & 0x0F]
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(values), [None, pa.py_buffer(text.tobytes())]
    )
    return fixed.cast(pa.binary()).cast(pa.string())
