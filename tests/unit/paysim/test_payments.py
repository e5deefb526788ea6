"""Parsing and validating PaySim rows."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudstream.paysim import format as paysim
from fraudstream.paysim import payments, raw_lines
from fraudstream.paysim.format import (
    COLUMNS,
    HEADER,
    MAX_REJECTED_TEXT,
    NotPaySimError,
    check_header,
)
from fraudstream.paysim.payments import Block, parse_block

GOOD = "1,PAYMENT,9839.64,C1231006815,170136.0,160296.36,M1979787155,0.0,0.0,0,0"


def test_every_real_row_is_valid_and_exact(paysim_sample: Path) -> None:
    header, data = paysim_sample.read_bytes().split(b"\n", 1)
    check_header(header.decode())
    block = parse_block(data, first_line=2)
    assert block.rejected == []
    assert block.num_rows == 2688
    assert block.lines[0] == 2 and block.lines[-1] == 2689
    assert sum(block.rows["isFraud"].to_pylist()) == 16
    first = block.rows.slice(0, 1).to_pylist()[0]
    assert first["amount"] == 9839.64 and first["newbalanceOrig"] == 160296.36


def test_java_numbers_and_pandas_flags() -> None:
    row = "743,TRANSFER,1.916920493E7,C1,1.0E7,0.0,C2,9.2445516644E7,0.0,1.0,0.0"
    block = parse_block(row.encode() + b"\n", first_line=5)
    values = block.rows.to_pylist()[0]
    assert values["amount"] == 19169204.93
    assert values["oldbalanceDest"] == 92445516.644
    assert values["isFraud"] is True and values["isFlaggedFraud"] is False
    assert block.lines.tolist() == [5]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("1,PAYMENT,9839.64,C1", "expected 11 columns, found 4"),
        (GOOD + ",extra", "expected 11 columns, found 12"),
        (
            "1,PAYMENT,abc,C1,1.0,0.0,M1,0.0,0.0,0,0",
            "amount is 'abc', expected a non-negative number",
        ),
        ("1,PAYMENT,-5.0,C1,1.0,0.0,M1,0.0,0.0,0,0", "amount is negative: '-5.0'"),
        ("1,REFUND,5.0,C1,1.0,0.0,M1,0.0,0.0,0,0", "type is 'REFUND', expected one of"),
        ("1,PAYMENT,5.0,C1,1.0,0.0,M1,0.0,0.0,2,0", "isFraud is '2', expected 0 or 1"),
        ("x,PAYMENT,5.0,C1,1.0,0.0,M1,0.0,0.0,0,0", "step is 'x'"),
        ("1,PAYMENT,5.0,Bob,1.0,0.0,M1,0.0,0.0,0,0", "nameOrig is 'Bob'"),
        ("1,PAYMENT,5.0,C1,1.0,,M1,0.0,0.0,0,0", "newbalanceOrig is ''"),
        ("", "empty line"),
    ],
)
def test_a_bad_row_is_rejected_with_its_line_and_reason(row: str, reason: str) -> None:
    data = f"{GOOD}\n{row}\n{GOOD}\n".encode()
    block = parse_block(data, first_line=10)
    assert block.num_rows == 2
    assert block.lines.tolist() == [10, 12]
    assert len(block.rejected) == 1
    rejected = block.rejected[0]
    assert rejected.line == 11
    assert rejected.reason.startswith(reason)
    assert rejected.text == row


def test_line_numbers_stay_right_around_several_bad_rows() -> None:
    rows = [GOOD, "short,row", GOOD, "1,PAYMENT,bad,C1,1.0,0.0,M1,0.0,0.0,0,0", "a,b", GOOD]
    block = parse_block(("\n".join(rows) + "\n").encode(), first_line=100)
    assert block.lines.tolist() == [100, 102, 105]
    assert [r.line for r in block.rejected] == [101, 103, 104]


def test_a_file_without_the_header_is_refused() -> None:
    check_header(HEADER + "\n")
    with pytest.raises(NotPaySimError, match="not a PaySim CSV"):
        check_header(GOOD)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (GOOD.encode()[:30] + b"\xff\xfe" + GOOD.encode()[30:], "bytes that are not UTF-8 text"),
        (GOOD.encode()[:20] + b"\r" + GOOD.encode()[20:], "a carriage return inside the row"),
        (b"1,PAYMENT," + b"9" * 3_000_000, "a line of 3,000,010 bytes"),
    ],
    ids=["not-utf8", "bare-carriage-return", "3-MB-line"],
)
def test_a_line_the_reader_cannot_take_is_rejected_alone(line: bytes, reason: str) -> None:
    data = b"\n".join([GOOD.encode(), line, GOOD.encode(), GOOD.encode()]) + b"\n"
    block = parse_block(data, first_line=7)
    assert block.lines.tolist() == [7, 9, 10]
    assert [(r.line, r.reason[: len(reason)]) for r in block.rejected] == [(8, reason)]
    rejected = block.rejected[0]
    assert len(rejected.text) <= MAX_REJECTED_TEXT
    assert rejected.truncated == (len(line) > MAX_REJECTED_TEXT)


def test_crlf_line_ends_are_fine() -> None:
    block = parse_block(f"{GOOD}\r\n{GOOD}\r\n".encode(), first_line=2)
    assert block.rejected == [] and block.lines.tolist() == [2, 3]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("1,PAYMENT,1e400,C1,1.0,0.0,M1,0.0,0.0,0,0", "amount is '1e400', beyond what a double"),
        ("1,PAYMENT,1e-400,C1,1.0,0.0,M1,0.0,0.0,0,0", "amount is '1e-400', beyond"),
        ("1,PAYMENT,5,C1,1e309,0.0,M1,0.0,0.0,0,0", "oldbalanceOrg is '1e309'"),
        ("0,PAYMENT,5,C1,1.0,0.0,M1,0.0,0.0,0,0", "step is 0, expected 1 to 1,000,000"),
        ("69898633,PAYMENT,5,C1,1.0,0.0,M1,0.0,0.0,0,0", "step is 69898633, expected 1 to"),
    ],
)
def test_numbers_that_do_not_survive_conversion_are_rejected(row: str, reason: str) -> None:
    block = parse_block(f"{GOOD}\n{row}\n".encode(), first_line=2)
    assert block.lines.tolist() == [2]
    assert [(r.line, r.reason[: len(reason)], r.text) for r in block.rejected] == [(3, reason, row)]


def test_zero_written_any_way_is_still_zero() -> None:
    row = "1,PAYMENT,0e5,C1,00.000,0,M1,0.0,0E-3,0,0"
    assert parse_block(f"{row}\n".encode(), first_line=2).rejected == []


def test_a_huge_value_is_shown_cut_in_the_reason_and_the_text() -> None:
    row = "1,PAYMENT," + "x" * 60_000 + ",C1,1.0,0.0,M1,0.0,0.0,0,0"
    rejected = parse_block(f"{row}\n".encode(), first_line=2).rejected[0]
    assert len(rejected.reason) < 200 and "60,000 characters" in rejected.reason
    assert len(rejected.text) == MAX_REJECTED_TEXT and rejected.length == len(row)


def test_quotes_are_plain_characters() -> None:
    block = parse_block(b'1,"PAYMENT",5,C1,1.0,0.0,M1,0.0,0.0,0,0\n' + GOOD.encode() + b"\n", 2)
    assert block.lines.tolist() == [3]
    assert block.rejected[0].reason.startswith("type is '\"PAYMENT\"'")


_LINE = st.one_of(
    st.binary(max_size=120),
    st.lists(
        st.one_of(
            st.sampled_from(["1", "743", "PAYMENT", "C1", "M2", "0", "1.0", "9E7", "-1", "", "é"]),
            st.text(max_size=8),
        ),
        min_size=0,
        max_size=13,
    ).map(lambda fields: ",".join(fields).encode("utf-8", errors="surrogatepass")),
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_LINE, min_size=1, max_size=40), first_line=st.integers(2, 10_000))
def test_any_bytes_give_one_outcome_a_line_and_never_raise(
    lines: list[bytes], first_line: int
) -> None:
    data = b"".join(line.replace(b"\n", b" ") + b"\n" for line in lines)
    block = parse_block(data, first_line)
    numbers = block.lines.tolist() + [r.line for r in block.rejected]
    assert sorted(numbers) == list(range(first_line, first_line + len(lines)))
    assert block.rows.num_rows == len(block.lines)
    assert all(len(r.text) <= MAX_REJECTED_TEXT for r in block.rejected)


_NEAR_MISSES = [
    "",
    "-1",
    "1.",
    ".5",
    "1e",
    "+1",
    " 1",
    "1 ",
    "C",
    "c1",
    "M12345678901",
    "2",
    "0.00",
    "1E+5",
    "PAYMENT ",
    "payment",
    "é",
    "1\r",
    "1,2",
    "1234567890",
]


_GOOD_FIELDS = st.tuples(
    *(
        st.from_regex(
            paysim.FIELD_PATTERNS[name], fullmatch=True, alphabet="0123456789.eE+-CMPAYNTSHIUOBDFR_"
        )
        for name in COLUMNS
    )
)


@st.composite
def _rows(draw: st.DrawFn) -> str:
    """A good row, or one with a single field replaced by a near miss."""
    fields = list(draw(_GOOD_FIELDS))
    if draw(st.booleans()):
        fields[draw(st.integers(0, len(COLUMNS) - 1))] = draw(st.sampled_from(_NEAR_MISSES))
    return ",".join(fields)


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(_rows(), min_size=1, max_size=8), line_end=st.sampled_from(["\n", "\r\n"]))
def test_the_one_pattern_a_line_changes_no_outcome(rows: list[str], line_end: str) -> None:
    """A block the line pattern calls good is one the column checks find nothing wrong in."""
    data = "".join(row + line_end for row in rows).encode()
    quick, checked = _parsed_both_ways(data)
    assert quick.rejected == checked.rejected
    assert quick.lines.tolist() == checked.lines.tolist()
    assert quick.rows.equals(checked.rows)
    if not checked.rejected:
        assert _takes_the_one_pattern(data)


def _takes_the_one_pattern(data: bytes) -> bool:
    return raw_lines.every_line_good(data, raw_lines.line_ends(data))


def _parsed_both_ways(data: bytes) -> tuple[Block, Block]:
    quick = parse_block(data, first_line=2)
    with mock.patch.object(payments, "every_line_good", return_value=False):
        return quick, parse_block(data, first_line=2)


def test_every_near_miss_in_every_column_is_seen_by_the_one_pattern() -> None:
    good = GOOD.split(",")
    for index, name in enumerate(COLUMNS):
        for miss in _NEAR_MISSES:
            row = ",".join([*good[:index], miss, *good[index + 1 :]])
            quick, checked = _parsed_both_ways(row.encode() + b"\n")
            assert quick.rejected == checked.rejected, (name, miss)
            assert quick.rows.equals(checked.rows), (name, miss)


def test_a_clean_block_takes_the_one_pattern() -> None:
    data = (GOOD + "\n").encode() * 3 + b"743,TRANSFER,1.9E7,C1,1.0E7,0.0,C2,9.2E7,0.0,1.0,0.0\r\n"
    assert _takes_the_one_pattern(data)
    assert not _takes_the_one_pattern(data + b"\n")  # an empty line
    assert not _takes_the_one_pattern(data.rstrip(b"\n"))  # no line end: the checks decide
