"""Each service's metrics endpoint, scraped during a real run: its numbers are what the run did,
as the topics, the lake, the mail catcher and the group's committed offsets show it."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from fraudstream.kafka import produce_and_wait, producer_config
from fraudstream.paysim.generator import write_csv
from fraudstream.producer.progress import ProgressLog
from fraudstream.producer.runs import RunOptions
from fraudstream.runtime import metrics
from fraudstream.runtime.stopping import StopFlag
from fraudstream.settings.config import Settings
from fraudstream.topology import LakeFolder
from fraudstream.wiring import producing
from tests.integration.confirmation_server import fetch
from tests.integration.conftest import Stack, free_port
from tests.integration.consumers.test_bad_records import with_bad_records
from tests.integration.consumers.test_consumers import LINK
from tests.integration.kafka_reading import read_committed
from tests.integration.pipeline import (
    REPO_ROOT,
    consume,
    environment,
    lake_records,
    mails_to,
    produce,
    start_consumer,
    wait_until,
)
from tests.outage import relay

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    """Every sample the endpoint serves, by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape_when_up(port: int) -> Samples | None:
    try:
        return scrape(port)
    except OSError:
        return None


@contextmanager
def scraping(port: int, every: float = 0.02) -> Iterator[list[Samples]]:
    """Scrapes the endpoint over and over in a thread while the block runs."""
    seen: list[Samples] = []
    done = threading.Event()

    def loop() -> None:
        while not done.wait(every):
            if (samples := scrape_when_up(port)) is not None:
                seen.append(samples)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join()


def group_lag(settings: Settings, group: str, topic: str) -> dict[int, int]:
    """What Kafka says the group's lag is: each partition's high watermark - its commit."""
    reader = Consumer({**settings.kafka_connection, "group.id": group})
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        committed = reader.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        lags = {}
        for tp in committed:
            low, high = reader.get_watermark_offsets(tp, timeout=10)
            lags[tp.partition] = high - (tp.offset if tp.offset >= 0 else low)
        return lags
    finally:
        reader.close()


def lag_samples(samples: Samples, group: str, topic: str) -> dict[int, int]:
    return {
        int(dict(labels)["partition"]): int(found)
        for (name, labels), found in samples.items()
        if name == "fraudstream_consumer_lag"
        and dict(labels).get("group") == group
        and dict(labels).get("topic") == topic
    }


