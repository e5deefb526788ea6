"""Lake objects: newline-delimited JSON batches with names that make rewrites idempotent (pure).

A batch holds consecutive offsets of one partition, so its name says exactly
which records it holds. After a crash the same offsets are read again, form
the same batches and overwrite the same objects: the lake never holds a
record twice, whatever happened between the upload and the offset commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

FOLDERS = ("transaction", "fraud_confirmation", "email_confirmation")


@dataclass(frozen=True)
class BatchKey:
    """Where a batch comes from: a topic partition and its first and last offsets."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int

    def object_name(self, folder: str) -> str:
        if folder not in FOLDERS:
            raise ValueError(f"unknown lake folder {folder!r}; expected one of {FOLDERS}")
        return (
            f"{folder}/topic={self.topic}/partition={self.partition:03d}/"
            f"{self.first_offset:020d}-{self.last_offset:020d}.jsonl"
        )


def to_ndjson(records: Iterable[Mapping[str, Any]]) -> bytes:
    """One compact JSON object a line, keys sorted, times in ISO 8601."""
    lines = (json.dumps(record, sort_keys=True, separators=(",", ":"), default=_json_value)
             for record in records)  # fmt: skip
    return "".join(line + "\n" for line in lines).encode()


def _json_value(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to the lake")
