"""Fraud verdicts for a block of transactions: the part of the producer meant to be replaced.

A detector takes the records of a block (a pyarrow table with the fields of
``schemas/transaction.avsc``) and returns one boolean per row: True routes
the row to the fraud topic. It sees a whole block at once, so a rule or a
model can work column-wise. Name one with ``DETECTOR``: ``label`` (PaySim's
``isFraud``, the default), ``rules``, or ``package.module:ClassName`` for
your own class (constructed without arguments).
"""

from __future__ import annotations

import importlib
from typing import Protocol, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fraudstream.config import ConfigError


class Detector(Protocol):
    name: str

    def verdicts(self, records: pa.Table) -> np.ndarray: ...


class LabelDetector:
    """PaySim's own label: the verdict is ``isFraud``."""

    name = "label"

    def verdicts(self, records: pa.Table) -> np.ndarray:
        return np.asarray(records["isFraud"].to_numpy(zero_copy_only=False), dtype=bool)


class DrainedAccountRule:
    """PaySim's fraud pattern: a TRANSFER or CASH_OUT that empties a non-empty account.

    Uses only what is known when the payment happens (never ``newbalanceDest``,
    which is the balance at the end of the hour).
    """

    name = "rules"

    def verdicts(self, records: pa.Table) -> np.ndarray:
        risky = pc.is_in(records["type"], value_set=pa.array(["TRANSFER", "CASH_OUT"]))
        drains = pc.and_(
            pc.equal(records["amount"], records["oldbalanceOrg"]),
            pc.equal(records["newbalanceOrig"], 0.0),
        )
        nonzero = pc.greater(records["amount"], 0.0)
        verdict = pc.and_(pc.and_(risky, drains), nonzero)
        return np.asarray(verdict.to_numpy(zero_copy_only=False), dtype=bool)


BUILT_IN: dict[str, type[Detector]] = {"label": LabelDetector, "rules": DrainedAccountRule}


def load_detector(spec: str) -> Detector:
    """``label``, ``rules``, or ``package.module:ClassName``; ``ConfigError`` naming
    ``DETECTOR`` when there is no such detector."""
    if spec in BUILT_IN:
        return BUILT_IN[spec]()
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise _bad(spec, f"use one of {', '.join(BUILT_IN)}, or package.module:Class")
    try:
        detector_class = getattr(importlib.import_module(module_name), class_name)
    except ImportError as error:
        raise _bad(spec, f"cannot import {module_name} ({error})") from error
    except AttributeError as error:
        raise _bad(spec, f"{module_name} has no {class_name}") from error
    detector = detector_class()
    if not callable(getattr(detector, "verdicts", None)):
        raise _bad(spec, f"{class_name} has no verdicts(records) method")
    return cast(Detector, detector)


def _bad(spec: str, why: str) -> ConfigError:
    return ConfigError(f"invalid configuration: DETECTOR: no detector {spec!r}: {why}")
