"""Progress for a person on a terminal (a bar with rows/s and ETA), log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import NoReturn, Protocol

from tqdm import tqdm

from fraudstream.producer.checkpoint import Counts

log = logging.getLogger("fraudstream.producer")


class Progress(Protocol):
    def start(self, total_bytes: int, done_bytes: int) -> None: ...
    def update(self, done_bytes: int, total: Counts) -> None: ...
    def close(self) -> None: ...


class ProgressBar:
    """A tqdm bar over the bytes of the source, with rows/s beside it."""

    def __init__(self) -> None:
        self._bar: tqdm[NoReturn] | None = None
        self._started = time.monotonic()
        self._first_rows: int | None = None

    def start(self, total_bytes: int, done_bytes: int) -> None:
        self._bar = tqdm(
            total=total_bytes,
            initial=done_bytes,
            unit="B",
            unit_scale=True,
            desc="producing",
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def update(self, done_bytes: int, total: Counts) -> None:
        if self._bar is None:
            return
        rows = total.good + total.rejected
        if self._first_rows is None:
            self._first_rows = rows
        rate = (rows - self._first_rows) / max(time.monotonic() - self._started, 1e-9)
        self._bar.update(done_bytes - self._bar.n)
        self._bar.set_postfix(
            rows=f"{rows:,}",
            rows_s=f"{rate:,.0f}",
            fraud=total.fraud,
            rejected=total.rejected,
            refresh=False,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class ProgressLog:
    """A structured log line at most every ``interval`` seconds."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self._total_bytes = 0
        self._started = time.monotonic()
        self._last = 0.0
        self._start_bytes = 0

    def start(self, total_bytes: int, done_bytes: int) -> None:
        self._total_bytes, self._start_bytes = total_bytes, done_bytes
        self._started = time.monotonic()

    def update(self, done_bytes: int, total: Counts) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        elapsed = max(now - self._started, 1e-9)
        byte_rate = (done_bytes - self._start_bytes) / elapsed
        eta = (self._total_bytes - done_bytes) / byte_rate if byte_rate else None
        log.info(
            "progress",
            extra={
                "rows": total.good + total.rejected,
                "fraud": total.fraud,
                "rejected": total.rejected,
                "percent": round(100 * done_bytes / max(self._total_bytes, 1), 1),
                "eta_s": None if eta is None else round(eta),
            },
        )

    def close(self) -> None:
        return None


def progress_for_stderr() -> Progress:
    return ProgressBar() if sys.stderr.isatty() else ProgressLog()
