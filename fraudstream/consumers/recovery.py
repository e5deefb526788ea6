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
carries a note of the last offset emailed, sealed by the consumers (``notes``): the
records up to there are not emailed again, whoever redoes them. Their log
entries, if the member died before it could write them, are lost; the redo
logs each of them as sent by an earlier owner (``sent_before_entry``).

Nothing found is taken on trust that lies outside the partition: a batch name past
its end offset is refused (logged and counted), as is an email log line that is not
an entry of a record its object's name covers, and a note without its seal
(``notes``); the emails they would have held back go out.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from google.cloud import storage

from fraudstream.runtime import metrics
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


OFFSET_LIMIT = 2**63 - 1  # Kafka's offsets are signed 64-bit integers


def recover(
    bucket: storage.Bucket,
    folder: LakeFolder,
    where: tuple[str, int],
    committed: int,
    emailed_through: int | None = None,
    *,
    end: int = OFFSET_LIMIT,
) -> Recovery:
    """The recovery for partition ``where`` (topic, number), whose consumer writes to
    ``folder``, from its committed offset and the last offset emailed that the note
    committed with it vouches for (``notes.CommitNotes.read``); ``end`` is the
    partition's end offset (the next record's)."""
    topic, partition = where
    start = max(committed, 0)
    done = _batches_from(bucket, folder, (topic, partition, start), end)
    resume = max(key.last_offset for key in done) + 1 if done else start
    heeded = emailed_through is not None and emailed_through >= resume
    emailed = Recovery(
        resume_offset=resume if done else None, emailed_through=emailed_through if heeded else None
    )
    logged = _batches_from(bucket, LakeFolder.EMAIL_LOG, (topic, partition, resume), end)
    if not logged:
        return emailed
    orphan = min(logged, key=lambda key: key.first_offset)
    return replace(emailed, replay_until=orphan.last_offset, sent=_email_log(bucket, orphan))


def lake_batches(
    bucket: storage.Bucket, folder: LakeFolder, where: tuple[str, int], start: int
) -> list[BatchKey]:
    """The batches partition ``where`` (topic, number) has in ``folder`` from offset
    ``start`` on, in offset order."""
    found = _batches_from(bucket, folder, (*where, start), OFFSET_LIMIT)
    return sorted(found, key=lambda key: key.first_offset)


def emailed_but_unwritten(
    bucket: storage.Bucket, folder: LakeFolder, where: tuple[str, int], start: int
) -> list[BatchKey]:
    """The batches of partition ``where`` from offset ``start`` whose email log the lake
    holds but not their object in ``folder``: each one a consumer must redo, heeding the
    log (``recover`` heeds the first)."""
    written = {key.first_offset for key in lake_batches(bucket, folder, where, start)}
    logged = lake_batches(bucket, LakeFolder.EMAIL_LOG, where, start)
    return [key for key in logged if key.first_offset not in written]


def _batches_from(
    bucket: storage.Bucket, folder: LakeFolder, start: tuple[str, int, int], end: int
) -> list[BatchKey]:
    """The batches of a partition in ``folder`` from the offset ``start`` says to ``end``."""
    topic, partition, first_offset = start
    prefix = partition_prefix(folder, topic, partition)
    names = lake.list_names(bucket, prefix, start_offset=prefix + offset_name(first_offset))
    keys = []
    for name in names:
        try:
            key = BatchKey.from_object_name(name)
        except ValueError:  # someone else's object (a README, a copy): not ours to read
            log.warning("not a batch; left alone", extra={"object": name})
            continue
        if first_offset <= key.first_offset <= key.last_offset < end:
            keys.append(key)
        else:
            _refuse("batch", "a batch name outside the partition; not trusted", name)
    return keys


def _email_log(bucket: storage.Bucket, key: BatchKey) -> dict[str, dict[str, Any]]:
    """The entries of the email log of batch ``key``, by transaction id; a line that is not
    an entry of a record the name covers (its topic, partition and an offset from the
    first to the last) is left out, logged and counted once for the object."""
    name = key.object_name(LakeFolder.EMAIL_LOG)
    stored = lake.read_object(bucket, name)
    lines = stored.data.splitlines() if stored is not None else []
    entries, bad = {}, 0
    for line in filter(None, lines):
        entry = _entry(line, key)
        if entry is None:
            bad += 1
        else:
            entries[entry["transaction_id"]] = entry
    if bad:
        _refuse("email log line", f"{bad} lines of an email log are not its entries", name)
    return entries


def _entry(line: bytes, key: BatchKey) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("transaction_id"), str):
        return None
    offset = entry.get("offset")
    covered = isinstance(offset, int) and key.first_offset <= offset <= key.last_offset
    if not covered or (entry.get("topic"), entry.get("partition")) != (key.topic, key.partition):
        return None
    return entry


def _refuse(kind: str, message: str, what: object) -> None:
    log.warning(message, extra={"refused": what})
    metrics.LAKE_REFUSED.labels(kind).inc()
