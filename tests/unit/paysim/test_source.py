from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraudstream.paysim.source import (
    Shard,
    SourceError,
    count_lines,
    open_source,
    read_chunks,
    read_header,
)

TEXT = b"h1,h2\n" + b"".join(f"{i},{'x' * (i % 7)}\n".encode() for i in range(1, 501))


@pytest.mark.parametrize("block_bytes", [7, 64, 1000, 10**6])
def test_chunks_are_whole_lines_with_exact_offsets(block_bytes: int) -> None:
    stream = io.BytesIO(TEXT)
    header, header_end = read_header(stream)
    assert header == "h1,h2\n"
    chunks = list(read_chunks(stream, header_end, 2, block_bytes=block_bytes))
    assert b"".join(c.data for c in chunks) == TEXT[header_end:]
    for chunk in chunks:
        assert chunk.data.endswith(b"\n")
        assert TEXT[chunk.offset : chunk.end_offset] == chunk.data
        assert TEXT[: chunk.offset].count(b"\n") + 1 == chunk.first_line
    assert chunks[-1].end_line == 502


def test_resuming_at_a_chunk_boundary_reads_the_rest() -> None:
    chunks = list(read_chunks(io.BytesIO(TEXT), 6, 2, block_bytes=100))
    middle = chunks[len(chunks) // 2]
    resumed = list(read_chunks(io.BytesIO(TEXT), middle.offset, middle.first_line, block_bytes=100))
    assert b"".join(c.data for c in resumed) == TEXT[middle.offset :]
    assert resumed[0].first_line == middle.first_line


def test_a_last_line_without_newline_is_kept() -> None:
    chunks = list(read_chunks(io.BytesIO(b"h\n1,a\n2,b"), 2, 2, block_bytes=4))
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


def _shard_lines(text: bytes, shard: Shard, block_bytes: int) -> list[tuple[int, bytes]]:
    """The (line number, line) pairs a producer of ``shard`` reads from ``text``."""
    stream = io.BytesIO(text)
    _, header_end = read_header(stream)
    start, end = shard.byte_range(stream, header_end, len(text))
    first_line = 2 + count_lines(stream, header_end, start)
    return [
        (chunk.first_line + number, line + b"\n")
        for chunk in read_chunks(stream, start, first_line, end, block_bytes=block_bytes)
        for number, line in enumerate(chunk.data.removesuffix(b"\n").split(b"\n"))
    ]


@given(
    lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=60),
    count=st.integers(1, 9),
    block_bytes=st.sampled_from([1, 5, 64, 10**6]),
    final_newline=st.booleans(),
)
def test_the_shards_of_a_file_hold_each_line_once_with_its_number(
    lines: list[bytes], count: int, block_bytes: int, final_newline: bool
) -> None:
    rows = b"".join(line + b"\n" for line in lines)
    text = b"h1,h2\n" + (rows if final_newline else rows.removesuffix(b"\n"))
    body = text.removeprefix(b"h1,h2\n")
    whole = _shard_lines(text, Shard(), block_bytes)
    assert b"".join(line for _, line in whole) == body + b"\n" * (body[-1:] not in (b"", b"\n"))
    assert [number for number, _ in whole] == list(range(2, 2 + len(whole)))
    shards = [_shard_lines(text, Shard(index, count), block_bytes) for index in range(count)]
    assert [pair for shard in shards for pair in shard] == whole


def test_a_shard_is_named_apart_from_the_whole_file() -> None:
    assert Shard().name("gs://b/paysim.csv") == "gs://b/paysim.csv"
    assert Shard(1, 3).name("gs://b/paysim.csv") == "gs://b/paysim.csv#shard=1/3"


@pytest.mark.parametrize("text", ["3/3", "-1/2", "1", "a/b", "1/0", "/2"])
def test_a_shard_outside_its_count_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="shard"):
        Shard.parse(text)
