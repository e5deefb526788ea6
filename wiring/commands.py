"""What each command does, given its settings: build the service, run it, report to a person."""

from __future__ import annotations

import logging
import sys
import threading

import waitress

from consumers.answers import republish
from consumers.confirmation import MAX_REQUEST_BYTES
from fraudstream.config import Settings
from fraudstream.stopping import StopFlag
from producer.checkpoint import Counts
from producer.progress import progress_for_stderr
from producer.service import RunOptions, Summary
from wiring import factory

log = logging.getLogger("fraudstream")
REPUBLISH_SECONDS = 60


def produce(settings: Settings, options: RunOptions) -> Summary:
    """Stream one source into Kafka until it is done or a signal stops it."""
    stop = StopFlag()
    run = factory.producer_run(settings, options, stop)
    stop.install()
    summary = run.run(progress_for_stderr())
    _report(summary)
    return summary


def consume(settings: Settings, kind: str, idle_exit: float | None, send_emails: bool) -> int:
    """Run the ``kind`` consumer until SIGTERM (or ``idle_exit`` quiet seconds)."""
    stop = StopFlag()
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
    book = factory.answer_book(settings)
    app = factory.confirmation_app(settings, book)
    stopped = threading.Event()
    threading.Thread(
        target=republish, args=(book, REPUBLISH_SECONDS, stopped), name="republisher", daemon=True
    ).start()
    log.info("serving", extra={"host": settings.confirmation_host,
                               "port": settings.confirmation_port})  # fmt: skip
    try:
        waitress.serve(app, host=settings.confirmation_host, port=settings.confirmation_port,
                       threads=8, ident="fraudstream",
                       max_request_body_size=MAX_REQUEST_BYTES)  # fmt: skip
    finally:
        stopped.set()
    return 0


def _report(summary: Summary) -> None:
    run, total = summary.this_run, summary.total
    state = "complete" if summary.complete else f"stopped before line {summary.next_line:,}"
    log.debug("summary", extra={"source": summary.source, "state": state, **vars(total)})
    speed = f"{summary.seconds:.1f} s, {summary.rows_per_second:,.0f} rows/s"
    print(f"{summary.source}: {state}", file=sys.stderr)
    print(f"  this run  {_counts(run)}, {speed}", file=sys.stderr)
    print(f"  in total  {_counts(total)}", file=sys.stderr)


def _counts(counts: Counts) -> str:
    return (
        f"{counts.good:>10,} good ({counts.fraud:,} fraud, {counts.non_fraud:,} non-fraud), "
        f"{counts.rejected:,} rejected"
    )
