"""One file with every kind of bad line, through the producer and both consumers as a user
runs them: every good row reaches the lake once, every bad line is quarantined with its
line number and reason, no customer hears from us twice, and every process exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from fraudstream.paysim.format import HEADER, MAX_REJECTED_TEXT
from fraudstream.settings.config import Settings
from fraudstream.topology import LakeFolder
from tests.integration.conftest import Stack
from tests.integration.kafka_reading import read_committed
from tests.integration.pipeline import (
    REPO_ROOT,
    environment,
    lake_records,
    mails_to,
    start_consumer,
    stop_once_caught_up,
)

GOOD_ROWS = 300
FRAUD_EVERY = 25


def _good(number: int) -> bytes:
    fraud = int(number % FRAUD_EVERY == 0)
    kind = "TRANSFER" if fraud else "PAYMENT"
    return (
        f"{1 + number // 50},{kind},{100 + number}.25,C{700000 + number},5000.0,"
        f"{4899.75 - number},M{900 + number},0.0,0.0,{fraud},0"
    ).encode()


# Each bad line, and what its reason must say.
BAD: list[tuple[bytes, str]] = [
    (b"1,PAYMENT,9839.64,C1231006815", "expected 11 columns, found 4"),
    (_good(1)[:40] + b"\xff\xfe" + _good(1)[40:], "bytes that are not UTF-8 text"),
    (b"1,PAYMENT," + b"9" * (3 * 1024 * 1024), "a line of 3,145,738 bytes"),
    (_good(2)[:25] + b"\r" + _good(2)[25:], "a carriage return inside the row"),
    (b"1,PAYMENT,1e400,C1,1.0,0.0,M1,0.0,0.0,0,0", "amount is '1e400', beyond"),
    (b"1,PAYMENT,1e-400,C1,1.0,0.0,M1,0.0,0.0,0,0", "amount is '1e-400', beyond"),
    (b"69898633,PAYMENT,5,C1,1.0,0.0,M1,0.0,0.0,0,0", "step is 69898633, expected 1 to"),
    (b"1,PAYMENT," + b"7" * 60_000 + b",C1,1.0,0.0,M1,0.0,0.0,0,0", "(60,000 characters)"),
    (b"1,PAYMENT," + b"x" * 600_000 + b",C1,1.0,0.0,M1,0.0,0.0,0,0", "a line of 600,036 bytes"),
    (b"1,PAYMENT,-3.0,C1,1.0,0.0,M1,0.0,0.0,0,0", "amount is negative"),
    (b"1,REFUND,3.0,C1,1.0,0.0,M1,0.0,0.0,0,0", "type is 'REFUND'"),
    (b'1,"PAYMENT",3.0,C1,1.0,0.0,M1,0.0,0.0,0,0', "type is '\"PAYMENT\"'"),
    (b"", "empty line"),
]


@pytest.fixture
def poison(tmp_path: Path) -> tuple[Path, dict[int, str], int]:
    """The file, the reason expected for each bad line by number, and the good rows."""
    lines = [b"\xef\xbb\xbf" + HEADER.encode()]  # a byte order mark, as spreadsheets write
    expected: dict[int, str] = {}
    bad = iter(BAD)
    for number in range(GOOD_ROWS):
        lines.append(_good(number) + (b"\r" if number % 7 == 0 else b""))  # some CRLF ends
        if number % 20 == 10 and (line := next(bad, None)) is not None:
            lines.append(line[0])
            expected[len(lines)] = line[1]
    assert len(expected) == len(BAD)
    path = tmp_path / "poison.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, expected, GOOD_ROWS


def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    finished = subprocess.run(
        [sys.executable, "-m", "fraudstream", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environment(settings, batch_max_seconds=1),
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished


def _consume_all(settings: Settings, logs: Path) -> None:
    """Both consumers, as processes, until they have committed what their topics hold."""
    logs.mkdir()
    for kind in ("non-fraud", "fraud"):
        log = logs / f"{kind}.log"
        member = start_consumer(settings, kind, log=log, batch_max_seconds=1)
        stop_once_caught_up([member], [log], settings, kind)


def test_a_poisoned_file_goes_through_with_nothing_lost_doubled_or_stopped(
    settings: Settings, stack: Stack, poison: tuple[Path, dict[int, str], int], tmp_path: Path
) -> None:
    path, expected, good = poison
    _run(settings, "produce", str(path))
    _consume_all(settings, tmp_path / "first")

    quarantine = read_committed(settings.kafka_bootstrap_servers, settings.rejected_topic)
    rejected = [json.loads(message.value() or b"{}") for message in quarantine]
    assert {r["line"]: r["reason"] for r in rejected}.keys() == expected.keys()
    for record in rejected:
        assert expected[record["line"]] in record["reason"], record["reason"]
        assert len(record["text"]) <= MAX_REJECTED_TEXT
        assert record["truncated"] == (record["length"] > MAX_REJECTED_TEXT)

    landed = lake_records(settings, LakeFolder.TRANSACTIONS)
    landed += lake_records(settings, LakeFolder.FRAUD_CASES)
    customers = Counter(str(record["nameOrig"]) for record in landed)
    assert customers == Counter(f"C{700000 + n}" for n in range(good))
    mails = mails_to(stack.mail_api_url, settings.customer_email_domain)
    assert Counter(m["to"][0]["address"] for m in mails) == Counter(
        f"C{700000 + n}@{settings.customer_email_domain}" for n in range(good)
    )

    _run(settings, "produce", str(path))  # again: nothing new
    _consume_all(settings, tmp_path / "again")
    assert len(mails_to(stack.mail_api_url, settings.customer_email_domain)) == good
    assert (
        len(lake_records(settings, LakeFolder.TRANSACTIONS))
        + len(lake_records(settings, LakeFolder.FRAUD_CASES))
        == good
    )
