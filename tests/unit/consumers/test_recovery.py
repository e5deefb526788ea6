"""Recovery from the lake: where a partition resumes, and what a redo resends."""

from __future__ import annotations

import json
from typing import cast

import pytest
from google.cloud import storage
from prometheus_client import REGISTRY

from fraudstream.consumers.recovery import Recovery, recover
from fraudstream.storage.batches import BatchKey
from fraudstream.topology import LakeFolder
from tests.fakes import MemoryBucket


def _batch(
    folder: LakeFolder, first: int, last: int, ids: list[str] | None = None
) -> dict[str, bytes]:
    lines = [_line(i, first + n) for n, i in enumerate(ids or [])]
    return {BatchKey("t", 0, first, last).object_name(folder): b"".join(lines)}


def _line(transaction_id: str, offset: int, topic: str = "t", partition: int = 0) -> bytes:
    """An email log entry of the record at ``offset``, as the consumers write it."""
    where = {"topic": topic, "partition": partition, "offset": offset}
    return (
        json.dumps({"transaction_id": transaction_id, "status": "sent", **where}).encode() + b"\n"
    )


def _recover(
    objects: dict[str, bytes], committed: int, emailed_through: int | None = None, end: int = 1_000
) -> Recovery:
    bucket = cast(storage.Bucket, MemoryBucket(objects))
    return recover(bucket, LakeFolder.TRANSACTIONS, ("t", 0), committed, emailed_through, end=end)


def test_recovery_starts_at_the_commit_when_the_lake_has_nothing_past_it() -> None:
    lake = {**_batch(LakeFolder.TRANSACTIONS, 0, 9), **_batch(LakeFolder.EMAIL_LOG, 0, 9)}
    assert _recover(lake, committed=10) == Recovery()
    assert _recover({}, committed=-1001) == Recovery()


def test_recovery_skips_a_batch_written_but_not_committed() -> None:
    done, logged = LakeFolder.TRANSACTIONS, LakeFolder.EMAIL_LOG
    lake = {
        **_batch(done, 0, 9),
        **_batch(logged, 0, 9),
        **_batch(done, 10, 19),
        **_batch(logged, 10, 19),
    }
    assert _recover(lake, committed=10) == Recovery(resume_offset=20)


def test_recovery_redoes_exactly_a_batch_whose_emails_were_logged() -> None:
    lake = {
        **_batch(LakeFolder.TRANSACTIONS, 0, 9),
        **_batch(LakeFolder.EMAIL_LOG, 0, 9),
        **_batch(LakeFolder.EMAIL_LOG, 10, 24, ["a", "b"]),
    }
    found = _recover(lake, committed=0)
    assert found.resume_offset == 10 and found.replay_until == 24
    assert set(found.sent) == {"a", "b"}


def test_recovery_leaves_objects_that_are_not_batches_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    prefix = "transaction/topic=t/partition=000/"
    lake = {
        **_batch(LakeFolder.TRANSACTIONS, 0, 9),
        f"{prefix}README.txt": b"notes",
        f"{prefix}00000000000000000010-00000000000000000019 (1).jsonl": b"",
    }
    assert _recover(lake, committed=0) == Recovery(resume_offset=10)
    assert sum("not a batch" in record.getMessage() for record in caplog.records) == 2


def test_the_commits_note_of_the_emails_sent_counts_while_it_is_past_the_lake() -> None:
    """Up to the noted offset, the records were emailed; a note the lake has passed (a
    batch written and its commit lost) says nothing."""
    assert _recover({}, committed=10, emailed_through=14).emailed_through == 14
    written = _batch(LakeFolder.TRANSACTIONS, 10, 19)
    assert _recover(written, committed=10, emailed_through=14) == Recovery(resume_offset=20)
    left = Recovery(emailed_through=14)
    assert left.past(9) == left and left.past(14) is None


def _refused(kind: str) -> float:
    value = REGISTRY.get_sample_value("fraudstream_consumer_recovery_refused_total", {"kind": kind})
    return value or 0.0


@pytest.mark.parametrize(
    ("first", "last"), [(10, 2**63 - 1), (10, 10**19), (10, 100), (20, 15)], ids=str
)
def test_a_planted_batch_outside_the_partition_is_not_trusted(first: int, last: int) -> None:
    """A batch named past the end would skip real records (or, past Kafka's offsets, stop
    every start); one that ends before it begins is no batch either."""
    before = _refused("batch")
    for folder in (LakeFolder.TRANSACTIONS, LakeFolder.EMAIL_LOG):
        assert _recover(_batch(folder, first, last), committed=10, end=100) == Recovery()
    assert _refused("batch") == before + 2


def test_an_email_log_line_that_is_not_an_entry_of_its_batch_is_left_out() -> None:
    """Only entries of the records the object's name covers count: anything else (not an
    entry, or another partition's or offset's, planted to hold an email back) is left out."""
    name = BatchKey("t", 0, 10, 19).object_name(LakeFolder.EMAIL_LOG)
    lines = [b'{"transaction_id": "x"}\n', b"not json\n", b"[1]\n", b'{"status": "sent"}\n']
    planted = [_line("y", 20), _line("z", 12, partition=1), _line("w", 12, topic="other")]
    log = b"".join([_line("a", 10), *lines, b"\xff\n", *planted, _line("b", 19)])
    before = _refused("email log line")
    found = _recover({name: log}, committed=10, end=100)
    assert found.replay_until == 19 and set(found.sent) == {"a", "b"}
    assert _refused("email log line") == before + 1
