"""The generator against the published statistics of the full log and the real sample."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudstream.paysim.format import HEADER, java_double
from fraudstream.paysim.generator import write_csv
from fraudstream.paysim.payments import parse_block

JAVA_NUMBER = re.compile(r"^(0\.0|[1-9]\d*\.\d{1,2}|0\.\d{1,2}|[1-9]\.\d+E\d+)$")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("generator") / "paysim.csv"
    assert write_csv(path, rows=200_000, seed=5) == 200_000
    return path


@pytest.fixture(scope="module")
def frame(generated: Path) -> pd.DataFrame:
    return pd.read_csv(generated)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0.0"),
        (181.0, "181.0"),
        (9839.64, "9839.64"),
        (0.5, "0.5"),
        (1e7, "1.0E7"),
        (19169204.93, "1.916920493E7"),
        (92445516.64, "9.244551664E7"),
    ],
)
def test_numbers_are_printed_the_java_way(value: float, text: str) -> None:
    assert java_double(value) == text


def test_same_format_as_the_real_file(generated: Path, paysim_sample: Path) -> None:
    lines = generated.read_text().splitlines()
    assert lines[0] == HEADER == paysim_sample.read_text().splitlines()[0]
    for line in lines[1:5000]:
        fields = line.split(",")
        for money in (fields[2], fields[4], fields[5], fields[7], fields[8]):
            assert JAVA_NUMBER.match(money), line
        assert re.match(r"^C\d{1,10}$", fields[3]) and re.match(r"^[CM]\d{1,10}$", fields[6])
    block = parse_block(generated.read_bytes().split(b"\n", 1)[1], 2)
    assert block.rejected == [] and block.num_rows == 200_000


def test_type_mix_and_fraud_rate_match_the_full_log(frame: pd.DataFrame) -> None:
    published = {
        "CASH_OUT": 0.3517,
        "PAYMENT": 0.3381,
        "CASH_IN": 0.2199,
        "TRANSFER": 0.0838,
        "DEBIT": 0.0065,
    }
    shares = frame["type"].value_counts(normalize=True)
    for kind, share in published.items():
        assert shares[kind] == pytest.approx(share, rel=0.05, abs=0.002)
    assert frame["isFraud"].mean() == pytest.approx(8213 / 6_362_620, rel=0.1)
    assert set(frame.loc[frame["isFraud"] == 1, "type"]) == {"TRANSFER", "CASH_OUT"}
    assert frame.loc[frame["isFraud"] == 1, "amount"].max() <= 1e7


def test_amounts_match_the_published_quartiles(frame: pd.DataFrame) -> None:
    quartiles = frame["amount"].quantile([0.25, 0.5, 0.75]).to_numpy()
    np.testing.assert_allclose(quartiles, [13_389.57, 74_871.94, 208_721.5], rtol=0.15)
    assert frame["amount"].mean() == pytest.approx(179_862, rel=0.1)


def test_each_fraud_transfer_is_followed_by_its_cash_out(frame: pd.DataFrame) -> None:
    fraud = frame.index[frame["isFraud"] == 1].to_numpy()
    transfers = fraud[frame.loc[fraud, "type"].to_numpy() == "TRANSFER"]
    following = frame.loc[transfers + 1]
    assert (following["type"].to_numpy() == "CASH_OUT").all()
    assert (following["isFraud"].to_numpy() == 1).all()
    assert (following["amount"].to_numpy() == frame.loc[transfers, "amount"].to_numpy()).all()
    assert (following["step"].to_numpy() == frame.loc[transfers, "step"].to_numpy()).all()
    drained = frame.loc[transfers]
    assert ((drained["newbalanceOrig"] == 0) | (drained["amount"] == 1e7)).all()


def test_merchants_only_receive_payments_and_keep_zero_balances(frame: pd.DataFrame) -> None:
    merchants = frame[frame["nameDest"].str.startswith("M")]
    assert set(merchants["type"]) == {"PAYMENT"}
    assert (merchants[["oldbalanceDest", "newbalanceDest"]] == 0).all().all()
    assert not frame["nameOrig"].str.startswith("M").any()


def test_volume_follows_the_day_and_the_month(frame: pd.DataFrame) -> None:
    assert frame["step"].is_monotonic_increasing
    assert frame["step"].between(1, 743).all()
    hours = frame["step"] % 24
    assert hours.isin([3, 4, 5, 6]).mean() < 0.01
    assert (frame["step"] <= 400).mean() == pytest.approx(5.79 / 6.36, abs=0.02)


def test_real_sample_amounts_fall_in_the_generated_range(
    frame: pd.DataFrame, paysim_sample: Path
) -> None:
    real = pd.read_csv(paysim_sample)
    for kind in ("PAYMENT", "CASH_OUT", "TRANSFER"):
        generated_median = frame.loc[frame["type"] == kind, "amount"].median()
        real_median = real.loc[real["type"] == kind, "amount"].median()
        assert generated_median / 4 < real_median < generated_median * 4, kind


def test_the_same_seed_writes_the_same_file(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", rows=5000, seed=9)
    write_csv(tmp_path / "b.csv", rows=5000, seed=9)
    write_csv(tmp_path / "c.csv", rows=5000, seed=10)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()


def _balance_shapes(frame: pd.DataFrame) -> pd.DataFrame:
    """Per type of genuine row: how often the origin is empty, overdrawn, or balanced."""
    genuine = frame[frame["isFraud"] == 0]
    before, after, amount = genuine["oldbalanceOrg"], genuine["newbalanceOrig"], genuine["amount"]
    shapes = pd.DataFrame(
        {
            "type": genuine["type"],
            "empty": (before == 0) & (after == 0),
            "overdrawn": (amount > before) & (after == 0),
            "balanced": (before - amount - after).abs() < 0.005,
        }
    )
    return shapes.groupby("type").mean()


def test_genuine_balances_take_the_shapes_of_the_real_rows(
    frame: pd.DataFrame, paysim_sample: Path
) -> None:
    """What the detectors learn from: empty accounts, withdrawals larger than the balance
    (left at 0.0), and balances that account for the amount, as often as in real rows."""
    generated, real = _balance_shapes(frame), _balance_shapes(pd.read_csv(paysim_sample))
    np.testing.assert_allclose(generated.to_numpy(), real.to_numpy(), atol=0.16)


def test_no_genuine_row_drains_an_account_to_the_cent(frame: pd.DataFrame) -> None:
    genuine = frame[frame["isFraud"] == 0]
    drains = (genuine["amount"] == genuine["oldbalanceOrg"]) & (genuine["newbalanceOrig"] == 0)
    assert drains.sum() == 0


def test_fraud_drains_the_victim_in_pieces_of_the_transfer_limit(frame: pd.DataFrame) -> None:
    fraud = frame[frame["isFraud"] == 1]
    balanced = (fraud["oldbalanceOrg"] - fraud["amount"] - fraud["newbalanceOrig"]).abs() < 0.005
    assert balanced.all()
    at_limit = fraud[fraud["amount"] == 1e7]
    assert 0.01 < len(at_limit) / len(fraud) < 0.1  # 287 of 8,213 in the full log
    transfers = at_limit[at_limit["type"] == "TRANSFER"]
    assert (transfers["oldbalanceOrg"] >= 1e7).all()
    cash_outs = fraud[fraud["type"] == "CASH_OUT"]
    assert (
        (cash_outs["oldbalanceOrg"] == cash_outs["amount"]) & (cash_outs["newbalanceOrig"] == 0)
    ).all()
