"""Logs: short readable lines for a person at a terminal, one JSON object a line otherwise.

``LOG_FORMAT=auto`` (the default) picks text when stderr is a terminal and JSON
when it is not (a file, journald, a pipe); ``json`` or ``text`` forces one.
Either way each line carries the fields bound to the event.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """``12:00:01 WARNING retrying what=lake write attempt=2 in_s=1.0``"""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        level = "" if record.levelno == logging.INFO else f"{record.levelname} "
        line = f"{moment} {level}{record.getMessage()} {fields}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


PROJECT_LOGGER = "fraudstream"


def configure_logging(level: str, log_format: str = "auto") -> None:
    """The project's own logs at ``level``; every library's (Alembic, urllib3, waitress,
    ...) at WARNING, or at ``level`` when it asks for more (DEBUG)."""
    handler = logging.StreamHandler(sys.stderr)
    text = log_format == "text" or (log_format == "auto" and sys.stderr.isatty())
    handler.setFormatter(TextFormatter() if text else JsonFormatter())
    libraries = max(logging.WARNING, logging.getLevelName(level)) if level != "DEBUG" else level
    logging.basicConfig(level=libraries, handlers=[handler], force=True)
    logging.getLogger(PROJECT_LOGGER).setLevel(level)
