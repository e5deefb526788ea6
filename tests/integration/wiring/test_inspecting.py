"""Looking inside from the command line, against the real stack: `fraudstream topics` shows
each topic and each group's lag, `fraudstream tail` a topic's records decoded."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fraudstream.paysim.generator import write_csv
from fraudstream.settings.config import Settings
from tests.integration.pipeline import command_output, consume, produce

ROWS = 400


def _group_line(shown: str, group: str) -> str:
    return next(line for line in shown.splitlines() if line.split()[:2] == ["group", group])


def test_topics_shows_the_records_and_each_group_s_lag(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "log.csv"
    write_csv(source, rows=ROWS, seed=3)
    produce(settings, source)
    before = command_output(settings, "topics")
    assert f"topic  {settings.non_fraud_topic}" in before
    assert "nothing committed yet" in _group_line(before, settings.non_fraud_consumer_group)

    consume(settings, "non-fraud")
    after = _group_line(command_output(settings, "topics"), settings.non_fraud_consumer_group)
    # Caught up: at most the last transaction's end marker past each committed offset.
    lags = re.findall(rf"{settings.non_fraud_topic}\[\d+\] (\d+)", after)
    assert len(lags) == settings.topic_partitions and all(int(lag) <= 1 for lag in lags), after


def test_tail_prints_a_topic_s_records_decoded(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "log.csv"
    write_csv(source, rows=ROWS, seed=4)
    produce(settings, source)

    last = [
        json.loads(line)
        for line in command_output(
            settings, "tail", settings.non_fraud_topic, "-n", "5"
        ).splitlines()
    ]
    assert len(last) == 5
    assert all(set(r) == {"partition", "offset", "timestamp", "key", "value"} for r in last)
    assert all(r["value"]["nameOrig"] == r["key"] for r in last)  # keyed by customer
    every = command_output(settings, "tail", settings.non_fraud_topic, "--from-beginning")
    fraud = command_output(settings, "tail", settings.fraud_topic, "--from-beginning")
    assert len(every.splitlines()) + len(fraud.splitlines()) == ROWS
