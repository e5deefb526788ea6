"""PaySim-like rows with the published statistics of the real log.

What it reproduces (see ``../shared/data/paysim/README.md``): the header and
Java number format; the type mix; per-type amount distributions; merchants
(``M...``) only as PAYMENT destinations with balances ``0.0,0.0``; a 24-hour
cycle with almost nothing at hours 3-6 and volume front-loaded into steps
1-400; the origin balances of genuine rows per type (how often the account
is empty, and how a withdrawal larger than the balance leaves it at 0.0,
as in the real log); fraud (0.129 % of rows) only as account-draining
TRANSFER rows each followed by a mule's CASH_OUT of the same amount in the
same step. A victim holding more than 1.0E7 is drained in transfers of
1.0E7 and a last one of the rest, as PaySim's transfer limit makes it; a
victim holding nothing yields a pair of 0.0. Rows are generated a day at a
time, so memory stays flat for any size.

What it does not produce: the few real frauds that are a victim's own
CASH_OUT larger than its balance, which no field known at authorisation
tells from a genuine one (``docs/detectors.md``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fraudstream.paysim.format import HEADER, java_double

STEPS = 743
TYPE_SHARES = {  # rows of the full log, fraud excluded, by type
    "CASH_OUT": 2_233_384,
    "PAYMENT": 2_151_495,
    "CASH_IN": 1_399_284,
    "TRANSFER": 528_812,
    "DEBIT": 41_432,
}
# Log-normal amounts: (log of the median, sigma), fitted to the full log's mean and quartiles.
AMOUNTS = {
    "CASH_OUT": (np.log(125_000), 0.90),
    "PAYMENT": (np.log(9_482), 0.80),
    "CASH_IN": (np.log(125_000), 0.85),
    "TRANSFER": (np.log(430_000), 1.12),
    "DEBIT": (np.log(3_049), 1.08),
}
# Genuine origin balances by type: (share of empty accounts, log of the median of the
# others, sigma), read off the real sample's step 1 and the full log's 47 % of empty
# accounts among genuine TRANSFER and CASH_OUT rows.
BALANCES = {
    "CASH_OUT": (0.55, 10.6, 2.2),
    "PAYMENT": (0.16, 11.0, 2.1),
    "CASH_IN": (0.02, 15.1, 1.2),
    "TRANSFER": (0.45, 10.3, 2.6),
    "DEBIT": (0.01, 10.1, 1.8),
}
FRAUD_SHARE = 8_213 / 6_362_620
FRAUD_CAP = 10_000_000.0  # PaySim's transfer limit: larger thefts are split into pieces
# Victims' balances: log-normal, so that about 3.5 % of fraud rows move exactly 1.0E7.
VICTIM_BALANCE = (13.1, 1.6)
EMPTY_VICTIM_SHARE = 16 / 8_213  # frauds of amount 0.0
MAX_AMOUNT = 92_445_516.64
# Relative volume by hour of day (step % 24): busy days, quiet nights.
HOURLY = np.array(
    [
        0.35,
        0.15,
        0.06,
        0.02,
        0.01,
        0.01,
        0.02,
        0.05,
        0.25,
        0.60,
        0.85,
        0.95,
        1.00,
        1.00,
        0.95,
        0.90,
        0.95,
        1.00,
        1.00,
        0.95,
        0.80,
        0.65,
        0.50,
        0.45,
    ]
)
LATE_VOLUME = 0.115  # steps after 400 run at this share of the earlier volume
DAY = 24


def step_weights() -> np.ndarray:
    steps = np.arange(1, STEPS + 1)
    weights = HOURLY[steps % DAY] * np.where(steps <= 400, 1.0, LATE_VOLUME)
    return np.asarray(weights / weights.sum())


@dataclass
class _Columns:
    step: np.ndarray
    kind: np.ndarray
    amount: np.ndarray
    name_orig: np.ndarray
    old_orig: np.ndarray
    new_orig: np.ndarray
    name_dest: np.ndarray
    old_dest: np.ndarray
    new_dest: np.ndarray
    fraud: np.ndarray
    flagged: np.ndarray


def write_csv(path: Path, rows: int, seed: int) -> int:
    """Write ``rows`` PaySim-like rows (fraud pairs included) to ``path``; return the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("wb") as handle:
        handle.write(HEADER.encode() + b"\n")
        for day in csv_days(rows, seed):
            handle.write(day)
            written += day.count(b"\n")
    return written


def csv_days(rows: int, seed: int) -> Iterator[bytes]:
    """The CSV lines of ``rows`` PaySim-like rows (no header), a day of steps at a time."""
    for columns in generate(rows, seed):
        yield "".join(_lines(columns)).encode()


def generate(rows: int, seed: int) -> Iterator[_Columns]:
    """The rows, a day of steps at a time, in step order."""
    rng = np.random.default_rng(seed)
    pairs = round(rows * FRAUD_SHARE / 2)
    normal_per_step = rng.multinomial(rows - 2 * pairs, step_weights())
    pairs_per_step = rng.multinomial(pairs, np.full(STEPS, 1 / STEPS))
    for first in range(0, STEPS, DAY):
        days = slice(first, min(first + DAY, STEPS))
        steps = np.arange(days.start + 1, days.stop + 1)
        normal = _normal_rows(rng, np.repeat(steps, normal_per_step[days]))
        fraud = _fraud_pairs(rng, np.repeat(steps, pairs_per_step[days]))
        yield _interleave(rng, normal, fraud)


def _names(rng: np.random.Generator, prefix: str, count: int) -> np.ndarray:
    return np.char.add(prefix, rng.integers(10_000_000, 2_147_483_647, count).astype(str))


