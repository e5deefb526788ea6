"""Where a partition picks up after a crash, read from what already reached the lake.

A batch is written in a fixed order: the email log first, the consumer's own
folder last, then its offsets are committed. A crash can fall between any two
of those steps, so on taking over a partition a consumer looks past the
committed offset:

- a batch in its own folder is complete: reading resumes after it;
- an email log without its batch means those emails went out: the batch is
  redone over exactly the same offsets, so both objects are overwritten
  rather than doubled, and the emails the log shows are not sent again.

A batch's emails go out in slices while it gathers, long before its objects
are written. After each slice, the committed offset (still the batch's first)
carries a note of the last offset emailed (``emailed_through_note``): the
records up to there are not emailed again, whoever redoes them. Their log
entries, if the member died before it could write them, are lost; the redo
logs each of them as sent by an earlier owner (``sent_before_entry``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from google.cloud import storage

from fraudstream.storage import lake
from fraudstream.storage.batches import BatchKey, offset_name, partition_prefix
from fraudstream.topology import LakeFolder

log = logging.getLogger("fraudstream.consumer")


@dataclass(frozen=True)
class Recovery:
    """How to read one partition again after taking it over."""

    resume_offset: int | None = None  # None: from the committed offset
    replay_until: int | None = None  # the first batch must end at this offset
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # email log, by transaction id
    emailed_through: int | None = None  # the records up to this offset were emailed

    def past(self, last_offset: int) -> Recovery | None:
        """What is left to heed once the lake holds the records up to ``last_offset``."""
        if self.emailed_through is None or self.emailed_through <= last_offset:
            return None
        return Recovery(emailed_through=self.emailed_through)


EMAILED_THROUGH = "emailed-through:"


def emailed_through_note(last_offset: int) -> str:
    """The commit metadata saying every record up to ``last_offset`` was emailed."""
    return f"{EMAILED_THROUGH}{last_offset}"


def emailed_through(metadata: str | None) -> int | None:
    """The last offset emailed, from a committed offset's metadata; None if it says not."""
    if not metadata or not metadata.startswith(EMAILED_THROUGH):
        return None
    try:
        return int(metadata.removeprefix(EMAILED_THROUGH))
    except ValueError:
        return None


def recover(
    bucket: storage.Bucket,
    folder: LakeFolder,
    where: tuple[str, int],
    committed: int,
    note: str | None = None,
) -> Recovery:
    """The recovery for partition ``where`` (topic, number), whose consumer writes to
    ``folder``, from its committed offset and the ``note`` committed with it."""
    topic, partition = where
    start = max(committed, 0)
    done = _batches_from(bucket, folder, topic, partition, start)
    resume = max(key.last_offset for key in done) + 1 if done else start
    through = emailed_through(note)
    emailed = Recovery(
        resume_offset=resume if done else None,
        emailed_through=through if through is not None and through >= resume else None,
    )
    logged = _batches_from(bucket, LakeFolder.EMAIL_LOG, topic, partition, resume)
    if not logged:
        return emailed
    orphan = min(logged, key=lambda key: key.first_offset)
    return replace(
        emailed,
        replay_until=orphan.last_offset,
        sent=_email_log(bucket, orphan.object_name(LakeFolder.EMAIL_LOG)),
    )


def _batches_from(
    bucket: storage.Bucket, folder: LakeFolder, topic: str, partition: int, first_offset: int
) -> list[BatchKey]:
    prefix = partition_prefix(folder, topic, partition)
    names = lake.list_names(bucket, prefix, start_offset=prefix + offset_name(first_offset))
    keys = []
    for name in names:
        try:
            keys.append(BatchKey.from_object_name(name))
        except ValueError:  # someone else's object (a README, a copy): not ours to read
            log.warning("not a batch; left alone", extra={"object": name})
    return keys


def _email_log(bucket: storage.Bucket, name: str) -> dict[str, dict[str, Any]]:
    stored = lake.read_object(bucket, name)
    lines = stored.data.splitlines() if stored is not None else []
    entries = (json.loads(line) for line in lines if line)
    return {entry["transaction_id"]: entry for entry in entries}
