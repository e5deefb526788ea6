"""Raw lines, before the CSV reader sees them: where they end, whether every one matches
the good-line pattern, and which it cannot take (not UTF-8, a carriage return inside
the row, longer than ``MAX_LINE_BYTES``), set aside as rejected rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fraudstream.paysim.format import GOOD_LINE, MAX_LINE_BYTES, Rejected


def line_ends(data: bytes) -> np.ndarray:
    """The offset of every ``\n`` in ``data``."""
    return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))


def every_line_good(data: bytes, ends: np.ndarray) -> bool:
    """Whether every line of ``data`` passes every column check, by one pattern a line.

    Clean blocks are the rule, and one pass over each line costs about half of
    the ten column-wise checks; a block with any other line takes those checks,
    which say what is wrong with it.
    """
    if not data.endswith(b"\n"):
        return False
    offsets = np.concatenate(([0], ends + 1)).astype(np.int64)
    lines = pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    return bool(pc.all(pc.match_substring_regex(lines, GOOD_LINE)).as_py())


def set_aside_unreadable(
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
