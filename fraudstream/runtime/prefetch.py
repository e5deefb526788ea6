"""Work one item ahead: the next item of an iterator is made in a worker thread while the
caller works on the current one."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterator[T]) -> Generator[T, None, None]:
    """The items of ``items`` in order, each next one made in a worker thread meanwhile.

    ``items`` is only ever advanced by that one thread, one step at a time; an
    exception it raises comes out here, at the item it was making. Closing the
    returned generator (``contextlib.closing``) waits for the step under way, so
    that nothing touches what ``items`` reads from afterwards.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="ahead") as worker:
        pending = worker.submit(next, items, _DONE)
        while (item := pending.result()) is not _DONE:
            pending = worker.submit(next, items, _DONE)
            yield cast(T, item)
