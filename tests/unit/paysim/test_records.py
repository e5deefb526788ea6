from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from fraudstream.paysim.payments import parse_block
from fraudstream.paysim.records import EmailDirectory, to_records
from fraudstream.settings.config import ConfigError

ROWS = (
    b"1,PAYMENT,9839.64,C1231006815,170136.0,160296.36,M1979787155,0.0,0.0,0,0\n"
    b"3,TRANSFER,181.0,C1305486145,181.0,0.0,C553264065,0.0,0.0,1,0\n"
    b"1,PAYMENT,9839.64,C1231006815,170136.0,160296.36,M1979787155,0.0,0.0,0,0\n"
)
START = datetime(2026, 3, 1, tzinfo=UTC)


def _records(data: bytes = ROWS, first_line: int = 2) -> pa.Table:
    return to_records(parse_block(data, first_line), START, EmailDirectory("bank.example", {}))


def test_ids_are_deterministic_and_distinct() -> None:
    ids = _records()["transaction_id"].to_pylist()
    assert ids == _records()["transaction_id"].to_pylist()
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == 3  # rows 1 and 3 are equal but on different lines


def test_an_id_depends_on_the_values_and_the_line() -> None:
    first = _records()["transaction_id"][0].as_py()
    assert _records(first_line=3)["transaction_id"][0].as_py() != first
    changed = ROWS.replace(b"9839.64", b"9839.65", 1)
    assert _records(changed)["transaction_id"][0].as_py() != first


def test_event_time_is_start_plus_step_hours() -> None:
    times = _records()["event_time"].to_pylist()
    start_ms = int(START.timestamp() * 1000)
    assert times == [start_ms, start_ms + 2 * 3_600_000, start_ms]


def test_customer_email_defaults_to_the_domain_and_follows_a_mapping(tmp_path: Path) -> None:
    assert _records()["customer_email"][0].as_py() == "C1231006815@bank.example"
    mapping = tmp_path / "emails.csv"
    mapping.write_text("nameOrig,email\nC1305486145,ana@example.org\n")
    emails = EmailDirectory.load("bank.example", mapping)
    records = to_records(parse_block(ROWS, 2), START, emails)
    assert records["customer_email"].to_pylist() == [
        "C1231006815@bank.example",
        "ana@example.org",
        "C1231006815@bank.example",
    ]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"nameOrig\nC1\n", "the first line must be nameOrig,email"),
        (b"name,address\nC1,a@b.example\n", "the first line must be nameOrig,email"),
        (b"nameOrig,email\nC1,a@b.example\nC2\n", "line 3: expected nameOrig,email, found 1"),
        (b"nameOrig,email\nC1,j\xc3\xb6rg@b.example\n", "line 2: 'jörg@b.example' has non-ASCII"),
        (b"nameOrig,email\nC1,c3@b\xc3\xbccher.example\n", "line 2: 'c3@bücher.example'"),
        (b'nameOrig,email\nC1,"a@b.example\r\nBcc: x@y.example"\n', "line 2:"),
        (b"nameOrig,email\nC1,\xff@b.example\n", "not UTF-8 text"),
    ],
    ids=["one-column", "other-header", "no-email", "non-ascii", "idn", "crlf", "not-utf8"],
)
def test_a_bad_emails_file_is_refused_at_start_naming_the_line(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "emails.csv"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="CUSTOMER_EMAILS_FILE") as refused:
        EmailDirectory.load("bank.example", path)
    assert says in str(refused.value)


def test_an_emails_file_with_a_byte_order_mark_and_crlf_is_read(tmp_path: Path) -> None:
    path = tmp_path / "emails.csv"
    path.write_bytes(b"\xef\xbb\xbfnameOrig,email\r\nC1,a@b.example\r\n\r\nC2, c@d.example \r\n")
    assert EmailDirectory.load("bank.example", path).known == {
        "C1": "a@b.example",
        "C2": "c@d.example",
    }


def test_an_emails_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"CUSTOMER_EMAILS_FILE: .*cannot read it"):
        EmailDirectory.load("bank.example", tmp_path)  # a folder, not a file
