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
import csv
import hashlib
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bench.cpu import CpuClocks, stack_brokers
from bench.scratch import discard_bench_topics, fresh_settings, peak_rss_mb
from fraudstream import kafka, registry
from fraudstream.config import Settings, load_settings
from fraudstream.detection.detectors import Detector, LabelDetector, ModelDetector
from fraudstream.generator import write_csv
from fraudstream.payments import parse_block
from fraudstream.paysim import HOUR_MS
from fraudstream.producer.preparing import Preparer
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.service import ProducerRun, RunOptions
from fraudstream.records import to_records
from fraudstream.source import read_chunks, read_header
from fraudstream.stopping import StopFlag
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
    source = Path("build/bench") / f"paysim-{rows}.csv"
    if not source.is_file():
        write_csv(source, rows=rows, seed=1)
    for model in ("logreg", "gbm"):  # in a process of its own: training takes gigabytes
        if not (MODELS / f"{model}.onnx").is_file():
            subprocess.run([sys.executable, "-m", "bench.producer", "--train", model], check=True)
    discard_bench_topics()
    warm_up(source)
    straightforward = measure("straightforward", source)  # once: it is slow, and far behind
    results = run_rounds(ROUND_VARIANTS, source, rounds)
    print(f"{rows:,} generated PaySim rows, acks=all, {replication()} replicas, 6 partitions")
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
    variants: tuple[str, ...], source: Path, rounds: int
) -> dict[str, list[dict[str, float]]]:
    """Each variant once a round, the order turned by one each round, so that a slow
    stretch of the machine falls on every variant alike."""
    results: dict[str, list[dict[str, float]]] = {variant: [] for variant in variants}
    for round_index in range(rounds):
        turn = round_index % len(variants)
        for variant in variants[turn:] + variants[:turn]:
            results[variant].append(measure(variant, source))
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


def measured(records: int, seconds: float, start: CpuClocks) -> dict[str, float]:
    """Records a second, and the CPU a record since ``start`` (``CpuClocks.per_record``)."""
    cpu = start.per_record(CpuClocks.read(stack_brokers()), records)
    return {"rows_per_second": records / seconds, **cpu}


def run_fraudstream(
    settings: Settings, source: Path, detector: Detector | None = None
) -> dict[str, float]:
    options = RunOptions(str(source), from_start=True)
    release_arrow_memory_promptly()  # as `fraudstream produce` does
    run = ProducerRun(settings, detector or LabelDetector(), options, StopFlag())
    start = CpuClocks.read(stack_brokers())
    summary = run.run(ProgressLog(3600))
    return measured(summary.total.good, summary.seconds, start)


def run_ceiling(settings: Settings, source: Path) -> dict[str, float]:
    preparer = Preparer(settings, LabelDetector())
    messages: list[tuple[str, bytes, bytes]] = []
    with source.open("rb") as stream:
        for chunk in read_chunks(stream, read_header(stream)[1], 2):
            block = parse_block(chunk.data, chunk.first_line)
            records = to_records(block, settings.event_start_time, preparer.emails)
            topics, keys, values = preparer.encode(records, LabelDetector().assess(records))
            messages += zip(topics, keys, values, strict=True)
    producer = Producer(kafka.producer_config(settings.kafka_bootstrap_servers))
    start, started = CpuClocks.read(stack_brokers()), time.perf_counter()
    for topic, key, value in messages:
        produce_with_backpressure(producer, topic, key, value)
    if producer.flush(120):
        raise SystemExit("the ceiling run left records undelivered")
    return measured(len(messages), time.perf_counter() - started, start)


def run_straightforward(settings: Settings, source: Path) -> dict[str, float]:
    client = registry.registry_client(settings.schema_registry_url, settings.schema_registry_login)
    schema = registry.load_schema("transaction")
    serializer = AvroSerializer(client, schema, conf=registry.SERIALIZER_CONFIG)
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
        }
    )
    failures: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(error)

    start_ms = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    start, started = CpuClocks.read(stack_brokers()), time.perf_counter()
    count = 0
    with source.open(newline="") as handle:
        for line_number, row in enumerate(csv.DictReader(handle), start=2):
            fraud = row["isFraud"] in ("1", "1.0")
            topic = settings.fraud_topic if fraud else settings.non_fraud_topic
            record = {
                "transaction_id": hashlib.blake2b(
                    f"{line_number},{','.join(row.values())}".encode(), digest_size=8
                ).hexdigest(),
                "step": int(row["step"]),
                "event_time": start_ms + (int(row["step"]) - 1) * HOUR_MS,
                "type": row["type"],
                "amount": float(row["amount"]),
                "nameOrig": row["nameOrig"],
                "oldbalanceOrg": float(row["oldbalanceOrg"]),
                "newbalanceOrig": float(row["newbalanceOrig"]),
                "nameDest": row["nameDest"],
                "oldbalanceDest": float(row["oldbalanceDest"]),
                "newbalanceDest": float(row["newbalanceDest"]),
                "isFraud": fraud,
                "isFlaggedFraud": row["isFlaggedFraud"] in ("1", "1.0"),
                "customer_email": f"{row['nameOrig']}@{settings.customer_email_domain}",
                "detector": "label",
                "score": 1.0 if fraud else 0.0,
            }
            value = serializer(record, SerializationContext(topic, MessageField.VALUE))
            while True:
                try:
                    producer.produce(topic, value, row["nameOrig"], on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            count += 1
    if producer.flush(120) or failures:
        raise SystemExit("the straightforward run lost records")
    return measured(count, time.perf_counter() - started, start)


def produce_with_backpressure(producer: Producer, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value, key)
            return
        except BufferError:
            producer.poll(0.1)


def warm_up(source: Path) -> None:
    """Load the transaction coordinator once, so no variant pays for a cold cluster."""
    tiny = source.with_name("warm-up.csv")
    with source.open() as full, tiny.open("w") as out:
        out.writelines(line for _, line in zip(range(1001), full, strict=False))
    run_fraudstream(fresh_settings(topic_partitions=6), tiny)


if __name__ == "__main__":
    main()
