"""The confirmation service: where the links of a "was this you?" email lead.

``GET /confirm?token=...`` shows what the link will record and a button;
``POST /confirm`` records it. Opening a link changes nothing by itself: mail
scanners and link previews fetch links, and must not answer for the customer.
Once an answer is recorded, every page for that transaction shows it. A
tampered, unknown or expired token gets a 4xx page and records nothing.

Every page shows the payment the link is about, from the token, where the
pipeline signed it (``fraudstream.emails.tokens``), formatted as the email was;
and every page wears the deployment's brand (``fraudstream.emails.branding``).
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, render_template, request

from fraudstream.consumers.confirmation.answers import AnswerBook, Recorded
from fraudstream.emails.branding import Brand
from fraudstream.emails.messages import payment_details, when
from fraudstream.emails.tokens import (
    Answer,
    Confirmation,
    ExpiredTokenError,
    InvalidTokenError,
    verify,
)
from fraudstream.errors import FraudstreamError

log = logging.getLogger("fraudstream.confirmation")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the address
    "Cache-Control": "no-store",
    # Browsers keep to HTTPS for a year once they have seen this over HTTPS (the load
    # balancer's); over plain HTTP they ignore it.
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


# A form holds one token of about 60 characters: nothing legitimate is longer.
MAX_REQUEST_BYTES = 4096


def create_app(book: AnswerBook, key: bytes, brand: Brand) -> Flask:
    app = Flask(__name__, template_folder="pages")
    app.jinja_env.autoescape = True  # every page is HTML, whatever its file is called
    app.jinja_env.globals["brand"] = brand
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    headers = security_headers(brand)

    def about(confirmation: Confirmation) -> dict[str, Any]:
        """What every page about ``confirmation`` shows of its payment."""
        payment, transaction_id = confirmation.payment, confirmation.transaction_id
        details = None if payment is None else payment_details(payment, transaction_id, brand)
        return {"details": details, "transaction_id": transaction_id}

    @app.get("/confirm")
    def ask() -> tuple[str, int]:
        confirmation = _confirmation(request.args.get("token", ""), key)
        if isinstance(confirmation, tuple):
            return confirmation
        earlier = book.recorded(confirmation.transaction_id)
        if earlier is not None:
            return _recorded_page(earlier, about(confirmation)), 200
        return render_template(
            "ask.html.j2",
            fraud=confirmation.answer is Answer.FRAUD,
            token=request.args["token"],
            **about(confirmation),
        ), 200

    @app.post("/confirm")
    def record() -> tuple[str, int]:
        confirmation = _confirmation(request.form.get("token", ""), key)
        if isinstance(confirmation, tuple):
            return confirmation
        recorded = book.record(confirmation)
        log.info(
            "answer",
            extra={**recorded.answer, "new": recorded.new, "published": recorded.published},
        )
        return _recorded_page(recorded, about(confirmation)), 200

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.errorhandler(FraudstreamError)
    def unavailable(error: Exception) -> tuple[str, int]:
        log.error("cannot record or read answers now", extra={"reason": str(error)})
        return render_template("unavailable.html.j2"), 503

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers.update(headers)
        return response

    return app


def security_headers(brand: Brand) -> dict[str, str]:
    """The headers of every page; the brand's logo is the one image a page may load."""
    if brand.logo_url is None:
        return SECURITY_HEADERS
    logo = urllib.parse.urlsplit(brand.logo_url)
    policy = f"{SECURITY_HEADERS['Content-Security-Policy']}; img-src https://{logo.netloc}"
    return {**SECURITY_HEADERS, "Content-Security-Policy": policy}


def _recorded_page(recorded: Recorded, payment: dict[str, Any]) -> str:
    answered_at = datetime.fromisoformat(recorded.answer["answered_at"])
    answered_on = when(answered_at if answered_at.tzinfo else answered_at.replace(tzinfo=UTC))
    return render_template(
        "recorded.html.j2", recorded=recorded, answered_on=answered_on, **payment
    )


def _confirmation(token: str, key: bytes) -> Confirmation | tuple[str, int]:
    """The token's confirmation, or the 4xx page to answer with."""
    try:
        return verify(token, key, now=time.time())
    except ExpiredTokenError:
        return render_template("invalid.html.j2", expired=True), 410
    except InvalidTokenError:
        return render_template("invalid.html.j2", expired=False), 400
