"""Live replay (``produce --rate``) against the real stack: payments released evenly,
stamped with their release, committed every 100 ms, each once, and resumed once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from fraudstream.paysim.generator import write_csv
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.runs import RunOptions, Summary
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings
from fraudstream.wiring import producing
from tests.integration.kafka_reading import decoded_values, read_committed

ROWS = 3_000
RATE = 1_000.0  # payments a second: the run lasts about 3 s


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("live") / "paysim.csv"
    write_csv(path, ROWS, seed=32)
    return path


def _live(settings: Settings, source: Path, stop: StopFlag | None = None) -> Summary:
    options = RunOptions(str(source), rate=RATE, commit_interval=0.1)
    run = producing.producer_run(settings, options, stop or StopFlag())
    return run.run(ProgressLog())


def _records(settings: Settings) -> list[dict[str, object]]:
    servers, registry = settings.kafka_bootstrap_servers, settings.schema_registry_url
    return [
        record
        for topic in (settings.fraud_topic, settings.non_fraud_topic)
        for record in decoded_values(registry, topic, read_committed(servers, topic))
    ]


def _commits() -> float:
    sample = REGISTRY.get_sample_value(
        "fraudstream_producer_transactions_total", {"outcome": "committed"}
    )
    return sample or 0.0


def test_a_live_run_releases_evenly_stamps_each_payment_and_commits_every_100_ms(
    settings: Settings, source: Path
) -> None:
    commits_before = _commits()
    started = time.time()
    summary = _live(settings, source)
    ended = time.time()

    assert summary.complete
    records = _records(settings)
    assert len(records) == summary.total.good
    assert len({record["transaction_id"] for record in records}) == len(records)
    stamps = np.sort([record["event_time"].timestamp() for record in records])  # type: ignore[attr-defined]
    # Stamped with the moment of release, during the run, not on PaySim's calendar.
    assert started <= stamps[0] and stamps[-1] <= ended
    assert stamps[-1] - stamps[0] == pytest.approx((len(records) - 1) / RATE, rel=0.02)
    for start in np.arange(stamps[0], stamps[-1] - 0.1, 0.037):
        in_window = np.count_nonzero((stamps >= start) & (stamps < start + 0.1))
        assert RATE / 10 * 0.9 <= in_window <= RATE / 10 * 1.1, (start, in_window)
    # A commit every 100 ms over about 3 s: some 30 on a quiet machine, fewer when each
    # takes longer; as fast as possible, the 3,000 rows would take one transaction.
    assert _commits() - commits_before >= 10
    assert {record["step"] for record in records} != {None}, "PaySim's step is kept"


def test_a_live_run_stopped_half_way_resumes_and_produces_each_row_once(
    settings: Settings, source: Path
) -> None:
    stop = StopFlag()
    timer = threading.Timer(1.0, stop.request)
    timer.start()
    first = _live(settings, source, stop)
    timer.join()
    assert not first.complete, "the run ended before the stop"
    assert 0 < first.total.good < ROWS

    second = _live(settings, source)

    assert second.complete
    ids = Counter(str(record["transaction_id"]) for record in _records(settings))
    assert len(ids) == second.total.good, "a row is missing"
    assert max(ids.values()) == 1, "a row went twice"
    assert second.this_run.good == second.total.good - first.total.good
