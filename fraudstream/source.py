"""Read a CSV from a local path or ``gs://bucket/object`` as line-aligned blocks of bytes.

Nothing is downloaded whole: the file is read a block at a time, and each
block's byte offset is known, so a run can resume at any block boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fraudstream import lake
from fraudstream.errors import PermanentError

BLOCK_BYTES = (
    2 * 1024 * 1024
)  # measured: larger blocks raise peak RSS (8 MiB: +110 MB) for no speed


# PaySim's header is 114 bytes; reading a "header" stops here in a file that has none.
MAX_HEADER_BYTES = 4096


class SourceError(PermanentError):
    """The source cannot be found or read."""


@dataclass(frozen=True)
class Chunk:
    """Whole lines of the file: ``data`` starts at byte ``offset``, on line ``first_line``."""

    offset: int
    first_line: int
    data: bytes
    end_line: int  # the line just after the chunk

    @property
    def end_offset(self) -> int:
        return self.offset + len(self.data)


@dataclass(frozen=True)
class Source:
    uri: str
    size: int


@contextmanager
def open_source(uri: str, project: str) -> Iterator[tuple[Source, BinaryIO]]:
    """Yield the source's description and a seekable binary stream of it."""
    if uri.startswith("gs://"):
        with lake.open_object(project, uri, chunk_size=BLOCK_BYTES) as (size, stream):
            yield Source(uri, size), stream
        return
    path = Path(uri)
    if not path.is_file():
        raise SourceError(f"no such file: {uri}")
    with path.open("rb") as stream:
        yield Source(str(path.resolve()), path.stat().st_size), stream


def read_header(stream: BinaryIO) -> tuple[str, int]:
    """The first line (without a UTF-8 byte order mark) and the byte offset just past it."""
    stream.seek(0)
    line = stream.readline(MAX_HEADER_BYTES)
    return line.decode("utf-8", errors="replace").removeprefix("\ufeff"), len(line)


def read_chunks(
    stream: BinaryIO, offset: int, first_line: int, block_bytes: int = BLOCK_BYTES
) -> Iterator[Chunk]:
    """Blocks of whole lines from ``offset`` (which starts line ``first_line``) to the end."""
    stream.seek(offset)
    pending = b""
    while data := stream.read(block_bytes):
        pending += data
        cut = pending.rfind(b"\n") + 1
        if cut == 0:
            continue  # a single line longer than a block: read on
        chunk, pending = pending[:cut], pending[cut:]
        end_line = first_line + chunk.count(b"\n")
        yield Chunk(offset, first_line, chunk, end_line)
        offset, first_line = offset + len(chunk), end_line
    if pending:
        yield Chunk(offset, first_line, pending + b"\n", first_line + 1)
