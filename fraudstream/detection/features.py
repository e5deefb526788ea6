"""What a detector may look at: only what is known when a payment is authorised.

That is the type, the amount, the origin's balance before and after, whether
the counterparty is a merchant, and the hour. Never the destination's
balances: PaySim leaves them unchanged for fraud, so they give the label
away, and ``newbalanceDest`` is only known at the end of the hour.

Money is combined in float64 (``balance_error`` is exact to the cent) and
only the finished features become float32, the type every model takes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fraudstream.paysim.format import TYPES

# The columns of a block (or a record table) the features are made from.
NEEDED = ("step", "type", "amount", "oldbalanceOrg", "newbalanceOrig", "nameDest")
FEATURES = (
    *(f"is_{kind.lower()}" for kind in TYPES),
    "log_amount",
    "log_balance_before",
    "log_balance_after",
    "balance_error",  # signed log of what the origin's balances leave unexplained
    "balance_matches",  # the balances account for the amount to the cent
    "emptied",  # the origin is left at 0.0
    "amount_is_balance",  # the amount is the whole balance before
    "to_merchant",
    "hour_sin",
    "hour_cos",
)
_TYPE_NAMES = pa.array(TYPES)
CENT = 0.005
HOURS_A_DAY = 24


def feature_matrix(records: pa.Table) -> np.ndarray:
    """One float32 row of ``FEATURES`` per record."""
    kind = records["type"]
    amount = _money(records, "amount")
    before = _money(records, "oldbalanceOrg")
    after = _money(records, "newbalanceOrig")
    kind_index = _numpy(pc.index_in(kind, value_set=_TYPE_NAMES))
    inflow = kind_index == TYPES.index("CASH_IN")
    # What the balances do not explain: 0.0 when before - amount == after (or + for CASH_IN).
    error = np.where(inflow, after - before - amount, before - amount - after)
    hour = _numpy(records["step"]).astype(np.float64) % HOURS_A_DAY * (2 * np.pi / HOURS_A_DAY)
    columns = [
        *(kind_index == index for index in range(len(TYPES))),
        np.log1p(amount),
        np.log1p(before),
        np.log1p(after),
        np.sign(error) * np.log1p(np.abs(error)),
        np.abs(error) < CENT,
        after == 0.0,
        np.abs(amount - before) < CENT,
        _numpy(pc.starts_with(records["nameDest"], "M")),
        np.sin(hour),
        np.cos(hour),
    ]
    matrix = np.empty((records.num_rows, len(columns)), dtype=np.float32)
    for index, column in enumerate(columns):
        matrix[:, index] = column
    return matrix


def _money(records: pa.Table, name: str) -> np.ndarray:
    return np.asarray(_numpy(records[name]), dtype=np.float64)


def _numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False))
