"""``fraudstream``: the command line of the pipeline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from consumers.confirmation import serve
from consumers.main import consume
from fraudstream import demo
from fraudstream.config import ConfigError, load_settings
from fraudstream.generator import write_csv
from fraudstream.logs import configure_logging
from producer.main import produce_and_report


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as error:
        print(f"fraudstream: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fraudstream", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run_demo = commands.add_parser(
        "demo", help="set up topics, schemas and buckets; produce; run both consumers"
    )
    run_demo.add_argument("--csv", type=Path, help="a PaySim CSV (default: generated rows)")
    run_demo.add_argument("--rows", type=int, default=20_000, help="rows to generate without --csv")
    run_demo.add_argument(
        "--idle-exit", type=float, default=10, metavar="SECONDS",
        help="the consumers stop once nothing has arrived for this long",
    )  # fmt: skip
    run_demo.add_argument(
        "--no-consumers", dest="consumers", action="store_false",
        help="set up and produce only (the consumers run elsewhere)",
    )  # fmt: skip
    run_demo.set_defaults(handler=_demo)

    produce = commands.add_parser("produce", help="stream a PaySim CSV into Kafka")
    produce.add_argument("source", help="a local path or gs://bucket/object")
    produce.add_argument("--speed", type=float, help="replay PaySim time: steps (hours) per second")
    produce.add_argument("--limit", type=int, help="stop after this many lines")
    produce.add_argument("--from-start", action="store_true", help="ignore the saved checkpoint")
    produce.set_defaults(handler=_produce)

    consume = commands.add_parser("consume", help="run a consumer until SIGTERM")
    consume.add_argument("kind", choices=["non-fraud", "fraud"])
    consume.add_argument(
        "--idle-exit", type=float, metavar="SECONDS",
        help="stop once nothing has arrived for this long (for batch runs and tests)",
    )  # fmt: skip
    consume.add_argument(
        "--no-emails", dest="send_emails", action="store_false",
        help="fill the lake without emailing anyone (to backfill history)",
    )  # fmt: skip
    consume.set_defaults(handler=_consume)

    service = commands.add_parser(
        "confirmation-service", help="serve the links of the fraud emails until SIGTERM"
    )
    service.set_defaults(handler=_confirmation_service)

    generate = commands.add_parser("generate", help="write PaySim-like rows to a CSV")
    generate.add_argument("--rows", type=int, required=True)
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("-o", "--output", type=Path, required=True)
    generate.set_defaults(handler=_generate)
    return parser


def _produce(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.log_level)
    return produce_and_report(settings, args.source, args.speed, args.limit, args.from_start)


def _consume(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.log_level)
    return consume(settings, args.kind, args.idle_exit, args.send_emails)


def _confirmation_service(_args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.log_level)
    return serve(settings)


def _generate(args: argparse.Namespace) -> int:
    written = write_csv(args.output, rows=args.rows, seed=args.seed)
    print(f"wrote {written:,} PaySim-like rows to {args.output}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.log_level)
    demo.provision(settings, say=print)
    csv_path = args.csv or demo.generated_csv(args.rows, say=print)
    if not csv_path.is_file():
        print(f"fraudstream: no such CSV file: {csv_path}", file=sys.stderr)
        return 2
    source = demo.upload_dataset(settings, csv_path, say=print)
    produced = produce_and_report(settings, source, None, None, from_start=False)
    if produced != 0 or not args.consumers:
        return produced
    consumed = demo.run_consumers(args.idle_exit, say=print)
    demo.report_lake(settings, say=print)
    return consumed
