"""The emails as they reach the mail catcher, and the confirmation pages, in headless Chromium,
on a phone (375 px wide) and a desktop (1280 px).

What is checked is what a person sees: the rendered text (nothing hidden, no
template markup), the payment on every page, the two answer links, the pages
they lead to clicked through to a recorded answer; that nothing is wider than
the screen; and that axe-core finds no WCAG 2 A/AA violation (colour contrast
among them). Every view is saved in build/screenshots/ to be looked at.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from fraudstream.devstack.install import ensure_axe_core
from fraudstream.devstack.layout import cache_dir
from fraudstream.emails.messages import payment_details
from fraudstream.emails.tokens import Payment
from fraudstream.paysim.generator import write_csv
from fraudstream.settings.config import Settings
from fraudstream.topology import ANSWERS_FOLDER
from tests.conftest import REPO_ROOT
from tests.integration.confirmation_server import confirmation_service
from tests.integration.conftest import Stack
from tests.integration.pipeline import consume, lake_documents, lake_records, mails_to, produce

WIDTHS = (375, 1280)
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
# axe-core's rules for WCAG 2.0 and 2.1, levels A and AA: the violations, one line each.
AXE_VIOLATIONS = """async () => {
  const found = await axe.run(document, {runOnly: {type: "tag",
    values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
  return found.violations.map(v => `${v.id}: ${v.nodes.map(n => n.target.join(" ")).join(", ")}`);
}"""


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated rows, two of them frauds: the screenshots show no real customer's payment."""
    path = tmp_path_factory.mktemp("customers") / "paysim.csv"
    write_csv(path, rows=2000, seed=18)
    return path


@pytest.fixture(scope="module")
def axe_script() -> str:
    return ensure_axe_core(cache_dir()).read_text()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Any]:
    """Opens a page as wide as asked; the pages' own Content-Security-Policy is bypassed only
    so that axe-core can be injected into them."""
    contexts = []

    def opened(width: int) -> Page:
        context = browser.new_context(viewport={"width": width, "height": 800}, bypass_csp=True)
        contexts.append(context)
        return context.new_page()

    yield opened
    for context in contexts:
        context.close()


def _looks_right(page: Page, view: str, axe_script: str) -> str:
    """The page's visible text, once it is shown to fit its width and pass axe-core; saved as
    ``build/screenshots/<view>-<width>.png``."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{view} scrolls"
    page.add_script_tag(content=axe_script)
    assert page.evaluate(AXE_VIOLATIONS) == [], view
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{view}-{width}.png", full_page=True)
    text = page.inner_text("body")
    assert "{{" not in text and "{%" not in text
    return text


def _shown_payment(page: Page) -> list[tuple[str, str]]:
    rows = page.locator("table tr")
    return [
        (rows.nth(index).locator("th").inner_text(), rows.nth(index).locator("td").inner_text())
        for index in range(rows.count())
    ]


def _mail_for(mails: list[dict[str, Any]], record: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in mails if record["transaction_id"] in m["text"])


def test_the_notification_email_reads_right_on_a_phone_and_a_desktop(
    settings: Settings, stack: Stack, generated: Path, open_page: Any, axe_script: str
) -> None:
    produce(settings, generated)
    consume(settings, "non-fraud")
    record = lake_records(settings, "transaction")[0]
    mail = _mail_for(mails_to(stack.mail_api_url, settings.customer_email_domain), record)
    brand = settings.brand()

    for width in WIDTHS:
        page = open_page(width)
        page.set_content(mail["html"])
        text = _looks_right(page, "notification-email", axe_script)
        for fact in (
            record["nameOrig"],
            brand.money(record["amount"]),
            record["transaction_id"],
            settings.support_contact,
        ):
            assert fact in text and fact in mail["text"]
        assert page.get_by_role("link").count() == 0


def test_a_fraud_email_leads_to_a_recorded_answer_about_the_same_payment(
    settings: Settings, stack: Stack, generated: Path, open_page: Any, axe_script: str
) -> None:
    produce(settings, generated)
    with confirmation_service(settings) as base_url:
        settings = settings.model_copy(update={"confirmation_base_url": base_url})
        consume(settings, "fraud")
        records = lake_records(settings, "fraud_confirmation")[: len(WIDTHS)]
        mails = mails_to(stack.mail_api_url, settings.customer_email_domain)
        for width, record in zip(WIDTHS, records, strict=True):
            customer = Customer(open_page(width), settings, base_url, axe_script)
            customer.answers(_mail_for(mails, record), record)

    answers = lake_documents(settings, ANSWERS_FOLDER)
    assert sorted((a["transaction_id"], a["status"]) for a in answers) == sorted(
        (record["transaction_id"], "confirmed_fraud") for record in records
    )


@dataclass
class Customer:
    """Someone reading their email and answering it, in a browser ``page``."""

    page: Page
    settings: Settings
    base_url: str
    axe_script: str

    def answers(self, mail: dict[str, Any], record: dict[str, Any]) -> None:
        """Read the email, follow "No, report fraud", answer, and open the email's other link."""
        page, settings, axe_script = self.page, self.settings, self.axe_script
        brand = settings.brand()
        as_decoded = {**record, "event_time": datetime.fromisoformat(record["event_time"])}
        payment = payment_details(Payment.of(as_decoded), record["transaction_id"], brand)
        amount, moment = dict(payment)["Amount"], dict(payment)["Date and time"]

        page.set_content(mail["html"])
        text = _looks_right(page, "fraud-email", axe_script)
        assert "Was this you?" in text and amount in text and moment in text
        yes = page.get_by_role("link", name="Yes, it was me")
        no = page.get_by_role("link", name="No, report fraud")
        assert yes.is_visible() and no.is_visible()
        for link in (yes, no):
            address = str(link.get_attribute("href"))
            assert address.startswith(f"{self.base_url}/confirm?token=") and address in mail["text"]

        no.click()
        page.wait_for_load_state()
        text = _looks_right(page, "ask-page", axe_script)
        assert "Report this payment as fraud?" in text and _shown_payment(page) == payment
        assert settings.support_contact in text
        assert not [
            a
            for a in lake_documents(settings, ANSWERS_FOLDER)
            if a["transaction_id"] == record["transaction_id"]
        ]

        page.get_by_role("button", name="Yes, report fraud").click()
        page.wait_for_load_state()
        text = _looks_right(page, "answer-page", axe_script)
        assert "you have reported this payment as fraud" in text
        assert _shown_payment(page) == payment and amount in text and moment in text

        page.set_content(mail["html"])  # the customer opens the email again: the other link
        page.get_by_role("link", name="Yes, it was me").click()
        page.wait_for_load_state()
        text = _looks_right(page, "answered-before-page", axe_script)
        assert "You have already reported this payment as fraud" in text
        assert _shown_payment(page) == payment
