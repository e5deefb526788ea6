"""The lag watcher (`fraudstream watch-lag`) against a real cluster: each consumer group's
whole lag, as Kafka's own offsets give it, as one series a group."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from fraudstream.paysim.generator import write_csv
from fraudstream.settings.config import Settings
from fraudstream.topology import consumer_group_topics
from tests.integration.conftest import free_port
from tests.integration.pipeline import REPO_ROOT, consume, environment, produce, wait_until
from tests.integration.runtime.test_metrics import group_lag, scrape_when_up


def whole_lags(settings: Settings) -> dict[str, int]:
    """Each consumer group's lag, as the sum over its topics' partitions of what Kafka says."""
    return {
        group: sum(sum(group_lag(settings, group, topic).values()) for topic in topics)
        for group, topics in consumer_group_topics(settings).items()
    }


def watched_lags(port: int) -> dict[str, int]:
    samples = scrape_when_up(port) or {}
    return {
        dict(labels)["group"]: int(found)
        for (name, labels), found in samples.items()
        if name == "fraudstream_group_lag"
    }


def test_the_lag_watcher_exports_each_group_s_whole_lag_uncommitted_partitions_included(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "log.csv"
    write_csv(source, rows=600, seed=3)
    produced = produce(settings, source).this_run
    port, log = free_port(), tmp_path / "watch-lag.log"
    watcher = subprocess.Popen(
        [sys.executable, "-m", "fraudstream", "watch-lag", "--every", "0.5"],
        cwd=REPO_ROOT,
        env=environment(settings, metrics_port=port),
        stderr=log.open("wb"),
    )
    try:
        # No group has committed yet: the whole backlog is lag, each record of it once,
        # and a transaction's end marker at most in each partition. Read right after the
        # run, Kafka's figure was three times short by one partition's records (after a
        # test that restarts a broker), and whole a moment later: wait for it.
        group = settings.non_fraud_consumer_group
        wait_until(lambda: whole_lags(settings)[group] >= produced.non_fraud, "every record")
        before = whole_lags(settings)
        assert before[group] <= produced.non_fraud + settings.topic_partitions
        wait_until(lambda: watched_lags(port) == before, "the watcher's figures")
        consume(settings, "non-fraud")
        after = whole_lags(settings)
        # What is left is the last transaction's commit marker in each partition, as
        # fraudstream_consumer_lag counts it too: one at most a partition.
        assert after[settings.non_fraud_consumer_group] <= settings.topic_partitions
        assert after[settings.fraud_consumer_group] == before[settings.fraud_consumer_group]
        wait_until(lambda: watched_lags(port) == after, "the watcher's figures after the reading")
    finally:
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(30) == 0, log.read_text()[-2000:]
