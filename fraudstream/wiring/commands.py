"""What each command but ``produce`` does (see ``wiring.producing``), given its settings:
build the service, run it, report to a person."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import NoReturn

import waitress
from sqlalchemy import Engine

from fraudstream.consumers.confirmation.answers import republish
from fraudstream.consumers.confirmation.service import MAX_REQUEST_BYTES
from fraudstream.reporting import group_lag
from fraudstream.runtime import metrics
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings, token_key
from fraudstream.storage import case_reports, case_table
from fraudstream.wiring import factory

log = logging.getLogger("fraudstream")
REPUBLISH_SECONDS = 60


def consume(settings: Settings, kind: str, idle_exit: float | None, send_emails: bool) -> int:
    """Run the ``kind`` consumer until SIGTERM (or ``idle_exit`` quiet seconds)."""
    stop = StopFlag()
    metrics.serve(settings.metrics_port, settings.metrics_host)
    if kind == "cases":
        cases = factory.case_consumer(settings, stop)
        stop.install()
        print(f"cases consumer: {cases.run(idle_exit).summary()}", flush=True)
        return 0
    consumer = factory.batch_consumer(settings, kind, stop, send_emails)
    stop.install()
    totals = consumer.run(idle_exit)
    print(f"{kind} consumer: {totals.summary()}", flush=True)
    return 0


def serve_confirmations(settings: Settings) -> int:
    """Serve the confirmation pages with waitress until SIGTERM; meanwhile publish every
    minute what was recorded while Kafka was away."""
    token_key(settings)  # a missing key is said before any server is asked
    book = factory.answer_book(settings)
    app = factory.confirmation_app(settings, book)
    metrics.serve(settings.metrics_port, settings.metrics_host)
    stopped = threading.Event()
    threading.Thread(
        target=republish, args=(book, REPUBLISH_SECONDS, stopped), name="republisher", daemon=True
    ).start()
    log.info(
        "serving", extra={"host": settings.confirmation_host, "port": settings.confirmation_port}
    )
    # waitress ends its loop on SystemExit, finishing the requests in hand; without this, a
    # container's first process ignores SIGTERM and is killed at the end of the grace period.
    signal.signal(signal.SIGTERM, _exit)
    try:
        waitress.serve(
            app,
            host=settings.confirmation_host,
            port=settings.confirmation_port,
            threads=8,
            ident="fraudstream",
            max_request_body_size=MAX_REQUEST_BYTES,
        )
    finally:
        stopped.set()
    return 0


def watch_lag(settings: Settings, every_seconds: float) -> int:
    """Export each consumer group's whole lag every ``every_seconds`` until SIGTERM."""
    stop = StopFlag()
    metrics.serve(settings.metrics_port, settings.metrics_host)
    stop.install()
    log.info("watching the groups' lag", extra={"every_seconds": every_seconds})
    group_lag.watch(settings, stop, every_seconds)
    return 0


def _exit(signum: int, _frame: FrameType | None) -> NoReturn:
    log.info("stop requested", extra={"signal": signal.Signals(signum).name})
    raise SystemExit(0)


def show_cases(settings: Settings, limit: int) -> int:
    """Print the case table for a person: counts by detector and status, the newest cases."""
    engine = factory.cases_engine(settings)
    try:
        case_table.require_current(engine)
        for line in cases_report(engine, limit):
            print(line)
    finally:
        engine.dispose()
    return 0


def case_lines(settings: Settings, limit: int = 5) -> list[str]:
    """``cases_report`` of the table ``CASES_DATABASE_URL`` names."""
    engine = factory.cases_engine(settings)
    try:
        return cases_report(engine, limit)
    finally:
        engine.dispose()


def cases_report(engine: Engine, limit: int = 5) -> list[str]:
    lines = [f"cases  {case_table.shown(engine)}"]
    measured = case_reports.precision_by_detector(case_reports.answers_by_detector(engine))
    if not measured:
        return [*lines, "  no case yet"]
    for line in measured:
        pending = line.flagged - line.answered
        lines.append(
            f"  {line.detector}: {line.flagged:,} flagged, {pending:,} pending, "
            f"{line.confirmed_fraud:,} confirmed fraud, {line.not_fraud:,} not fraud"
        )
    lines.append(f"  the newest {limit}:")
    for case in case_reports.latest_cases(engine, limit):
        answered = case["answered_at"].strftime("%Y-%m-%d %H:%M") if case["answered_at"] else ""
        lines.append(
            f"  {case['transaction_id']}  {case['name_orig']:<12} {case['type']:<9} "
            f"{case['amount']:>14,.2f}  {case['detector']} {case['score']:.3f}  "
            f"{case['status']:<15} {answered}".rstrip()
        )
    return lines


def answered_precision(settings: Settings) -> int:
    """Each detector's precision as the customers' answers measure it."""
    engine = factory.cases_engine(settings)
    try:
        case_table.require_current(engine)
        measured = case_reports.precision_by_detector(case_reports.answers_by_detector(engine))
    finally:
        engine.dispose()
    print(f"Precision by the customers' answers ({case_table.shown(engine)})\n")
    print("| detector | flagged | answered | confirmed fraud | not fraud | precision |")
    print("| --- | --- | --- | --- | --- | --- |")
    for line in measured:
        precision = "-" if line.precision is None else f"{line.precision:.4f}"
        print(
            f"| `{line.detector}` | {line.flagged:,} | {line.answered:,} | "
            f"{line.confirmed_fraud:,} | {line.not_fraud:,} | {precision} |"
        )
    if not measured:
        print("| (no case yet) | | | | | |")
    return 0
