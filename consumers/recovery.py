"""Where a partition picks up after a crash, read from what already reached the lake.

A batch is written in a fixed order: the email log first, the consumer's own
folder last, then its offsets are committed. A crash can fall between any two
of those steps, so on taking over a partition a consumer looks past the
committed offset:

- a batch in its own folder is complete: reading resumes after it;
- an email log without its batch means those emails went out: the batch is
  redone over exactly the same offsets, so both objects are overwritten
  rather than doubled, and the emails the log shows are not sent again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from google.cloud import storage

from fraudstream import lake
from fraudstream.batches import BatchKey, offset_name, partition_prefix
from fraudstream.topology import LakeFolder

log = logging.getLogger("fraudstream.consumer")


@dataclass(frozen=True)
class Recovery:
    """How to read one partition again after taking it over."""

    resume_offset: int | None = None  # None: from the committed offset
    replay_until: int | None = None  # the first batch must end at this offset
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # email log, by transaction id


def recover(
    bucket: storage.Bucket, folder: LakeFolder, topic: str, partition: int, committed: int
) -> Recovery:
    """The recovery for ``partition`` of ``topic``, whose consumer writes to ``folder``."""
    start = max(committed, 0)
    done = _batches_from(bucket, folder, topic, partition, start)
    resume = max(key.last_offset for key in done) + 1 if done else start
    logged = _batches_from(bucket, LakeFolder.EMAIL_LOG, topic, partition, resume)
    if not logged:
        return Recovery(resume_offset=resume if done else None)
    orphan = min(logged, key=lambda key: key.first_offset)
    return Recovery(
        resume_offset=resume if done else None,
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
