"""The command line's detector parts: the --detector option of the commands that split
payments, and the commands that train and measure the detectors."""

from __future__ import annotations

import argparse
from pathlib import Path

from fraudstream.detection.detectors import BUILT_IN, MODEL_DETECTORS
from fraudstream.wiring import handlers
from fraudstream.wiring.arguments import positive_int

TRAINING_ROWS = 2_000_000


def detector_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--detector",
        choices=BUILT_IN,
        help="what splits the payments (default: the DETECTOR setting, label)",
    )


def detector_commands(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    train = subcommands.add_parser(
        "train", help="train a detector on generated rows (never real ones) into an ONNX file"
    )
    train.add_argument("--detector", choices=MODEL_DETECTORS, required=True, help="which model")
    train.add_argument(
        "--rows", type=positive_int, default=TRAINING_ROWS, help="generated rows to train on"
    )
    train.add_argument("--seed", type=int, default=1, help="of the generated rows")
    train.add_argument("-o", "--output", type=Path, help="default: models/DETECTOR.onnx")
    train.set_defaults(handler=handlers.train)

    evaluate = subcommands.add_parser(
        "evaluate", help="measure detectors on a labelled PaySim CSV: Markdown and PNG report"
    )
    evaluate.add_argument("csv", type=Path, nargs="?", help="a PaySim CSV with isFraud")
    evaluate.add_argument(
        "--from-cases",
        action="store_true",
        help="instead: each detector's precision by the customers' answers in the case table",
    )
    chosen = evaluate.add_mutually_exclusive_group()
    chosen.add_argument(
        "--detector",
        action="append",
        choices=BUILT_IN,
        dest="detectors",
        help="a detector to measure (again for more)",
    )
    chosen.add_argument(
        "--all", action="store_const", const=list(BUILT_IN), dest="detectors", help="every detector"
    )
    evaluate.add_argument(
        "--models",
        type=Path,
        default=Path("models"),
        help="where the trained models are (NAME.onnx)",
    )
    evaluate.add_argument(
        "-o",
        "--output",
        dest="report",
        type=Path,
        default=Path("build/detectors.md"),
        help="the Markdown report; its figure goes beside it",
    )
    evaluate.set_defaults(handler=handlers.evaluate)
