"""PaySim rows -> validated, typed transactions, a block of rows at a time (pure).

A block is a piece of the CSV that ends on a line boundary. Every field is
read as text first, so that one bad value rejects one row, not the block;
the checks and conversions then run column-wise in pyarrow.
"""

from __future__ import annotations

import io
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

_NUMBER = r"^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_NEGATIVE = r"^-[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_STEP = r"^[0-9]{1,9}$"
_NAME = r"^[CM][0-9]{1,10}$"
_FLAG_VALUES = pa.array(["0", "1", "0.0", "1.0"])
_TRUE_VALUES = pa.array(["1", "1.0"])


class NotPaySimError(PermanentError, ValueError):
    """The file is not a PaySim CSV (its header is missing or different)."""


@dataclass(frozen=True)
class Rejected:
    """A row that failed validation, with where it was and why."""

    line: int
    reason: str
    text: str


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
    """Parse and validate the rows in ``data``, whose first line is line ``first_line``."""
    wrong_width: list[Rejected] = []

    def on_invalid_row(row: pcsv.InvalidRow) -> str:
        line = first_line + row.number - 1
        reason = f"expected {len(COLUMNS)} columns, found {row.actual_columns}"
        wrong_width.append(Rejected(line, reason, row.text))
        return "skip"

    table = pcsv.read_csv(
        io.BytesIO(data),
        read_options=pcsv.ReadOptions(column_names=list(COLUMNS), use_threads=False),
        parse_options=pcsv.ParseOptions(
            invalid_row_handler=on_invalid_row, ignore_empty_lines=False
        ),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(COLUMNS, pa.string()), strings_can_be_null=False
        ),
    )
    lines = _line_numbers(first_line, table.num_rows, sorted(r.line for r in wrong_width))
    valid = _valid_mask(table)
    rejected = wrong_width + _reasons(table, lines, valid)
    rejected.sort(key=lambda r: r.line)
    kept = table.filter(pa.array(valid))
    return Block(rows=_typed(kept), lines=lines[valid], rejected=rejected)


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
        Rejected(int(lines[index]), _reason(row, failing, position), _row_text(row))
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
        return f"{name} is negative: {value!r}"
    expected = {
        "step": "a whole number of hours",
        "type": "one of " + ", ".join(TYPES),
        "nameOrig": "C or M followed by up to 10 digits",
        "nameDest": "C or M followed by up to 10 digits",
        "isFraud": "0 or 1",
        "isFlaggedFraud": "0 or 1",
    }.get(name, "a non-negative number")
    return f"{name} is {value!r}, expected {expected}"


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
