"""Producer throughput: fraudstream beside two baselines measured in the same run.

    make bench-producer        # or: python -m bench.producer --rows 1000000

- straightforward: the usual pattern - csv.reader, a dict per row, confluent's
  AvroSerializer per row, produce, poll(0) - with acks=all and idempotence;
- ceiling: the same records pre-encoded in memory before the clock starts,
  produced with the pipeline's tuned producer settings (no parsing, no
  encoding, no transactions): what Kafka on this machine takes at most;
- fraudstream: the real producer, file to Kafka, transactions and checkpoints
  included, splitting by the label (``DETECTOR=label``);
- fraudstream-logreg, fraudstream-gbm: the same with a trained model scoring
  every block (models trained on generated rows, seed 1, if not there yet).

First, ``fraudstream produce`` itself runs three times from exec to exit, each on fresh
topics: on a stack just started (``make stack-down bench-producer``), the first is the cold
run a user makes first, beside the warm ones.

Each variant runs in a process of its own, against fresh topics of 6
partitions (replication 3 on the three-broker stack), on the same generated
file; the figure is rows per second from start to the last acknowledgement,
and peak RSS is that process's own (the kernel's VmHWM). Beside it, the CPU a
row cost over the same span: the variant's process (every thread, librdkafka's
included), the local stack's three brokers, and the whole machine. Where the
machine's two cores run the brokers too, the rates' ratio follows the ratio of
the machine's CPU a row (``bench.cpu``). The straightforward
pattern runs once; the others run ``--rounds`` times, taking turns, and each
ratio is the median of the rounds' own ratios, so that what the brokers do
meanwhile (they share the machine's two cores) falls on both sides of it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

from bench.cpu import CpuClocks, stack_brokers
from bench.producer_baselines import measured, run_ceiling, run_straightforward
from bench.scratch import discard_bench_topics, fresh_settings, generated_file, peak_rss_mb
from fraudstream.detection.detectors import Detector, LabelDetector, ModelDetector
from fraudstream.devstack.layout import run_dir
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.runs import RunOptions
from fraudstream.producer.service import ProducerRun
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings, as_environment, load_settings
from fraudstream.wiring.producing import release_arrow_memory_promptly

VARIANTS = ("straightforward", "ceiling", "fraudstream", "fraudstream-logreg", "fraudstream-gbm")
MODELS = Path("build/bench/models")
TRAINING_ROWS = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--train", choices=("logreg", "gbm"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train:
        trained_model(args.train)
    elif args.variant:
        figures = run_variant(args.variant, args.file)
        print(json.dumps({**figures, "peak_rss_mb": peak_rss_mb()}))
    else:
        compare(args.rows, args.rounds)


def compare(rows: int, rounds: int) -> None:
    source = generated_file(rows)
    for model in ("logreg", "gbm"):  # in a process of its own: training takes gigabytes
        if not (MODELS / f"{model}.onnx").is_file():
            subprocess.run([sys.executable, "-m", "bench.producer", "--train", model], check=True)
    discard_bench_topics()
    stack_age = stack_started_ago()
    whole = whole_process_runs(source)  # the first on a stack just started is the cold one
    straightforward = measure("straightforward", source)  # once: it is slow, and far behind
    results = run_rounds(ROUND_VARIANTS, source, rounds)
    print(f"{rows:,} generated PaySim rows, acks=all, {replication()} replicas, 6 partitions")
    print(
        f"  `fraudstream produce`, exec to exit: {whole[0]:.1f} s the first time"
        f"{stack_age}, then {', '.join(f'{seconds:.1f} s' for seconds in whole[1:])}"
    )
    print(
        f"  {'straightforward':<20} {straightforward['rows_per_second']:>10,.0f} rows/s"
        f"   peak RSS {straightforward['peak_rss_mb']:>5.0f} MB   (one run)"
    )
    for variant in ROUND_VARIANTS:
        rates = [result["rows_per_second"] for result in results[variant]]
        peak = max(result["peak_rss_mb"] for result in results[variant])
        print(
            f"  {variant:<20} {median(rates):>10,.0f} rows/s   peak RSS {peak:>5.0f} MB"
            f"   (median of {', '.join(f'{rate:,.0f}' for rate in rates)})"
        )
    ours = median(result["rows_per_second"] for result in results["fraudstream"])
    print(f"  fraudstream / straightforward  {ours / straightforward['rows_per_second']:.1f}x")
    print(
        f"  fraudstream / ceiling          {median_ratio(results, 'fraudstream', 'ceiling'):.0%}"
        "   (the median of the rounds' own ratios)"
    )
    for model in ("logreg", "gbm"):
        share = median_ratio(results, f"fraudstream-{model}", "fraudstream")
        print(f"  {model} / label {' ' * (17 - len(model))}{share:.0%}")
    print_cpu(results)


def print_cpu(results: dict[str, list[dict[str, float]]]) -> None:
    """The CPU a row of each variant (medians of the rounds), and what it predicts."""
    print(
        "  CPU a row, in us (medians): the variant's process, the brokers, the machine;"
        " the machine's busy share"
    )
    for variant, rounds in results.items():
        own, brokers, machine, busy = (
            median(result[figure] for result in rounds)
            for figure in ("own_us", "services_us", "machine_us", "busy_share")
        )
        print(f"  {variant:<20} {own:>6.2f} {brokers:>6.2f} {machine:>6.2f}   {busy:.0%} busy")
    cpu_share = median_ratio(results, "ceiling", "fraudstream", figure="machine_us")
    print(
        f"  the machine's CPU a row, ceiling / fraudstream   {cpu_share:.0%}"
        "   (what the rates' ratio comes to when the cores are what limits both)"
    )


# The variants measured in every round, taking turns at going first.
ROUND_VARIANTS = ("ceiling", "fraudstream", "fraudstream-logreg", "fraudstream-gbm")


def run_rounds(
    variants: tuple[str, ...],
    source: Path,
    rounds: int,
    measure_one: Callable[[str, Path], dict[str, float]] | None = None,
) -> dict[str, list[dict[str, float]]]:
    """Each variant once a round (by ``measure_one``, by default ``measure``), the order
    turned by one each round, so that a slow stretch of the machine falls on every
    variant alike."""
    results: dict[str, list[dict[str, float]]] = {variant: [] for variant in variants}
    for round_index in range(rounds):
        turn = round_index % len(variants)
        for variant in variants[turn:] + variants[:turn]:
            results[variant].append((measure_one or measure)(variant, source))
    return results


def median_ratio(
    results: dict[str, list[dict[str, float]]],
    ours: str,
    baseline: str,
    figure: str = "rows_per_second",
) -> float:
    """The median over the rounds of ``ours`` / ``baseline`` (of ``figure``), both of the
    same round."""
    return median(
        mine[figure] / theirs[figure]
        for mine, theirs in zip(results[ours], results[baseline], strict=True)
    )


def trained_model(detector: str) -> Path:
    path = MODELS / f"{detector}.onnx"
    if not path.is_file():
        # Here only: scikit-learn and LightGBM would weigh on every variant's peak RSS.
        from fraudstream.detection.training import train  # noqa: PLC0415

        MODELS.mkdir(parents=True, exist_ok=True)
        path.write_bytes(train(detector, rows=TRAINING_ROWS, seed=1))
    return path


def measure(variant: str, source: Path) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.producer", "--variant", variant, "--file", str(source)]
    child = subprocess.run(command, stdout=subprocess.PIPE, check=False)
    if child.returncode != 0:
        raise SystemExit(f"the {variant} run failed")
    result: dict[str, float] = json.loads(child.stdout)
    discard_bench_topics()  # so that every run finds the cluster as the first one did
    return result


def run_variant(variant: str, source: Path) -> dict[str, float]:
    settings = fresh_settings(topic_partitions=6)
    if variant == "fraudstream":
        return run_fraudstream(settings, source)
    if variant.startswith("fraudstream-"):
        model = trained_model(variant.removeprefix("fraudstream-")).read_bytes()
        return run_fraudstream(settings, source, ModelDetector(model))
    if variant == "ceiling":
        return run_ceiling(settings, source)
    return run_straightforward(settings, source)


def replication() -> int:
    return load_settings().topic_replication_factor


def run_fraudstream(
    settings: Settings, source: Path, detector: Detector | None = None
) -> dict[str, float]:
    options = RunOptions(str(source), from_start=True)
    release_arrow_memory_promptly()  # as `fraudstream produce` does
    run = ProducerRun(settings, detector or LabelDetector(), options, StopFlag())
    start = CpuClocks.read(stack_brokers())
    summary = run.run(ProgressLog(3600))
    return measured(summary.total.good, summary.seconds, start)


def whole_process_runs(source: Path, runs: int = 3) -> list[float]:
    """Seconds of ``fraudstream produce SOURCE`` from exec to exit, ``runs`` times, each on
    fresh topics: what a user waits for, the process's start and the cluster's first
    transactions included. They come first, so no variant pays for a cold cluster."""
    times = []
    for _ in range(runs):
        environment = {**os.environ, **as_environment(fresh_settings(topic_partitions=6))}
        command = [sys.executable, "-m", "fraudstream", "produce", str(source)]
        started = time.monotonic()
        subprocess.run(command, env=environment, check=True, capture_output=True)
        times.append(time.monotonic() - started)
        discard_bench_topics()
    return times


def stack_started_ago() -> str:
    """How long ago the local stack started, said as it reads after a figure."""
    state = run_dir() / "stack.json"
    if not state.is_file():
        return ""
    return f" (the stack started {time.time() - state.stat().st_mtime:,.0f} s before)"


if __name__ == "__main__":
    main()
