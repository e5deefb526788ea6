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
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from fraudstream.paysim.format import (
    COLUMNS,
    FLAG_VALUES,
    FLAGS,
    MAX_STEP,
    MAX_VALUE_SHOWN,
    MONEY,
    NAME_PATTERN,
    NEGATIVE_PATTERN,
    NUMBER_PATTERN,
    STEP_PATTERN,
    TRUE_VALUES,
    TYPES,
    ZERO_PATTERN,
    Rejected,
)
from fraudstream.paysim.raw_lines import every_line_good, line_ends, set_aside_unreadable


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
        """The rows and rejects on lines ``first_line`` up to, not including, ``stop_line``
        (the rows are in line order: the kept ones are a slice, taken without a copy)."""
        start = int(np.searchsorted(self.lines, first_line))
        stop = len(self.lines) if stop_line is None else int(np.searchsorted(self.lines, stop_line))
        if start == 0 and stop == len(self.lines):
            kept_rows, kept_lines = self.rows, self.lines
        else:
            kept_rows, kept_lines = self.rows.slice(start, stop - start), self.lines[start:stop]
        rejected = [
            r
            for r in self.rejected
            if r.line >= first_line and (stop_line is None or r.line < stop_line)
        ]
        return Block(kept_rows, kept_lines, rejected)


def parse_block(data: bytes, first_line: int) -> Block:
    """Parse and validate the rows in ``data``, whose first line is line ``first_line``.

    Never raises on the content: every line ends up a row or a ``Rejected``.
    """
    ends = line_ends(data)
    data, unreadable = set_aside_unreadable(data, first_line, ends)
    clean = not unreadable and every_line_good(data, ends)
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
    zero_text = pc.match_substring_regex(texts.take(pa.array(zeros)), ZERO_PATTERN)
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
    checks = [("step", pc.match_substring_regex(table["step"], STEP_PATTERN))]
    checks.append(("type", pc.is_in(table["type"], value_set=pa.array(TYPES))))
    checks += [(name, pc.match_substring_regex(table[name], NUMBER_PATTERN)) for name in MONEY]
    checks += [
        (name, pc.match_substring_regex(table[name], NAME_PATTERN))
        for name in ("nameOrig", "nameDest")
    ]
    checks += [(name, pc.is_in(table[name], value_set=FLAG_VALUES)) for name in FLAGS]
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
    if name in MONEY and pc.match_substring_regex(pa.array([value]), NEGATIVE_PATTERN)[0].as_py():
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
        **{name: pc.is_in(table[name], value_set=TRUE_VALUES) for name in FLAGS},
    }
    return pa.table({name: columns[name] for name in COLUMNS})