def test_the_producer_counts_what_it_committed(settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "paysim.csv"
    write_csv(source, rows=3000, seed=5)
    with source.open("a") as csv:
        csv.write("not,a,paysim,row\n1,PAYMENT,-5,C1,0,0,M1,0,0,0,0\n")
    port = free_port()
    server = metrics.serve(port)
    assert server is not None
    try:
        before = scrape(port)
        with scraping(port) as seen:  # paced: a transaction a PaySim step, 300 steps a second
            paced = producing.producer_run(settings, RunOptions(str(source), speed=300), StopFlag())
            summary = paced.run(ProgressLog())
        after = scrape(port)
    finally:
        server.shutdown()
        server.server_close()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    run = summary.this_run
    assert run.rejected == 2 and run.fraud > 0
    assert grew("fraudstream_producer_rows_read_total") == run.good + run.rejected == 3002
    assert grew("fraudstream_producer_rows_produced_total", verdict="fraud") == run.fraud
    assert grew("fraudstream_producer_rows_produced_total", verdict="non_fraud") == run.non_fraud
    assert grew("fraudstream_producer_rows_rejected_total") == 2
    committed = grew("fraudstream_producer_transactions_total", outcome="committed")
    assert committed > 400  # 3,000 rows over 485 steps
    assert grew("fraudstream_producer_commit_seconds_count") == committed
    assert grew("fraudstream_producer_transactions_total", outcome="failed") == 0
    assert len(read_committed(settings.kafka_bootstrap_servers, settings.fraud_topic)) == run.fraud
    # Scraped during the run: the count grew transaction by transaction.
    read = [
        value(s, "fraudstream_producer_rows_read_total")
        - value(before, "fraudstream_producer_rows_read_total")
        for s in seen
    ]
    assert read == sorted(read)
    assert any(0 < count < 3002 for count in read), "no scrape caught the run half-way"


def test_a_consumer_counts_emails_retries_dead_letters_and_its_lag(
    settings: Settings, stack: Stack, tmp_path: Path
) -> None:
    producer = Producer(producer_config(settings.kafka_bootstrap_servers))
    produce_and_wait(producer, with_bad_records(settings), "the test records")
    port, group = free_port(), settings.non_fraud_consumer_group
    with relay(settings.smtp_host, settings.smtp_port) as smtp:
        smtp.cut()  # the mail server is down when the consumer starts
        consumer = start_consumer(
            settings,
            "non-fraud",
            "--idle-exit",
            "30",
            log=tmp_path / "consumer.log",
            metrics_port=port,
            smtp_port=smtp.port,
            retry_first_seconds=0.2,
        )
        try:
            wait_until(
                lambda: (
                    value(
                        scrape_when_up(port) or {},
                        "fraudstream_retries_total",
                        group=group,
                        cause="smtp",
                    )
                    >= 2
                ),
                "SMTP retries counted",
            )
            smtp.restore()
            wait_until(
                lambda: value(scrape(port), "fraudstream_consumer_batches_total", group=group) == 1,
                "the batch finished",
            )
            wait_until(
                lambda: (
                    lag_samples(scrape(port), group, settings.non_fraud_topic) == {0: 0, 1: 0, 2: 0}
                ),
                "the lag read to the end",
            )
            samples = scrape(port)
        finally:
            consumer.send_signal(signal.SIGTERM)
            assert consumer.wait(60) == 0

    log = lake_records(settings, LakeFolder.EMAIL_LOG)
    statuses = Counter(entry["status"] for entry in log)
    assert (
        value(
            samples,
            "fraudstream_consumer_records_total",
            group=group,
            topic=settings.non_fraud_topic,
        )
        == 44
    )
    assert (
        value(samples, "fraudstream_emails_total", group=group, status="sent")
        == statuses["sent"]
        == len(mails_to(stack.mail_api_url, settings.customer_email_domain))
        == 40
    )
    assert value(samples, "fraudstream_emails_total", group=group, status="rejected") == 3
    assert (
        value(samples, "fraudstream_emails_retried_total", group=group)
        == sum(max(entry["attempts"] - 1, 0) for entry in log)
        >= 40
    )
    assert (
        value(samples, "fraudstream_dead_letters_total", group=group)
        == len(read_committed(settings.kafka_bootstrap_servers, settings.dead_letter_topic))
        == 1
    )
    assert value(samples, "fraudstream_consumer_batch_seconds_count", group=group) == 1
    assert group_lag(settings, group, settings.non_fraud_topic) == {0: 0, 1: 0, 2: 0}


def test_answers_and_cases_are_counted_by_the_service_and_the_case_consumer(
    settings: Settings, stack: Stack, tmp_path: Path
) -> None:
    source = tmp_path / "paysim.csv"
    write_csv(source, rows=3000, seed=6)
    fraud = produce(settings, source).this_run.fraud
    service_port, metrics_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{service_port}"
    settings = settings.model_copy(update={"confirmation_base_url": base_url})
    consume(settings, "fraud")
    links = [
        LINK.findall(mail["text"])
        for mail in mails_to(stack.mail_api_url, settings.customer_email_domain)
    ]
    service = subprocess.Popen(
        [sys.executable, "-m", "fraudstream", "confirmation-service"],
        cwd=REPO_ROOT,
        env=environment(settings, confirmation_port=service_port, metrics_port=metrics_port),
        stderr=(tmp_path / "service.log").open("wb"),
    )
    try:
        wait_until(lambda: scrape_when_up(metrics_port) is not None, "the service's metrics")
        wait_until(lambda: _answers(f"{base_url}/healthz"), "the service")  # it binds later
        (yes_a, _no_a), (_yes_b, no_b) = links[0], links[1]
        for link in (yes_a, no_b, yes_a):  # the third click finds the first answer
            status, _page = fetch(f"{base_url}/confirm", {"token": _token(link)})
            assert status == 200
        answers = scrape(metrics_port)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(30)
    assert value(answers, "fraudstream_answers_recorded_total", status="confirmed_fraud") == 1
    assert value(answers, "fraudstream_answers_recorded_total", status="not_fraud") == 1
    assert (
        value(answers, "fraudstream_answers_published_total")
        == len(read_committed(settings.kafka_bootstrap_servers, settings.confirmation_topic))
        == 2
    )

    cases_port, group = free_port(), settings.cases_consumer_group
    cases = start_consumer(
        settings, "cases", "--idle-exit", "30", metrics_port=cases_port, log=tmp_path / "cases.log"
    )
    try:
        wait_until(
            lambda: (
                value(
                    scrape_when_up(cases_port) or {},
                    "fraudstream_consumer_records_total",
                    group=group,
                    topic=settings.confirmation_topic,
                )
                == 2
            ),
            "the answers taken",
        )
        wait_until(
            lambda: (
                lag_samples(scrape(cases_port), group, settings.fraud_topic)
                == group_lag(settings, group, settings.fraud_topic)
            ),
            "the lag as Kafka says",
        )
        samples = scrape(cases_port)
    finally:
        cases.send_signal(signal.SIGTERM)
        assert cases.wait(60) == 0
    assert (
        value(
            samples, "fraudstream_consumer_records_total", group=group, topic=settings.fraud_topic
        )
        == fraud
    )
    # The fraud topic is written in transactions: each partition's commit marker stays as lag.
    assert set(lag_samples(samples, group, settings.fraud_topic).values()) <= {0, 1}
    assert value(samples, "fraudstream_dead_letters_total", group=group) == 0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _token(link: str) -> str:
    return unquote(link.partition("token=")[2])
