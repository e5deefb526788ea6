"""The confirmation service: where the links of a "was this you?" email lead.

``GET /confirm?token=...`` shows what the link will record and a button;
``POST /confirm`` records it. Opening a link changes nothing by itself: mail
scanners and link previews fetch links, and must not answer for the customer.
Once an answer is recorded, every page for that transaction shows it. A
tampered, unknown or expired token gets a 4xx page and records nothing.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, render_template, request

from consumers.answers import AnswerBook
from fraudstream.errors import FraudstreamError
from fraudstream.tokens import Answer, Confirmation, ExpiredTokenError, InvalidTokenError, verify

log = logging.getLogger("fraudstream.confirmation")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the address
    "Cache-Control": "no-store",
}


# A form holds one token of about 60 characters: nothing legitimate is longer.
MAX_REQUEST_BYTES = 4096


def create_app(book: AnswerBook, key: bytes) -> Flask:
    app = Flask(__name__, template_folder="pages")
    app.jinja_env.autoescape = True  # every page is HTML, whatever its file is called
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    @app.get("/confirm")
    def ask() -> tuple[str, int]:
        confirmation = _confirmation(request.args.get("token", ""), key)
        if isinstance(confirmation, tuple):
            return confirmation
        earlier = book.recorded(confirmation.transaction_id)
        if earlier is not None:
            return render_template("recorded.html.j2", recorded=earlier), 200
        return render_template(
            "ask.html.j2", confirmation=confirmation, fraud=confirmation.answer is Answer.FRAUD,
            token=request.args["token"],
        ), 200  # fmt: skip

    @app.post("/confirm")
    def record() -> tuple[str, int]:
        confirmation = _confirmation(request.form.get("token", ""), key)
        if isinstance(confirmation, tuple):
            return confirmation
        recorded = book.record(confirmation)
        log.info("answer", extra={**recorded.answer, "new": recorded.new,
                                  "published": recorded.published})  # fmt: skip
        return render_template("recorded.html.j2", recorded=recorded), 200

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.errorhandler(FraudstreamError)
    def unavailable(error: Exception) -> tuple[str, int]:
        log.error("cannot record or read answers now", extra={"reason": str(error)})
        return render_template("unavailable.html.j2"), 503

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    return app


def _confirmation(token: str, key: bytes) -> Confirmation | tuple[str, int]:
    """The token's confirmation, or the 4xx page to answer with."""
    try:
        return verify(token, key, now=time.time())
    except ExpiredTokenError:
        return render_template("invalid.html.j2", expired=True), 410
    except InvalidTokenError:
        return render_template("invalid.html.j2", expired=False), 400
