"""The skeleton every consumer runs.

Consume a step at a time until stopped or idle, finish what is in hand, and
close the clients whatever happened. A stop that comes while a step is
retrying (a server away) leaves that batch uncommitted: the next owner of its
partitions redoes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future

from confluent_kafka import Consumer, Message, TopicPartition

from fraudstream.consumers.retry import StopWhileRetryingError
from fraudstream.runtime.stopping import StopFlag

log = logging.getLogger("fraudstream.consumer")
WORK_POLL_SECONDS = 0.01  # how long a poll waits while work goes on beside it


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


def consume_until_done(
    consumer: Consumer,
    work: Future[None],
    take: Callable[[list[Message]], None],
    full: Callable[[], bool],
) -> None:
    """Go on consuming, handing what comes to ``take``, until ``work`` is done. Once
    ``full()``, fetching pauses (the member still polls, so it stays in its group), so
    that a long outage does not fill the memory. Only then: a pause drops what the client
    had fetched ahead (measured: pausing after one batch's worth made the lake path slower
    than not overlapping at all). A partition taken away meanwhile is resumed when it
    comes back (``kafka.assign_fetching``)."""
    paused: list[TopicPartition] = []
    while not work.done():
        if not paused and full():
            paused = consumer.assignment()
            consumer.pause(paused)
        take(consumer.consume(500, WORK_POLL_SECONDS))
    if paused:
        still_assigned = set(consumer.assignment())
        consumer.resume([tp for tp in paused if tp in still_assigned])
