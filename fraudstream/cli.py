"""``fraudstream``: the command line of the pipeline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fraudstream import demo
from fraudstream.config import ConfigError, load_settings


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
    run_demo = commands.add_parser("demo", help="set up topics, schemas and buckets; load a CSV")
    run_demo.add_argument("--csv", type=Path, help="a PaySim CSV to load into the dataset bucket")
    run_demo.set_defaults(handler=_demo)
    return parser


def _demo(args: argparse.Namespace) -> int:
    settings = load_settings()
    demo.provision(settings, say=print)
    if args.csv is not None:
        if not args.csv.is_file():
            print(f"fraudstream: no such CSV file: {args.csv}", file=sys.stderr)
            return 2
        demo.upload_dataset(settings, args.csv, say=print)
    return 0
