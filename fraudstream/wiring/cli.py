"""``fraudstream``: the command line of the pipeline.

The parser and the argument types; what each command does is in
``wiring.handlers``, which imports the services a command runs when it runs.

Every expected failure (a bad setting, a missing topic, a refused
permission, a file that is not PaySim) ends in one line on stderr that says
what to do, and a non-zero exit: 2 for configuration, 1 for the rest, 130 for
Ctrl-C (EXIT_CODES, which --help shows).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fraudstream.errors import FraudstreamError
from fraudstream.paysim.source import WHOLE_FILE
from fraudstream.settings.config import ConfigError
from fraudstream.wiring import handlers
from fraudstream.wiring.arguments import (
    SETTINGS_EPILOG,
    CommandParser,
    ShowsDefaults,
    moment,
    positive_float,
    positive_int,
    shard,
    version,
)
from fraudstream.wiring.detector_commands import detector_commands, detector_option

CONSUMER_KINDS = ("non-fraud", "fraud", "cases")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    if args.log_level is not None:  # read with the other settings, by this process and its own
        os.environ["LOG_LEVEL"] = args.log_level
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("fraudstream: interrupted", file=sys.stderr)
        return 130
    except ConfigError as error:
        print(f"fraudstream: {error}", file=sys.stderr)
        return 2
    except FraudstreamError as error:
        print(f"fraudstream: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a file that cannot be read or written
        print(f"fraudstream: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fraudstream",
        description="The command line of the fraudstream pipeline.",
        epilog=SETTINGS_EPILOG,
        formatter_class=ShowsDefaults,
    )
    parser.add_argument("--version", action="version", version=f"fraudstream {version()}")
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="what the command logs (LOG_LEVEL; default INFO)",
    )
    subcommands = parser.add_subparsers(
        required=True, metavar="COMMAND", parser_class=CommandParser
    )

    setup = subcommands.add_parser(
        "setup", help="create the topics, schemas and buckets (idempotent)"
    )
    setup.add_argument(
        "--no-buckets",
        dest="buckets",
        action="store_false",
        help="topics and schemas only (in the cloud, Terraform makes the buckets)",
    )
    setup.add_argument(
        "--no-database",
        dest="database",
        action="store_false",
        help="leave the case table alone (migrate it with `fraudstream migrate`)",
    )
    setup.set_defaults(handler=handlers.setup)

    migrate = subcommands.add_parser(
        "migrate", help="bring the fraud case table (CASES_DATABASE_URL) to the newest migration"
    )
    migrate.set_defaults(handler=handlers.migrate)

    _demo_command(subcommands)

    produce = subcommands.add_parser("produce", help="stream a PaySim CSV into Kafka")
    produce.add_argument("source", help="the PaySim CSV: a local path or gs://bucket/object")
    detector_option(produce)
    paced = produce.add_mutually_exclusive_group()
    paced.add_argument(
        "--speed", type=positive_float, help="replay PaySim time: steps (hours) per second"
    )
    paced.add_argument(
        "--rate",
        type=positive_float,
        metavar="N",
        help="live: release N payments a second, evenly, each stamped with its release",
    )
    produce.add_argument(
        "--commit-interval",
        type=positive_float,
        metavar="SECONDS",
        help="live (with --rate): commit a transaction at least this often (default 0.1)",
    )
    produce.add_argument("--limit", type=positive_int, help="stop after this many lines")
    produce.add_argument("--from-start", action="store_true", help="ignore the saved checkpoint")
    produce.add_argument(
        "--shard",
        type=shard,
        default=WHOLE_FILE,
        metavar="I/N",
        help="produce the I-th of N byte ranges of the file (0 <= I < N), with its own "
        "checkpoint: N producers started with 0/N .. N-1/N produce each row once between them",
    )
    produce.set_defaults(handler=handlers.produce)

    consume = subcommands.add_parser("consume", help="run a consumer until SIGTERM")
    consume.add_argument("kind", choices=CONSUMER_KINDS, help="which consumer")
    consume.add_argument(
        "--idle-exit",
        type=positive_float,
        metavar="SECONDS",
        help="stop once nothing has arrived for this long (for batch runs and tests)",
    )
    consume.add_argument(
        "--no-emails",
        dest="send_emails",
        action="store_false",
        help="fill the lake without emailing anyone (to backfill history)",
    )
    consume.add_argument(
        "--processes",
        type=positive_int,
        default=1,
        metavar="N",
        help="run N members of the group, each in its own process (and on its own core), "
        "under this one, which forwards SIGTERM and exits non-zero if a member fails",
    )
    consume.set_defaults(handler=handlers.consume)

    service = subcommands.add_parser(
        "confirmation-service", help="serve the links of the fraud emails until SIGTERM"
    )
    service.set_defaults(handler=handlers.confirmation_service)

    watch_lag = subcommands.add_parser(
        "watch-lag",
        help="export each consumer group's whole lag (fraudstream_group_lag) until SIGTERM, "
        "for the cloud's autoscaler",
    )
    watch_lag.add_argument(
        "--every",
        type=positive_float,
        default=30.0,
        metavar="SECONDS",
        help="how often to read the groups' offsets (default: 30, the metrics' scrape interval)",
    )
    watch_lag.set_defaults(handler=handlers.watch_lag)

    generate = subcommands.add_parser("generate", help="write PaySim-like rows to a CSV")
    generate.add_argument("--rows", type=positive_int, required=True, help="how many rows")
    generate.add_argument("--seed", type=int, default=1, help="of the random draws")
    generate.add_argument("-o", "--output", type=Path, required=True, help="the CSV to write")
    generate.set_defaults(handler=handlers.generate)
    detector_commands(subcommands)
    report = subcommands.add_parser(
        "report", help="write the run report: one HTML page of what the lake and Kafka hold"
    )
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=handlers.REPORT_PATH,
        help="the page; - writes it to standard output",
    )
    report.set_defaults(
        handler=lambda args: handlers.write_report(handlers.configured(), args.output)
    )
    _inspecting_commands(subcommands)
    show = subcommands.add_parser("cases", help="show the fraud case table: counts, newest cases")
    show.add_argument("--limit", type=positive_int, default=10, help="newest cases shown")
    show.set_defaults(handler=handlers.show_cases)
    return parser


def _demo_command(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run_demo = subcommands.add_parser(
        "demo", help="set up topics, schemas and buckets; produce; run the three consumers"
    )
    run_demo.add_argument(
        "csv", type=Path, nargs="?", help="a PaySim CSV (default: generated rows, new each demo)"
    )
    run_demo.add_argument("--csv", type=Path, dest="csv_option", help=argparse.SUPPRESS)
    run_demo.add_argument(
        "--rows",
        type=positive_int,
        help=f"rows to generate, without a CSV (default: {handlers.DEMO_ROWS:,})",
    )
    detector_option(run_demo)
    run_demo.add_argument(
        "--idle-exit",
        type=positive_float,
        default=10,
        metavar="SECONDS",
        help="the consumers stop once nothing has arrived for this long",
    )
    run_demo.add_argument(
        "--rate",
        type=positive_float,
        metavar="N",
        help="live: the consumers first, then N payments a second, with their latency shown",
    )
    run_demo.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        help="send only the first N rows (the next demo goes on from there)",
    )
    run_demo.add_argument(
        "--again",
        action="store_true",
        help="send the file from its first row even if an earlier demo sent it "
        "(without a CSV, each demo draws new rows by itself)",
    )
    run_demo.add_argument(
        "--same-rows",
        action="store_true",
        help="without a CSV: the rows the first demo generated, never new ones, so that a "
        "demo started again after it sent them all sends nothing (a restarted container)",
    )
    run_demo.add_argument(
        "--no-consumers",
        dest="consumers",
        action="store_false",
        help="set up and produce only (the consumers run elsewhere)",
    )
    run_demo.set_defaults(handler=handlers.demo)


def _inspecting_commands(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    topics = subcommands.add_parser(
        "topics", help="each topic's partitions and records; each consumer group's lag"
    )
    topics.set_defaults(handler=handlers.topics)
    tail = subcommands.add_parser(
        "tail", help="a topic's last records, decoded, one JSON object a line"
    )
    tail.add_argument("topic", help="a topic of the pipeline (fraudstream topics lists them)")
    tail.add_argument(
        "-n", "--records", type=positive_int, default=10, help="how many of the last records"
    )
    tail.add_argument("--from-beginning", action="store_true", help="every record, from the first")
    tail.set_defaults(handler=handlers.tail)
    replay = subcommands.add_parser(
        "replay", help="rewind a stopped consumer group, so that its consumer reads again"
    )
    replay.add_argument("group", help="a consumer group (fraudstream topics lists them)")
    where = replay.add_mutually_exclusive_group(required=True)
    where.add_argument("--to-start", action="store_true", help="to each partition's start")
    where.add_argument(
        "--to-time",
        type=moment,
        metavar="WHEN",
        help="to each partition's first record at or after WHEN, an ISO 8601 time "
        "(2026-12-06T09:30; UTC unless it gives an offset)",
    )
    replay.add_argument("--dry-run", action="store_true", help="say where, move nothing")
    replay.set_defaults(handler=handlers.replay)
