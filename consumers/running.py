"""The skeleton every consumer runs.

Consume a step at a time until stopped or idle, finish what is in hand, and
close the clients whatever happened. A stop that comes while a step is
retrying (a server away) leaves that batch uncommitted: the next owner of its
partitions redoes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fraudstream.consumers.retry import StopWhileRetryingError
from fraudstream.stopping import StopFlag

log = logging.getLogger("fraudstream.consumer")


def run_until_stopped(
    step: Callable[[], None],
    *,
    stop: StopFlag,
    idle: Callable[[], bool],
    finish: Callable[[], None],
    watch: Callable[[bool], None],
    close: Callable[[], None],
) -> None:
    """``step`` until ``stop`` or ``idle()``, then ``finish``; ``watch(force)`` after each
    step and at the end; ``close`` always."""
    try:
        while not stop.requested and not idle():
            step()
            watch(False)
        finish()
        watch(True)
    except StopWhileRetryingError as stopped:
        log.warning(
            "stopped while retrying; the batch is left uncommitted for a redo",
            extra={"what": str(stopped)},
        )
    finally:
        close()