def _money(values: np.ndarray) -> np.ndarray:
    return np.round(values, 2)


def _normal_rows(rng: np.random.Generator, steps: np.ndarray) -> _Columns:
    count = len(steps)
    kinds = np.array(list(TYPE_SHARES))
    shares = np.array(list(TYPE_SHARES.values()), dtype=float)
    kind = rng.choice(kinds, size=count, p=shares / shares.sum())
    amount = np.zeros(count)
    for name, (median_log, sigma) in AMOUNTS.items():
        chosen = kind == name
        amount[chosen] = rng.lognormal(median_log, sigma, int(chosen.sum()))
    amount = _money(np.minimum(amount, MAX_AMOUNT))
    old_orig = _origin_balances(rng, kind)
    incoming = kind == "CASH_IN"
    new_orig = np.where(incoming, old_orig + amount, np.maximum(old_orig - amount, 0.0))
    merchant = kind == "PAYMENT"
    name_dest = np.where(merchant, _names(rng, "M", count), _names(rng, "C", count))
    old_dest = _money(np.where(rng.random(count) < 0.4, 0.0, rng.lognormal(13.0, 1.5, count)))
    old_dest = np.where(merchant, 0.0, old_dest)
    new_dest = np.where(incoming, np.maximum(old_dest - amount, 0.0), old_dest + amount)
    new_dest = np.where(merchant, 0.0, new_dest)
    return _Columns(
        steps,
        kind,
        amount,
        _names(rng, "C", count),
        old_orig,
        _money(new_orig),
        name_dest,
        old_dest,
        _money(new_dest),
        np.zeros(count, bool),
        np.zeros(count, bool),
    )


def _origin_balances(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
    balance = np.zeros(len(kind))
    for name, (empty_share, median_log, sigma) in BALANCES.items():
        chosen = np.flatnonzero(kind == name)
        held = rng.random(len(chosen)) >= empty_share
        balance[chosen[held]] = rng.lognormal(median_log, sigma, int(held.sum()))
    return _money(np.minimum(balance, MAX_AMOUNT))


def _victims(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Who is robbed in each of ``count`` transfers, and their balance before it.

    A victim above ``FRAUD_CAP`` is robbed in several transfers, each on a
    balance ``FRAUD_CAP`` lower; the last victim's pieces may be cut short.
    """
    balance = _money(rng.lognormal(*VICTIM_BALANCE, count))
    balance[rng.random(count) < EMPTY_VICTIM_SHARE] = 0.0
    pieces = np.maximum(np.ceil(balance / FRAUD_CAP), 1).astype(np.int64)
    victim = np.repeat(np.arange(count), pieces)[:count]
    piece = np.arange(count) - (np.cumsum(pieces) - pieces)[victim]
    return victim, _money(balance[victim] - piece * FRAUD_CAP)


def _fraud_pairs(rng: np.random.Generator, steps: np.ndarray) -> _Columns:
    """Each pair: a TRANSFER from a victim to a mule, then the mule's CASH_OUT of it all."""
    count = len(steps)
    victim, balance = _victims(rng, count)
    amount = np.minimum(balance, FRAUD_CAP)
    mule_balance = _money(np.where(rng.random(count) < 0.5, 0.0, rng.lognormal(12.0, 1.5, count)))
    transfer = _Columns(
        steps,
        np.full(count, "TRANSFER"),
        amount,
        _names(rng, "C", count)[victim],
        balance,
        _money(balance - amount),
        _names(rng, "C", count),
        np.zeros(count),
        np.zeros(count),
        np.ones(count, bool),
        rng.random(count) < 16 / 4_097,
    )
    cash_out = _Columns(
        steps,
        np.full(count, "CASH_OUT"),
        amount,
        _names(rng, "C", count),
        amount,
        np.zeros(count),
        _names(rng, "C", count),
        mule_balance,
        _money(mule_balance + amount),
        np.ones(count, bool),
        np.zeros(count, bool),
    )
    return _Columns(*(np.stack([a, b], axis=1).ravel() for a, b in _pairs(transfer, cash_out)))


def _pairs(first: _Columns, second: _Columns) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for name in _Columns.__dataclass_fields__:
        yield getattr(first, name), getattr(second, name)


def _interleave(rng: np.random.Generator, normal: _Columns, fraud: _Columns) -> _Columns:
    """Both sets in step order, each fraud pair on two adjacent lines at a random place."""
    pair_place = np.repeat(rng.random(len(fraud.step) // 2), 2)
    place = np.concatenate([rng.random(len(normal.step)), pair_place])
    rank = np.concatenate([np.zeros(len(normal.step)), np.tile([0.0, 1.0], len(pair_place) // 2)])
    steps = np.concatenate([normal.step, fraud.step])
    order = np.lexsort((rank, place, steps))
    return _Columns(*(np.concatenate([a, b])[order] for a, b in _pairs(normal, fraud)))


def _lines(columns: _Columns) -> Iterator[str]:
    money = [
        [java_double(float(v)) for v in values]
        for values in (
            columns.amount,
            columns.old_orig,
            columns.new_orig,
            columns.old_dest,
            columns.new_dest,
        )
    ]
    flags = [np.where(columns.fraud, "1", "0"), np.where(columns.flagged, "1", "0")]
    for row in zip(
        columns.step.tolist(),
        columns.kind.tolist(),
        money[0],
        columns.name_orig.tolist(),
        money[1],
        money[2],
        columns.name_dest.tolist(),
        money[3],
        money[4],
        flags[0].tolist(),
        flags[1].tolist(),
        strict=True,
    ):
        yield ",".join(map(str, row)) + "\n"
