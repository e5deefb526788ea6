"""The run report, opened in headless Chromium: its figures are the lake's and Kafka's own counts,
and the page stands alone (no script, no file or address outside it)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

from confluent_kafka import Producer
from playwright.sync_api import Browser

from fraudstream.kafka import produce_and_wait, producer_config
from fraudstream.paysim.generator import write_csv
from fraudstream.settings.config import Settings
from fraudstream.topology import ANSWERS_FOLDER, LakeFolder
from tests.integration.confirmation_server import confirmation_service, fetch
from tests.integration.conftest import Stack
from tests.integration.consumers.test_bad_records import with_bad_records
from tests.integration.consumers.test_consumers import LINK
from tests.integration.kafka_reading import read_committed
from tests.integration.pipeline import (
    REPO_ROOT,
    consume,
    environment,
    lake_documents,
    lake_records,
    mails_to,
    produce,
)


def _run_with_answers(settings: Settings, stack: Stack, source: Path) -> None:
    """Generated rows and a batch with bad records, both consumers, and two answers."""
    produce_and_wait(
        Producer(producer_config(settings.kafka_bootstrap_servers)),
        with_bad_records(settings),
        "records with bad ones",
    )
    produce(settings, source)
    with confirmation_service(settings) as base_url:
        settings = settings.model_copy(update={"confirmation_base_url": base_url})
        consume(settings, "non-fraud")
        consume(settings, "fraud")
        fraud_mails = [
            m
            for m in mails_to(stack.mail_api_url, settings.customer_email_domain)
            if m["subject"].startswith("Was this you?")
        ]
        for mail, choice in zip(fraud_mails, (1, 0), strict=False):  # "no, fraud", "yes, me"
            token = unquote(LINK.findall(mail["text"])[choice].partition("token=")[2])
            assert fetch(f"{base_url}/confirm", {"token": token})[0] == 200


def _assert_says_where(written: subprocess.CompletedProcess[str], page_path: Path) -> None:
    """The command's last line is the page's path, and nothing else is on it (a stray "x"
    once was: the test's in-process waitress writing to a pipe it had closed, see
    ``confirmation_server``)."""
    line = f"report: {page_path.resolve()}"
    assert written.stdout.rstrip().splitlines()[-1] == line, (
        written.stdout,
        written.stderr[-2000:],
    )


def test_the_report_shows_the_lakes_own_counts(
    settings: Settings, stack: Stack, browser: Browser, tmp_path: Path
) -> None:
    source = tmp_path / "paysim.csv"
    write_csv(source, rows=4000, seed=9)
    _run_with_answers(settings, stack, source)
    page_path = tmp_path / "report.html"
    written = subprocess.run(
        [sys.executable, "-m", "fraudstream", "report", "-o", str(page_path)],
        cwd=REPO_ROOT,
        env=environment(settings),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    _assert_says_where(written, page_path)

    page = browser.new_page()
    try:
        page.goto(page_path.as_uri())
        shown = {
            str(element.get_attribute("data-figure")): element.inner_text().replace(",", "")
            for element in page.query_selector_all("[data-figure]")
        }
        plots = len(page.query_selector_all("svg"))
        outside = page.evaluate(
            "[...document.querySelectorAll('[src],[href],link,script')]"
            ".map(e => e.outerHTML.slice(0, 80))"
        )
    finally:
        page.close()

    non_fraud = lake_records(settings, LakeFolder.TRANSACTIONS)
    fraud = lake_records(settings, LakeFolder.FRAUD_CASES)
    emails = Counter(entry["status"] for entry in lake_records(settings, LakeFolder.EMAIL_LOG))
    answers = Counter(str(a["status"]) for a in lake_documents(settings, ANSWERS_FOLDER))
    by_type = Counter(str(r["type"]) for r in non_fraud + fraud)
    dead = read_committed(settings.kafka_bootstrap_servers, settings.dead_letter_topic)

    assert shown["rows"] == str(len(non_fraud) + len(fraud)) == str(4000 + 43)
    assert shown["fraud"] == str(len(fraud)) and len(fraud) > 2
    assert shown["steps"] == str(len({r["step"] for r in non_fraud + fraud}))
    assert {k: v for k, v in shown.items() if k.startswith("rows-")} == {
        f"rows-{name}": str(count) for name, count in by_type.items()
    }
    assert (
        (shown["emails-sent"], shown["emails-rejected"])
        == (str(emails["sent"]), str(emails["rejected"]))
        == (str(4000 + 40), "3")
    )
    assert answers == {"confirmed_fraud": 1, "not_fraud": 1}
    assert shown["answers-confirmed_fraud"] == shown["answers-not_fraud"] == "1"
    assert shown["flagged-label"] == str(len(fraud))
    assert shown["precision-label"] == "0.500"
    assert shown["dead-letters"] == str(len(dead)) == "1"
    assert shown[f"lag-{settings.fraud_consumer_group}"] in {"0", "1", "2", "3"}
    assert plots >= 5
    assert outside == [], "the page loads nothing from outside itself"
