"""Lake objects: newline-delimited JSON batches with names that make rewrites idempotent (pure).

A batch holds consecutive offsets of one partition, so its name says exactly
which records it holds. After a crash the same offsets are read again, form
the same batches and overwrite the same objects: the lake never holds a
record twice, whatever happened between the upload and the offset commit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from fraudstream.topology import LakeFolder, lake_prefix

_FOLDERS = {folder.value for folder in LakeFolder}
_OBJECT_NAME = re.compile(
    r"(?P<folder>[a-z_]+)/topic=(?P<topic>[A-Za-z0-9._-]+)/partition=(?P<partition>\d{3,})/"
    r"(?P<first>\d{20})-(?P<last>\d{20})\.jsonl"
)


@dataclass(frozen=True)
class BatchKey:
    """Where a batch comes from: a topic partition and its first and last offsets."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int

    def object_name(self, folder: LakeFolder) -> str:
        return (
            f"{partition_prefix(folder, self.topic, self.partition)}"
            f"{offset_name(self.first_offset)}-{offset_name(self.last_offset)}.jsonl"
        )

    @classmethod
    def from_object_name(cls, name: str) -> BatchKey:
        """The key ``object_name`` made ``name`` from; ValueError for any other name."""
        match = _OBJECT_NAME.fullmatch(name)
        if match is None or match["folder"] not in _FOLDERS:
            raise ValueError(f"not a lake batch name: {name!r}")
        return cls(match["topic"], int(match["partition"]), int(match["first"]), int(match["last"]))


def partition_prefix(folder: LakeFolder, topic: str, partition: int) -> str:
    """The common start of the names of every batch of one partition in ``folder``."""
    if folder not in _FOLDERS:
        raise ValueError(f"unknown lake folder {folder!r}; expected one of {sorted(_FOLDERS)}")
    return f"{lake_prefix(folder, topic)}partition={partition:03d}/"


def offset_name(offset: int) -> str:
    """How an offset starts a batch name: names sort as their offsets do."""
    return f"{offset:020d}"


def to_ndjson(records: Iterable[Mapping[str, Any]]) -> bytes:
    """One compact JSON object a line, keys sorted, times in ISO 8601 (RFC 3339)."""
    return b"".join(ndjson_line(record) for record in records)


def ndjson_line(record: Mapping[str, Any]) -> bytes:
    """One record as ``to_ndjson`` writes it; TypeError for what JSON cannot hold."""
    return orjson.dumps(record, option=_NDJSON)


_NDJSON = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
