"""PaySim rows -> validated, typed transactions, a block of rows at a time (pure).

A block is a piece of the CSV that ends on a line boundary. Lines the CSV
reader cannot take (bytes that are not UTF-8, a carriage return inside a
row, a line of over ``MAX_LINE_BYTES``) are rejected before it sees them.
Every field is then read as text, so that one bad value rejects one row,
not the block; the checks and conversions run column-wise in pyarrow. A
block whose every line matches one pattern (the column checks written as one
line) skips the column-wise checks; only a block with another line takes them.
Rows are numbered exactly as the block splitter counts lines: by ``\n``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from fraudstream.errors import PermanentError

COLUMNS = (
    "step", "type", "amount", "nameOrig", "oldbalanceOrg", "newbalanceOrig",
    "nameDest", "oldbalanceDest", "newbalanceDest", "isFraud", "isFlaggedFraud",
)  # fmt: skip
HEADER = ",".join(COLUMNS)
TYPES = ("CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER")
MONEY = ("amount", "oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest")
FLAGS = ("isFraud", "isFlaggedFraud")
HOUR_MS = 3_600_000
# PaySim has 743 steps (hours); a million is 114 years, which keeps every
# event time representable from any EVENT_START_TIME before the year 9800.
MAX_STEP = 1_000_000
# A PaySim line is about 100 bytes; anything this long is not one.
MAX_LINE_BYTES = 64 * 1024
# What a rejected row carries of its text, and of a value in its reason.
MAX_REJECTED_TEXT = 1_000
MAX_VALUE_SHOWN = 100

_NUMBER = r"^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_NEGATIVE = r"^-[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_STEP = r"^[0-9]{1,9}$"
_ZERO = r"^0+(\.0+)?([eE][+-]?[0-9]+)?$"
_NAME = r"^[CM][0-9]{1,10}$"
_FLAG_TEXTS = ("0", "1", "0.0", "1.0")
_FLAG_VALUES = pa.array(_FLAG_TEXTS)


def _one_of(texts: tuple[str, ...]) -> str:
    return "(" + "|".join(re.escape(text) for text in texts) + ")"


# A whole line that passes every column check (``_checks``), field by field, and its end.
_FIELD_PATTERNS = {
    "step": _STEP, "type": _one_of(TYPES), **dict.fromkeys(MONEY, _NUMBER),
    "nameOrig": _NAME, "nameDest": _NAME, **dict.fromkeys(FLAGS, _one_of(_FLAG_TEXTS)),
}  # fmt: skip
_GOOD_LINE = "^" + ",".join(_FIELD_PATTERNS[name].strip("^$") for name in COLUMNS) + r"\r?\n$"
_TRUE_VALUES = pa.array(["1", "1.0"])


class NotPaySimError(PermanentError, ValueError):
    """The file is not a PaySim CSV (its header is missing or different)."""


@dataclass(frozen=True)
class Rejected:
    """A row that failed validation, with where it was and why.

    ``text`` is the row as read, cut to ``MAX_REJECTED_TEXT`` characters;
    ``length`` is how long it was, so a cut shows.
    """

    line: int
    reason: str
    text: str
    length: int

    @classmethod
    def of(cls, line: int, reason: str, text: str) -> Rejected:
        return cls(line, reason, text[:MAX_REJECTED_TEXT], len(text))

    @property
    def truncated(self) -> bool:
        return self.length > len(self.text)


@dataclass(frozen=True)
class Block:
    """The valid rows of one block, typed, with their line numbers, and the rejected rows."""

    rows: pa.Table
    lines: np.ndarray
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return int(self.rows.num_rows)

    def between(self, first_line: int, stop_line: int | None) -> Block:
        """The rows and rejects on lines ``first_line`` up to, not including, ``stop_line``."""
        keep = self.lines >= first_line
        if stop_line is not None:
            keep &= self.lines < stop_line
        if keep.all():
            kept_rows, kept_lines = self.rows, self.lines
        else:
            kept_rows, kept_lines = self.rows.filter(pa.array(keep)), self.lines[keep]
        rejected = [
            r for r in self.rejected
            if r.line >= first_line and (stop_line is None or r.line < stop_line)
        ]  # fmt: skip
        return Block(kept_rows, kept_lines, rejected)


def check_header(line: str) -> None:
    """Raise NotPaySimError unless ``line`` is PaySim's header."""
    if line.strip() != HEADER:
        raise NotPaySimError(
            f"not a PaySim CSV: the first line is {line.strip()[:200]!r}, expected {HEADER!r}"
        )


