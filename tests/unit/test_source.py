from __future__ import annotations

import io
from pathlib import Path

import pytest

from fraudstream.source import SourceError, open_source, read_chunks, read_header

TEXT = b"h1,h2\n" + b"".join(f"{i},{'x' * (i % 7)}\n".encode() for i in range(1, 501))


@pytest.mark.parametrize("block_bytes", [7, 64, 1000, 10**6])
def test_chunks_are_whole_lines_with_exact_offsets(block_bytes: int) -> None:
    stream = io.BytesIO(TEXT)
    header, header_end = read_header(stream)
    assert header == "h1,h2\n"
    chunks = list(read_chunks(stream, header_end, 2, block_bytes))
    assert b"".join(c.data for c in chunks) == TEXT[header_end:]
    for chunk in chunks:
        assert chunk.data.endswith(b"\n")
        assert TEXT[chunk.offset : chunk.end_offset] == chunk.data
        assert TEXT[: chunk.offset].count(b"\n") + 1 == chunk.first_line
    assert chunks[-1].end_line == 502


def test_resuming_at_a_chunk_boundary_reads_the_rest() -> None:
    chunks = list(read_chunks(io.BytesIO(TEXT), 6, 2, 100))
    middle = chunks[len(chunks) // 2]
    resumed = list(read_chunks(io.BytesIO(TEXT), middle.offset, middle.first_line, 100))
    assert b"".join(c.data for c in resumed) == TEXT[middle.offset :]
    assert resumed[0].first_line == middle.first_line


def test_a_last_line_without_newline_is_kept() -> None:
    chunks = list(read_chunks(io.BytesIO(b"h\n1,a\n2,b"), 2, 2, 4))
    assert b"".join(c.data for c in chunks) == b"1,a\n2,b\n"
    assert chunks[-1].end_line == 4


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"), open_source(str(tmp_path / "x"), "p"):
        pass


def test_a_byte_order_mark_before_the_header_is_not_part_of_it() -> None:
    with_mark = b"\xef\xbb\xbf" + TEXT
    header, header_end = read_header(io.BytesIO(with_mark))
    assert header == "h1,h2\n"
    assert with_mark[header_end:] == TEXT[6:]  # rows start where they do, mark counted
