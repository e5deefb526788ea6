"""Outgoing mail over one persistent SMTP connection."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from types import TracebackType

from fraudstream.emails.messages import Email
from fraudstream.errors import FraudstreamError


class MailError(FraudstreamError):
    """The SMTP server could not be reached or refused the message.

    ``permanent`` is true when the server said no for good (a 5xx reply):
    sending the same message again would fail the same way. Either way it is
    about one message (or one connection): the sender goes on with the others.
    """

    def __init__(self, text: str, *, permanent: bool = False) -> None:
        super().__init__(text)
        self.permanent = permanent


class SmtpSender:
    """Sends messages over one connection, reconnecting when the server dropped it."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10,
    ) -> None:
        self.host, self.port, self.starttls = host, port, starttls
        self.username, self.password, self.timeout = username, password, timeout
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def send(self, email: Email) -> None:
        """Hand ``email`` to the server; MailError if it was not accepted."""
        for attempt in (1, 2):
            try:
                refused = self._connection().sendmail(email.sender, [email.recipient], email.data)
            except smtplib.SMTPServerDisconnected as error:
                self._smtp = None  # the server closed an idle connection: once more, afresh
                if attempt == 2:
                    raise MailError(f"{self.host}:{self.port} dropped the connection") from error
                continue
            except (UnicodeEncodeError, ValueError) as error:
                # smtplib checks what it puts on the wire: an address it cannot encode or
                # that breaks a command line. This message can never go; the others can.
                raise MailError(
                    f"cannot send to {email.recipient!r:.80}: {error}", permanent=True
                ) from error
            except (smtplib.SMTPException, OSError) as error:
                self.close()
                raise MailError(
                    f"{self.host}:{self.port} did not take the message: {error}",
                    permanent=is_permanent(error),
                ) from error
            if refused:
                codes = [code for code, _ in refused.values()]
                raise MailError(
                    f"recipients refused: {', '.join(refused)}",
                    permanent=all(code >= 500 for code in codes),
                )
            return

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._smtp = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username and self.password:
                smtp.login(self.username, self.password)
            self._smtp = smtp
        return self._smtp


def is_permanent(error: Exception) -> bool:
    """Only a 5xx about this message (its recipient or its content) is final.

    Anything else (no connection, a 4xx, a refused sender or login) concerns
    every message alike and may pass: it is retried, never written off.
    """
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPDataError):
        return error.smtp_code >= 500
    return False
