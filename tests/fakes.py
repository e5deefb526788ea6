"""Stand-ins for the external systems, shared by the unit tests (the integration tests
use the real servers)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from fraudstream.consumers.retry import Backoff, Waiter


class MemoryBucket:
    """Enough of a GCS bucket for the lake's writes and recovery: listing by prefix and
    start offset, reading, and uploads that can be made slow."""

    name = "lake"

    def __init__(self, objects: dict[str, bytes] | None = None) -> None:
        self.objects: dict[str, bytes] = {} if objects is None else objects
        self.client, self.upload_seconds = self, 0.0

    def list_blobs(self, _bucket: object, prefix: str, start_offset: str | None) -> list[Any]:
        return [
            SimpleNamespace(name=name)
            for name in sorted(self.objects)
            if name.startswith(prefix) and name >= (start_offset or "")
        ]

    def get_blob(self, name: str) -> Any:
        data = self.objects.get(name)
        if data is None:
            return None
        return SimpleNamespace(download_as_bytes=lambda: data, metadata=None, generation=1)

    def blob(self, name: str) -> Any:
        def upload(data: bytes, **_options: object) -> None:
            time.sleep(self.upload_seconds)
            self.objects[name] = data

        return SimpleNamespace(upload_from_string=upload)


def recording_waiter(stop_after: int | None = None) -> tuple[Waiter, list[float]]:
    """A waiter that pauses for no time, recording each pause it was asked for; it asks to
    stop once it has paused ``stop_after`` times."""
    pauses: list[float] = []
    waiter = Waiter(
        pauses.append,
        lambda: stop_after is not None and len(pauses) >= stop_after,
        Backoff(1.0, 8.0),
    )
    return waiter, pauses
