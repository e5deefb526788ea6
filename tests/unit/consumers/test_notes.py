"""Commit notes: only the consumers can write one a member taking over will heed."""

from __future__ import annotations

import secrets

import pytest
from prometheus_client import REGISTRY

from fraudstream.consumers.notes import CommitNotes

KEY = secrets.token_urlsafe(32).encode()
NOTES = CommitNotes(KEY, "fraud-confirmer")
PARTITION = ("fraud_transaction", 2)


def _refused() -> float:
    value = REGISTRY.get_sample_value(
        "fraudstream_consumer_recovery_refused_total", {"kind": "note"}
    )
    return value or 0.0


def test_a_sealed_note_is_read_back_as_written() -> None:
    note = NOTES.write(PARTITION, 10, 14)
    assert note.startswith("emailed-through:14:")
    assert NOTES.read(PARTITION, 10, note, end=100) == 14
    assert NOTES.read(PARTITION, 10, NOTES.write(PARTITION, 10, 10), end=100) == 10


@pytest.mark.parametrize("metadata", [None, "", "someone else's metadata"])
def test_a_commit_without_a_note_vouches_for_nothing(metadata: str | None) -> None:
    before = _refused()
    assert NOTES.read(PARTITION, 10, metadata, end=100) is None
    assert _refused() == before


@pytest.mark.parametrize(
    "forged",
    [
        "emailed-through:9223372036854775807",  # the finding: every email held back
        "emailed-through:99",  # the format before notes were sealed
        "emailed-through:99:",
        "emailed-through:99:AAAAAAAAAAAAAAAAAAAAAA",
        "emailed-through:x:y",
        CommitNotes(secrets.token_urlsafe(32).encode(), "fraud-confirmer").write(PARTITION, 10, 99),
        CommitNotes(KEY, "non-fraud-notifier").write(PARTITION, 10, 99),  # another group's
        NOTES.write(("fraud_transaction", 1), 10, 99),  # another partition's
        NOTES.write(PARTITION, 0, 99),  # committed at another offset
        NOTES.write(PARTITION, 10, 99).replace(":99:", ":98:"),  # its offset changed
    ],
)
def test_a_note_without_the_consumers_seal_is_refused_and_counted(forged: str) -> None:
    before = _refused()
    assert NOTES.read(PARTITION, 10, forged, end=100) is None
    assert _refused() == before + 1


@pytest.mark.parametrize(("committed", "through"), [(10, 9), (10, 100), (10, 2**63 - 1)])
def test_a_sealed_note_outside_the_batch_is_refused(committed: int, through: int) -> None:
    """Before the committed offset (the batch's first), or at or past the partition's end:
    no batch could have sent those emails, whoever sealed it."""
    before = _refused()
    assert NOTES.read(PARTITION, committed, NOTES.write(PARTITION, committed, through), 100) is None
    assert _refused() == before + 1