def parse_block(data: bytes, first_line: int) -> Block:
    """Parse and validate the rows in ``data``, whose first line is line ``first_line``.

    Never raises on the content: every line ends up a row or a ``Rejected``.
    """
    ends = _line_ends(data)
    data, unreadable = _set_aside_unreadable(data, first_line, ends)
    clean = not unreadable and _every_line_good(data, ends)
    wrong_width: list[Rejected] = []

    def on_invalid_row(row: pcsv.InvalidRow) -> str:
        line = first_line + row.number - 1
        reason = f"expected {len(COLUMNS)} columns, found {row.actual_columns}"
        wrong_width.append(Rejected.of(line, reason, row.text))
        return "skip"

    table = pcsv.read_csv(
        io.BytesIO(data),
        read_options=pcsv.ReadOptions(column_names=list(COLUMNS), use_threads=False),
        parse_options=pcsv.ParseOptions(
            invalid_row_handler=on_invalid_row, ignore_empty_lines=False, quote_char=False
        ),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(COLUMNS, pa.string()), strings_can_be_null=False
        ),
    )
    lines = _line_numbers(first_line, table.num_rows, sorted(r.line for r in wrong_width))
    if clean:
        valid, rejected = np.ones(table.num_rows, dtype=bool), []
        kept = table
    else:
        valid = _valid_mask(table)
        rejected = wrong_width + _reasons(table, lines, valid)
        kept = table.filter(pa.array(valid))
    typed, kept_lines = _typed(kept), lines[valid]
    in_range, out_of_range = _in_range(typed, kept, kept_lines)
    if out_of_range:
        typed, kept_lines = typed.filter(pa.array(in_range)), kept_lines[in_range]
    # A line set aside was parsed as an empty one: its own reason replaces "empty line".
    rejected = [r for r in rejected + out_of_range if r.line not in unreadable]
    rejected += unreadable.values()
    rejected.sort(key=lambda r: r.line)
    return Block(rows=typed, lines=kept_lines, rejected=rejected)


def _line_ends(data: bytes) -> np.ndarray:
    """The offset of every ``\n`` in ``data``."""
    return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))


def _every_line_good(data: bytes, ends: np.ndarray) -> bool:
    """Whether every line of ``data`` passes every column check, by one pattern a line.

    Clean blocks are the rule, and one pass over each line costs about half of
    the ten column-wise checks; a block with any other line takes those checks,
    which say what is wrong with it.
    """
    if not data.endswith(b"\n"):
        return False
    offsets = np.concatenate(([0], ends + 1)).astype(np.int64)
    lines = pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    return bool(pc.all(pc.match_substring_regex(lines, _GOOD_LINE)).as_py())


def _set_aside_unreadable(
    data: bytes, first_line: int, ends: np.ndarray
) -> tuple[bytes, dict[int, Rejected]]:
    """``data`` (its line ends at ``ends``) with each line the CSV reader cannot take
    emptied, and those lines rejected.

    The usual block is checked in a few passes over its bytes; only a block
    with such a line is split into lines.
    """
    too_long = len(data) > MAX_LINE_BYTES and _longest_line(data, ends) > MAX_LINE_BYTES
    bare_return = b"\r" in data and data.count(b"\r") != data.count(b"\r\n")
    if not too_long and not bare_return and _is_utf8(data):
        return data, {}
    lines = data.split(b"\n")
    unreadable = {}
    for index, line in enumerate(lines):
        reason = _unreadable(line)
        if reason is not None:
            text = line.decode("utf-8", errors="replace")
            unreadable[first_line + index] = Rejected.of(first_line + index, reason, text)
            lines[index] = b""
    return b"\n".join(lines), unreadable


def _unreadable(line: bytes) -> str | None:
    if len(line) > MAX_LINE_BYTES:
        return f"a line of {len(line):,} bytes; a PaySim row is far under {MAX_LINE_BYTES:,}"
    if b"\r" in line.removesuffix(b"\r"):
        return "a carriage return inside the row"
    if not _is_utf8(line):
        return "bytes that are not UTF-8 text"
    return None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _longest_line(data: bytes, ends: np.ndarray) -> int:
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(data)]))
    return int((stops - starts).max())


def _in_range(
    typed: pa.Table, texts: pa.Table, lines: np.ndarray
) -> tuple[np.ndarray, list[Rejected]]:
    """Rows whose numbers survived conversion: a step from 1 to MAX_STEP, money that is
    finite and not a non-zero value rounded to 0. The mask of those, and the others."""
    reasons: dict[int, str] = {}
    step = typed["step"].to_numpy()
    for index in np.flatnonzero((step < 1) | (step > MAX_STEP)):
        reasons.setdefault(int(index), f"step is {step[index]}, expected 1 to {MAX_STEP:,}")
    for name in MONEY:
        for index in _lost_in_conversion(typed[name], texts[name]):
            shown = _shown(texts[name][int(index)].as_py())
            reasons.setdefault(int(index), f"{name} is {shown}, beyond what a double holds")
    ok = np.ones(typed.num_rows, dtype=bool)
    if not reasons:
        return ok, []
    bad = sorted(reasons)
    ok[bad] = False
    rows = texts.take(pa.array(bad, pa.int64())).to_pylist()
    rejected = [
        Rejected.of(int(lines[index]), reasons[index], _row_text(row))
        for index, row in zip(bad, rows, strict=True)
    ]
    return ok, rejected


