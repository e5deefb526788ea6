"""A mail server for runs of millions of emails: it takes each one over SMTP (aiosmtpd)
and keeps one line for it, its Message-ID and recipient, not the email.

    python -m bench.mail_sink --port 2525 --log build/whole-log/mail.tsv

The mail catcher keeps every email for a person to read and lists them all at once,
which does not hold millions. This server answers SMTP as any other, so the consumers
send to it unchanged; its log is what a run checks each email against. SIGTERM or
SIGINT stops it, the log flushed.
"""

from __future__ import annotations

import argparse
import re
import signal
from pathlib import Path
from typing import BinaryIO

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class LoggingHandler:
    """Each email accepted becomes a line: its Message-ID, a tab, its recipients."""

    def __init__(self, log: BinaryIO) -> None:
        self._log = log

    # aiosmtpd calls the hook by this name.
    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        header_end = content.find(b"\r\n\r\n")
        found = MESSAGE_ID.search(content, 0, header_end if header_end >= 0 else len(content))
        message_id = found.group(1) if found else b"-"
        recipients = ",".join(envelope.rcpt_tos).encode()
        self._log.write(message_id + b"\t" + recipients + b"\n")
        return "250 OK"


def serve(port: int, log_path: Path) -> None:
    """Serve on 127.0.0.1:``port`` until SIGTERM or SIGINT."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab", buffering=1 << 20) as log:
        controller = Controller(LoggingHandler(log), hostname="127.0.0.1", port=port)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        controller.start()
        print(f"mail sink on 127.0.0.1:{port}, logging to {log_path}", flush=True)
        try:
            signal.sigwait({signal.SIGTERM, signal.SIGINT})
        finally:
            controller.stop()


def read_log(log_path: Path) -> list[tuple[str, str]]:
    """The (Message-ID, recipients) of every email the sink took, in the order taken."""
    pairs = []
    with log_path.open("rb") as log:
        for line in log:
            message_id, _, recipients = line.rstrip(b"\n").partition(b"\t")
            pairs.append((message_id.decode(), recipients.decode()))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="the SMTP port, on 127.0.0.1")
    parser.add_argument("--log", type=Path, required=True, help="the file of one line an email")
    args = parser.parse_args()
    serve(args.port, args.log)


if __name__ == "__main__":
    main()
