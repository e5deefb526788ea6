"""The note a consumer commits with a partition's offset: how far that lake batch's emails
are done, sealed so that nobody but the consumers can write one.

A member taking over a partition sends no email the note says went out. Kafka lets
any principal that may commit for the group write the note, and the super user
anything, so a note is trusted only when:

- its seal, an HMAC-SHA256 made with ``CONSUMER_NOTE_KEY`` (which only the consumers
  hold) over the group, topic, partition, committed offset and last offset emailed,
  is right: a note copied to another group, partition or offset is refused too;
- the last offset emailed lies at or past the committed offset (the batch's first)
  and before the partition's end.

Any other note is refused (logged and counted): the emails it would have held back go
out. A note made with an earlier key is refused the same way, so a key rotated while
a batch is in flight re-sends at most that batch's emails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass

from fraudstream.runtime import metrics

log = logging.getLogger("fraudstream.consumer")

EMAILED_THROUGH = "emailed-through:"
_SEAL_BYTES = 16  # 128 bits of the HMAC: beyond guessing, and short in the offsets topic


@dataclass(frozen=True)
class CommitNotes:
    """Writes and reads the sealed notes of one consumer group."""

    key: bytes
    group: str

    def write(self, partition: tuple[str, int], committed: int, emailed_through: int) -> str:
        """The note that every record of ``partition`` from ``committed`` to
        ``emailed_through`` was emailed, for a commit of ``committed``."""
        seal = self._seal(partition, committed, emailed_through)
        return f"{EMAILED_THROUGH}{emailed_through}:{seal}"

    def read(
        self, partition: tuple[str, int], committed: int, metadata: str | None, end: int
    ) -> int | None:
        """The last offset emailed that the commit's ``metadata`` vouches for; None when
        it vouches for none (no note, or one refused). ``end`` is the partition's end."""
        if not metadata or not metadata.startswith(EMAILED_THROUGH):
            return None
        through, _, seal = metadata.removeprefix(EMAILED_THROUGH).partition(":")
        emailed_through = int(through) if through.isascii() and through.isdigit() else None
        if emailed_through is None:
            refusal = "a note that is not one"
        elif not hmac.compare_digest(seal, self._seal(partition, committed, emailed_through)):
            refusal = "a note without the consumers' seal"
        elif not committed <= emailed_through < end:
            refusal = "a note outside the partition's batch"
        else:
            return emailed_through
        log.warning(f"{refusal}; the emails go out", extra={"refused": metadata[:200]})
        metrics.LAKE_REFUSED.labels("note").inc()
        return None

    def _seal(self, partition: tuple[str, int], committed: int, emailed_through: int) -> str:
        topic, number = partition
        message = f"{self.group}\n{topic}\n{number}\n{committed}\n{emailed_through}".encode()
        digest = hmac.new(self.key, message, hashlib.sha256).digest()[:_SEAL_BYTES]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
