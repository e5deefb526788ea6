"""A stop flag raised by SIGINT or SIGTERM: long-running services finish what they hold and exit."""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

log = logging.getLogger("fraudstream")


class StopFlag:
    """``requested`` turns true on SIGINT or SIGTERM once ``install`` ran, or on ``request()``."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def request(self) -> None:
        self.requested = True

    def wait(self, seconds: float, step: float = 0.5) -> None:
        """Sleep ``seconds``, or less: up to ``step`` after a stop is requested."""
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(step, left))

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        self.requested = True
