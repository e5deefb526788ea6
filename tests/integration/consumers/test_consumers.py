"""Both consumers and the confirmation service against the real stack."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

from fraudstream.settings.config import Settings
from tests.integration.confirmation_server import confirmation_service, fetch
from tests.integration.conftest import Stack
from tests.integration.kafka_reading import decoded_values, read_committed
from tests.integration.pipeline import (
    case_rows,
    consume,
    consume_cases,
    lake_documents,
    lake_objects,
    lake_records,
    mails_to,
    produce,
)

LINK = re.compile(r"(https?://\S+/confirm\?token=[\w.%-]+)")


def _consume_all(settings: Settings) -> None:
    for kind in ("non-fraud", "fraud"):
        consume(settings, kind)


def test_every_row_lands_once_in_the_lake_and_each_customer_gets_one_email(
    settings: Settings, stack: Stack, paysim_sample: Path
) -> None:
    produce(settings, paysim_sample)
    _consume_all(settings)

    transactions = lake_records(settings, "transaction")
    pending = lake_records(settings, "fraud_confirmation")
    email_log = lake_records(settings, "email_confirmation")
    assert len(transactions) == len({r["transaction_id"] for r in transactions}) == 2672
    assert len(pending) == len({r["transaction_id"] for r in pending}) == 16
    assert not any(r["isFraud"] for r in transactions)
    assert all(r["isFraud"] and r["status"] == "pending" for r in pending)
    assert Counter(e["status"] for e in email_log) == {"sent": 2688}
    assert {e["transaction_id"] for e in email_log} == {
        r["transaction_id"] for r in transactions + pending
    }

    mails = mails_to(stack.mail_api_url, settings.customer_email_domain)
    assert len(mails) == 2688
    by_recipient = Counter(m["to"][0]["address"] for m in mails)
    expected = Counter(r["customer_email"] for r in transactions + pending)
    assert by_recipient == expected
    fraud_mails = [m for m in mails if m["subject"].startswith("Was this you?")]
    assert len(fraud_mails) == 16
    assert all(len(LINK.findall(m["text"])) == 2 for m in fraud_mails)
    notification = next(m for m in mails if m["subject"].startswith("Your "))
    record = next(
        r for r in transactions if r["customer_email"] == notification["to"][0]["address"]
    )
    assert record["transaction_id"] in notification["text"]


def test_answers_from_the_links_are_recorded_once_and_published(
    settings: Settings, stack: Stack, paysim_sample: Path
) -> None:
    produce(settings, paysim_sample)
    with confirmation_service(settings) as base_url:
        settings = settings.model_copy(update={"confirmation_base_url": base_url})
        consume(settings, "fraud")
        mails = mails_to(stack.mail_api_url, settings.customer_email_domain)
        first, second = sorted(mails, key=lambda m: m["subject"])[:2]
        yes_first, no_first = LINK.findall(first["text"])
        yes_second, no_second = LINK.findall(second["text"])

        status, page = fetch(no_first)
        assert status == 200 and "Report this payment as fraud?" in page
        assert (
            lake_objects(settings, "fraud_confirmation/answers") == []
        )  # opening is not answering

        status, page = fetch(f"{base_url}/confirm", {"token": _token(no_first)})
        assert status == 200 and "reported this payment as fraud" in page
        status, page = fetch(f"{base_url}/confirm", {"token": _token(yes_first)})
        assert status == 200 and "You have already reported this payment as fraud" in page
        status, page = fetch(yes_first)
        assert "You have already reported" in page

        status, page = fetch(f"{base_url}/confirm", {"token": _token(yes_second)})
        assert status == 200 and "you have confirmed that you made this payment" in page
        assert _token(no_second)

    answers = lake_documents(settings, "fraud_confirmation/answers")
    assert sorted(str(a["status"]) for a in answers) == ["confirmed_fraud", "not_fraud"]
    published = decoded_values(
        stack.schema_registry_url,
        settings.confirmation_topic,
        read_committed(stack.bootstrap_servers, settings.confirmation_topic),
    )
    assert sorted(p["status"] for p in published) == ["confirmed_fraud", "not_fraud"]

    # The case consumer puts the clicked answers into the case table.
    consume_cases(settings)
    table = case_rows(settings)
    assert len(table) == 16
    assert Counter(row["status"] for row in table.values()) == {
        "pending": 14,
        "confirmed_fraud": 1,
        "not_fraud": 1,
    }
    answered = {
        row["transaction_id"]: row["status"] for row in table.values() if row["status"] != "pending"
    }
    assert answered == {str(a["transaction_id"]): str(a["status"]) for a in answers}


def _token(link: str) -> str:
    return unquote(link.partition("token=")[2])
