"""The emails as they reach the mail catcher, and the confirmation pages, in headless Chromium.

What is checked is what a person sees: the rendered text (nothing hidden,
no template markup), the two answer buttons, and the pages they lead to,
clicked through to a recorded answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from fraudstream.config import Settings
from fraudstream.emails import money
from fraudstream.topology import ANSWERS_FOLDER
from tests.integration.confirmation_server import confirmation_service
from tests.integration.conftest import Stack
from tests.integration.pipeline import consume, lake_documents, lake_records, mails_to, produce


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page()
    yield opened
    opened.close()


def _shows(page: Page, html: str) -> str:
    page.set_content(html)
    text = page.inner_text("body")
    assert "{{" not in text and "{%" not in text
    return text


def _mail_for(mails: list[dict[str, Any]], record: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in mails if record["transaction_id"] in m["text"])


def test_the_notification_email_reads_right(
    settings: Settings, stack: Stack, paysim_sample: Path, page: Page
) -> None:
    produce(settings, paysim_sample)
    consume(settings, "non-fraud")
    record = lake_records(settings, "transaction")[0]
    mail = _mail_for(mails_to(stack.mail_api_url, settings.customer_email_domain), record)

    text = _shows(page, mail["html"])
    assert record["nameOrig"] in text
    assert money(record["amount"]) in text
    assert record["transaction_id"] in text
    assert page.get_by_role("link").count() == 0


def test_the_fraud_email_leads_to_a_recorded_answer(
    settings: Settings, stack: Stack, paysim_sample: Path, page: Page
) -> None:
    produce(settings, paysim_sample)
    with confirmation_service(settings) as base_url:
        settings = settings.model_copy(update={"confirmation_base_url": base_url})
        consume(settings, "fraud")
        record = lake_records(settings, "fraud_confirmation")[0]
        mail = _mail_for(mails_to(stack.mail_api_url, settings.customer_email_domain), record)

        text = _shows(page, mail["html"])
        assert "Was this you?" in text and money(record["amount"]) in text
        yes = page.get_by_role("link", name="Yes, it was me")
        no = page.get_by_role("link", name="No, report fraud")
        assert yes.is_visible() and no.is_visible()
        assert str(no.get_attribute("href")).startswith(f"{base_url}/confirm?token=")

        no.click()
        page.wait_for_load_state()
        assert "Report this payment as fraud?" in page.inner_text("body")
        assert lake_documents(settings, ANSWERS_FOLDER) == []  # looking is not answering

        page.get_by_role("button").click()
        page.wait_for_load_state()
        assert "reported this payment as fraud" in page.inner_text("body")

        _shows(page, mail["html"])  # the customer opens the email again
        page.get_by_role("link", name="Yes, it was me").click()
        page.wait_for_load_state()
        assert "You have already reported this payment as fraud" in page.inner_text("body")

    answers = lake_documents(settings, ANSWERS_FOLDER)
    assert [(a["transaction_id"], a["status"]) for a in answers] == [
        (record["transaction_id"], "confirmed_fraud")
    ]
