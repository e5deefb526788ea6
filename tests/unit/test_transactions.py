"""Parsing and validating PaySim rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudstream.transactions import HEADER, NotPaySimError, check_header, parse_block

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
