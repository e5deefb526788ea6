"""What each ``fraudstream`` command does when it runs; the parser in ``wiring.cli``
picks one. Each imports the services it runs when it runs (the imports inside the
functions below), so that ``fraudstream produce`` loads the producer alone."""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from fraudstream.paysim.generator import write_csv
from fraudstream.producer.runs import RunOptions, Summary
from fraudstream.runtime.logs import configure_logging
from fraudstream.settings.config import ConfigError, Settings, load_settings
from fraudstream.wiring import members, producing

if TYPE_CHECKING:
    from fraudstream.wiring.demo import ConsumerRun

REPORT_PATH = Path("build/report.html")


DEMO_ROWS = 20_000  # what a demo generates unless told


def configured() -> Settings:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return settings


def setup(args: argparse.Namespace) -> int:
    from fraudstream.wiring.provision import provision

    provision(configured(), say=print, buckets=args.buckets, database=args.database)
    return 0


def migrate(_args: argparse.Namespace) -> int:
    from fraudstream.wiring.provision import migrate_cases

    migrate_cases(configured(), say=print)
    return 0


def produce(args: argparse.Namespace) -> int:
    if args.commit_interval is not None and args.rate is None:
        raise ConfigError("--commit-interval paces a live replay: give --rate N with it")
    options = RunOptions(
        args.source,
        speed=args.speed,
        rate=args.rate,
        commit_interval=args.commit_interval or RunOptions.commit_interval,
        limit=args.limit,
        from_start=args.from_start,
        shard=args.shard,
    )
    producing.produce(with_detector(configured(), args.detector), options)
    return 0


def with_detector(settings: Settings, detector: str | None) -> Settings:
    """``settings`` with the detector a command's --detector names, if it names one."""
    return settings if detector is None else settings.model_copy(update={"detector": detector})


def consume(args: argparse.Namespace) -> int:
    settings = configured()
    if args.processes > 1:
        member = [sys.executable, "-m", "fraudstream", "consume", args.kind]
        member += [] if args.idle_exit is None else ["--idle-exit", str(args.idle_exit)]
        member += [] if args.send_emails else ["--no-emails"]
        environment = members.member_environment(settings.metrics_port)
        return members.run_members(member, args.processes, environment)
    from fraudstream.wiring import commands

    return commands.consume(settings, args.kind, args.idle_exit, args.send_emails)


def confirmation_service(_args: argparse.Namespace) -> int:
    from fraudstream.wiring import commands

    return commands.serve_confirmations(configured())


def watch_lag(args: argparse.Namespace) -> int:
    from fraudstream.wiring import commands

    return commands.watch_lag(configured(), args.every)


def show_cases(args: argparse.Namespace) -> int:
    from fraudstream.wiring import commands

    return commands.show_cases(configured(), args.limit)


def generate(args: argparse.Namespace) -> int:
    written = write_csv(args.output, rows=args.rows, seed=args.seed)
    print(f"wrote {written:,} PaySim-like rows to {args.output}")
    return 0


def detecting() -> ModuleType:
    """``wiring.detecting``, imported only here: it needs the ``train`` extra."""
    try:
        return importlib.import_module("fraudstream.wiring.detecting")
    except ImportError as error:
        raise ConfigError(
            f"training and evaluating need the 'train' extra ({error.name} is missing): "
            "pip install 'fraudstream[train]'"
        ) from None


def report(args: argparse.Namespace) -> int:
    return write_report(configured(), args.output)


def topics(_args: argparse.Namespace) -> int:
    from fraudstream.wiring import inspecting

    inspecting.print_topics(configured())
    return 0


def tail(args: argparse.Namespace) -> int:
    from fraudstream.wiring import inspecting

    inspecting.tail(configured(), args.topic, args.records, args.from_beginning)
    return 0


def replay(args: argparse.Namespace) -> int:
    from fraudstream.wiring import replaying

    replaying.replay(configured(), args.group, args.to_time, args.dry_run)
    return 0


def write_report(settings: Settings, output: Path) -> int:
    """Gather the facts and write the page (matplotlib, from the ``report`` extra)."""
    try:
        facts = importlib.import_module("fraudstream.reporting.facts")
        page = importlib.import_module("fraudstream.reporting.page")
    except ImportError as error:
        raise ConfigError(
            f"the report needs the 'report' extra ({error.name} is missing): "
            "pip install 'fraudstream[report]'"
        ) from None
    gathered = facts.gather(settings)
    if str(output) == "-":  # to standard output: from a container, `run ... report -o -`
        sys.stdout.write(page.render_report(gathered))
        return 0
    written = page.write_report(gathered, output)
    print(f"report: {written.resolve()}")
    return 0


