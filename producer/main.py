"""Wiring for ``fraudstream produce``: settings in, a summary out."""

from __future__ import annotations

import logging
import sys

from fraudstream.config import Settings
from fraudstream.kafka import DeliveryError, KafkaSetupError
from fraudstream.registry import RegistryError
from fraudstream.source import SourceError
from fraudstream.transactions import NotPaySimError
from producer.checkpoint import Counts
from producer.detectors import load_detector
from producer.progress import progress_for_stderr
from producer.service import ProducerRun, RunOptions, Summary

log = logging.getLogger("fraudstream.producer")


def produce_and_report(
    settings: Settings, source: str, speed: float | None, limit: int | None, from_start: bool
) -> int:
    options = RunOptions(source=source, speed=speed, limit=limit, from_start=from_start)
    try:
        run = ProducerRun(settings, load_detector(settings.detector), options)
        run.stop.install()
        summary = run.run(progress_for_stderr())
    except (NotPaySimError, SourceError, KafkaSetupError, RegistryError, DeliveryError) as error:
        print(f"fraudstream: {error}", file=sys.stderr)
        return 1
    _report(summary)
    return 0


def _report(summary: Summary) -> None:
    run, total = summary.this_run, summary.total
    state = "complete" if summary.complete else f"stopped before line {summary.next_line:,}"
    log.info("summary", extra={"source": summary.source, "state": state, **vars(total)})
    speed = f"{summary.seconds:.1f} s, {summary.rows_per_second:,.0f} rows/s"
    print(f"{summary.source}: {state}", file=sys.stderr)
    print(f"  this run  {_counts(run)}, {speed}", file=sys.stderr)
    print(f"  in total  {_counts(total)}", file=sys.stderr)


def _counts(counts: Counts) -> str:
    return (
        f"{counts.good:>10,} good ({counts.fraud:,} fraud, {counts.non_fraud:,} non-fraud), "
        f"{counts.rejected:,} rejected"
    )