def _lost_in_conversion(values: pa.ChunkedArray, texts: pa.ChunkedArray) -> np.ndarray:
    """Positions of values that came out infinite, or 0 from a text that is not zero.
    Only the zeros' texts are looked at again: most values are neither."""
    numbers = values.to_numpy(zero_copy_only=False)
    infinite = np.flatnonzero(~np.isfinite(numbers))
    zeros = np.flatnonzero(numbers == 0)
    if zeros.size == 0:
        return infinite
    zero_text = pc.match_substring_regex(texts.take(pa.array(zeros)), _ZERO)
    underflow = zeros[~zero_text.to_numpy(zero_copy_only=False)]
    return np.union1d(infinite, underflow)


def _shown(value: str) -> str:
    """A value as a reason quotes it: at most MAX_VALUE_SHOWN characters."""
    if len(value) <= MAX_VALUE_SHOWN:
        return repr(value)
    return f"{value[:MAX_VALUE_SHOWN]!r}... ({len(value):,} characters)"


def _line_numbers(first_line: int, count: int, skipped: list[int]) -> np.ndarray:
    """Line numbers of the rows pyarrow kept, given the lines it skipped as malformed."""
    candidates = np.arange(first_line, first_line + count + len(skipped), dtype=np.int64)
    if skipped:
        candidates = candidates[~np.isin(candidates, skipped)]
    return candidates[:count]


def _checks(table: pa.Table) -> list[tuple[str, pa.ChunkedArray]]:
    """(column, mask of rows whose value in that column is acceptable), in reporting order."""
    checks = [("step", pc.match_substring_regex(table["step"], _STEP))]
    checks.append(("type", pc.is_in(table["type"], value_set=pa.array(TYPES))))
    checks += [(name, pc.match_substring_regex(table[name], _NUMBER)) for name in MONEY]
    checks += [
        (name, pc.match_substring_regex(table[name], _NAME)) for name in ("nameOrig", "nameDest")
    ]
    checks += [(name, pc.is_in(table[name], value_set=_FLAG_VALUES)) for name in FLAGS]
    return checks


def _valid_mask(table: pa.Table) -> np.ndarray:
    valid = np.ones(table.num_rows, dtype=bool)
    for _name, mask in _checks(table):
        valid &= mask.to_numpy(zero_copy_only=False)
    return valid


def _reasons(table: pa.Table, lines: np.ndarray, valid: np.ndarray) -> list[Rejected]:
    """Explain each invalid row; only runs over the (few) rows that failed."""
    bad = np.flatnonzero(~valid)
    if bad.size == 0:
        return []
    subset = table.take(pa.array(bad))
    rows = subset.to_pylist()
    failing = [(name, mask.to_pylist()) for name, mask in _checks(subset)]
    return [
        Rejected.of(int(lines[index]), _reason(row, failing, position), _row_text(row))
        for position, (index, row) in enumerate(zip(bad, rows, strict=True))
    ]


def _reason(row: dict[str, str], failing: list[tuple[str, list[bool]]], position: int) -> str:
    if not any(row.values()):
        return "empty line"
    for name, ok in failing:
        if not ok[position]:
            return _describe(name, row[name])
    return "invalid row"


def _describe(name: str, value: str) -> str:
    if name in MONEY and pc.match_substring_regex(pa.array([value]), _NEGATIVE)[0].as_py():
        return f"{name} is negative: {_shown(value)}"
    expected = {
        "step": "a whole number of hours",
        "type": "one of " + ", ".join(TYPES),
        "nameOrig": "C or M followed by up to 10 digits",
        "nameDest": "C or M followed by up to 10 digits",
        "isFraud": "0 or 1",
        "isFlaggedFraud": "0 or 1",
    }.get(name, "a non-negative number")
    return f"{name} is {_shown(value)}, expected {expected}"


def _row_text(row: dict[str, str]) -> str:
    if not any(row.values()):
        return ""
    return ",".join(row[name] for name in COLUMNS)


def _typed(table: pa.Table) -> pa.Table:
    columns = {
        "step": pc.cast(table["step"], pa.int32()),
        "type": table["type"],
        **{name: pc.cast(table[name], pa.float64()) for name in MONEY},
        "nameOrig": table["nameOrig"],
        "nameDest": table["nameDest"],
        **{name: pc.is_in(table[name], value_set=_TRUE_VALUES) for name in FLAGS},
    }
    return pa.table({name: columns[name] for name in COLUMNS})