def train(args: argparse.Namespace) -> int:
    output = args.output or Path("models") / f"{args.detector}.onnx"
    detecting().train(args.detector, args.rows, args.seed, output)
    return 0


def evaluate(args: argparse.Namespace) -> int:
    if args.from_cases:
        from fraudstream.wiring import commands

        return commands.answered_precision(configured())
    if args.csv is None or not args.detectors:
        raise ConfigError("evaluate: give a CSV and --detector NAME (or --all), or --from-cases")
    detecting().evaluate(
        configured(),
        args.csv,
        args.detectors,
        models=args.models,
        report=args.report,
        command=shlex.join(["fraudstream", *args.argv]),
    )
    return 0


def _demo_input(args: argparse.Namespace) -> Path | None:
    """The demo's CSV, if one was given (as the argument, or --csv as before); sets
    ``args.rows`` to the rows to generate otherwise. ConfigError for what cannot work."""
    csv: Path | None = args.csv or args.csv_option
    if args.csv is not None and args.csv_option is not None:
        raise ConfigError("give the CSV once: as the argument, or --csv")
    if csv is not None and args.rows is not None:
        raise ConfigError("--rows is for generated rows: give a CSV or --rows, not both")
    if csv is not None and not csv.is_file():
        raise ConfigError(f"no such CSV file: {csv}")
    args.rows = args.rows or DEMO_ROWS
    return csv


def _sent_already(settings: Settings, csv: Path) -> bool:
    """Whether an earlier demo sent ``csv`` (a file of that name) in full; says so, and how
    to send it again. A file of that name but another size: ConfigError saying the same."""
    from fraudstream.wiring import demo as demo_run

    saved = demo_run.sent_before(settings, csv.name)
    if saved is not None and saved.size != csv.stat().st_size:
        raise ConfigError(
            f"{csv.name} has changed since an earlier demo sent it: --again sends it anew"
        )
    if saved is None or not saved.complete:
        return False
    print(
        f"fraudstream demo: {csv} was sent in full by an earlier demo, nothing new to send; "
        "--again sends it again (its payments then reach the lake twice)"
    )
    return True


def _live_demo(
    settings: Settings, options: RunOptions, args: argparse.Namespace
) -> tuple[Summary, list[ConsumerRun]]:
    """The consumers first, then the payments released live at ``--rate``, with each
    sink's latency printed while they go."""
    from fraudstream.wiring import demo as demo_run
    from fraudstream.wiring.live_view import LiveView

    started = demo_run.start_consumers(None, say=print)
    try:
        demo_run.wait_until_serving(started)
        with LiveView(demo_run.metrics_urls(), say=print):
            summary = producing.produce(settings, options)
            demo_run.stop_when_quiet(started, args.idle_exit)
    except BaseException:
        demo_run.stop_consumers(started)  # they have no idle timer of their own here
        raise
    return summary, demo_run.wait_for_consumers(started)


def demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    settings = with_detector(configured(), args.detector)
    args.csv = _demo_input(args)
    from fraudstream.devstack.layout import METRICS_PORTS
    from fraudstream.wiring import commands
    from fraudstream.wiring import demo as demo_run
    from fraudstream.wiring.provision import provision

    provision(settings, say=print)
    if args.csv is not None and not args.again and _sent_already(settings, args.csv):
        return 0
    csv_path = args.csv or (
        demo_run.generated_csv(args.rows, say=print)
        if args.same_rows
        else demo_run.fresh_generated_csv(settings, args.rows, say=print)
    )
    demo_run.warn_if_long(csv_path, args.limit, say=print)
    source = demo_run.upload_dataset(settings, csv_path, say=print)
    settings_for_producer = settings.model_copy(update={"metrics_port": METRICS_PORTS["producer"]})
    options = RunOptions(source, rate=args.rate, limit=args.limit, from_start=args.again)
    print(f"metrics while it runs: {demo_run.metrics_addresses()}")
    if args.rate is not None and args.consumers:
        summary, consumers = _live_demo(settings_for_producer, options, args)
    else:
        summary = producing.produce(settings_for_producer, options)
        if not args.consumers:
            return 0
        consumers = demo_run.run_consumers(args.idle_exit, say=print)
    print(
        f"\nfraudstream demo: {summary.this_run.good:,} rows produced "
        f"({summary.this_run.fraud:,} fraud, {summary.this_run.rejected:,} rejected), "
        f"done in {time.monotonic() - started:.0f} s"
    )
    demo_run.report(settings, consumers, commands.case_lines(settings), say=print)
    write_report(settings, REPORT_PATH)
    return max(run.exit_code for run in consumers)
