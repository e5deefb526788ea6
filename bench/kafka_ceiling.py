"""What the local cluster accepts from one Python producer, tuned versus default.

Both runs produce the same pre-encoded values (the size of an Avro
transaction record) with acks=all and idempotence to a fresh topic of the
pipeline's shape, so the ratio shows what the pipeline's batching and
compression settings buy on this machine. The tuned figure is the ceiling
the producer benchmark compares against.

    make bench          # or: python -m bench.kafka_ceiling --records 500000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid

from confluent_kafka import Producer

from fraudstream.kafka import ensure_topics, producer_config
from fraudstream.topology import Topic

RECORD_BYTES = 150  # a PaySim transaction in Avro with its id and email


def produce_all(config: dict[str, object], topic: str, values: list[bytes]) -> float:
    """Produce every value and wait for every acknowledgement; return records/s."""
    producer = Producer(config)
    failures = 0

    def on_delivery(error: object, _message: object) -> None:
        nonlocal failures
        failures += error is not None

    # Warm up outside the clock: metadata, connections and the idempotent
    # producer id (which waits for the transaction coordinator on a new cluster).
    producer.produce(topic, b"warm-up", on_delivery=on_delivery)
    producer.flush(60)
    started = time.perf_counter()
    for index, value in enumerate(values):
        while True:
            try:
                producer.produce(topic, value, key=str(index % 10_000), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - started
    if failures or remaining:
        raise SystemExit(f"{failures} failed and {remaining} undelivered records: no figure")
    return len(values) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    replication = int(os.environ.get("TOPIC_REPLICATION_FACTOR", "3"))
    rng = random.Random(7)
    values = [rng.randbytes(RECORD_BYTES) for _ in range(args.records)]

    baseline = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True}
    configs = {"librdkafka defaults": baseline, "fraudstream tuned": producer_config(bootstrap)}
    rates: dict[str, list[float]] = {label: [] for label in configs}
    for round_number in range(args.rounds):
        # Alternate the order so neither side always runs on a warmer cluster.
        order = list(configs) if round_number % 2 == 0 else list(reversed(configs))
        for label in order:
            topic = f"bench-ceiling-{uuid.uuid4().hex[:8]}"
            ensure_topics(bootstrap, [Topic(topic, 6, replication)])
            rates[label].append(produce_all(configs[label], topic, values))
    results = {label: statistics.median(runs) for label, runs in rates.items()}

    print(
        f"{args.records:,} pre-encoded records of {RECORD_BYTES} bytes, acks=all, "
        f"replication {replication}, median of {args.rounds} rounds"
    )
    for label, rate in results.items():
        print(f"  {label:<20} {rate:>12,.0f} records/s")
    ratio = results["fraudstream tuned"] / results["librdkafka defaults"]
    print(f"  tuned / defaults     {ratio:>12.2f}x")


if __name__ == "__main__":
    main()
