"""Settings of topics, groups and a lake of their own for one benchmark run, provisioned,
deleted again; and the peak memory a benchmark's child process reports."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from bench.memory import high_water_mb
from fraudstream.kafka import client_config
from fraudstream.paysim.generator import write_csv
from fraudstream.settings.config import Settings, load_settings
from fraudstream.wiring.provision import provision


def fresh_settings(**overrides: Any) -> Settings:
    """Every topic, group and bucket named afresh, then created as ``fraudstream setup`` would."""
    settings = named_settings(uuid.uuid4().hex[:8], **overrides)
    provision(settings, say=lambda _line: None)
    return settings


# What every benchmark run's topics, groups and buckets are named with, and so found by.
PREFIX = "bench-"


def discard_bench_topics() -> None:
    """Delete every topic a benchmark run made (their names start with ``PREFIX``).

    Each run makes topics of its own; a cluster that kept them all would slow
    down from one run to the next (three brokers sharing two cores with over a
    thousand partitions), and the benchmarks would measure that."""
    settings = load_settings()
    admin = AdminClient(client_config(settings.kafka_connection))
    names = [name for name in admin.list_topics(timeout=30).topics if name.startswith(PREFIX)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=60).values():
            future.result()


def named_settings(suffix: str, **overrides: Any) -> Settings:
    """The settings of the benchmark run named ``suffix`` (for its child processes)."""
    names = {
        "fraud_topic": "fraud",
        "non_fraud_topic": "normal",
        "rejected_topic": "rejected",
        "checkpoint_topic": "checkpoints",
        "confirmation_topic": "answers",
        "dead_letter_topic": "dead",
        "lake_bucket": "lake",
        "dataset_bucket": "dataset",
        "non_fraud_consumer_group": "notifier",
        "fraud_consumer_group": "confirmer",
    }
    return load_settings(
        **{
            **{setting: f"{PREFIX}{name}-{suffix}" for setting, name in names.items()},
            "customer_email_domain": f"{PREFIX}{suffix}.example",
            **overrides,
        }
    )


def generated_file(rows: int) -> Path:
    """The generated PaySim file of ``rows`` rows the benchmarks share (seed 1), made once."""
    source = Path("build/bench") / f"paysim-{rows}.csv"
    if not source.is_file():
        write_csv(source, rows=rows, seed=1)
    return source


def peak_rss_mb() -> float:
    """The kernel's high-water mark of this process's resident memory (VmHWM), in MB.

    A benchmark's child reports it itself: wait4's ru_maxrss would not do, since
    Linux carries the parent's size over a fork and an exec into the child."""
    peak = high_water_mb(os.getpid())
    if peak is None:
        raise RuntimeError("no VmHWM in /proc/self/status")
    return peak
