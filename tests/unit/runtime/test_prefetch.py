"""prefetched: the next item made in a worker thread while the caller has the current one."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import closing

import pytest

from fraudstream.runtime.prefetch import prefetched


def test_items_come_in_order_and_all_of_them() -> None:
    assert list(prefetched(iter(range(1000)))) == list(range(1000))
    assert list(prefetched(iter([]))) == []


def test_the_next_item_is_made_while_the_caller_holds_this_one() -> None:
    made: list[int] = []
    second_made = threading.Event()

    def items() -> Iterator[int]:
        for number in range(3):
            made.append(number)
            if number == 1:
                second_made.set()
            yield number

    ahead = prefetched(items())
    assert next(ahead) == 0
    assert second_made.wait(5), "item 1 was not made while the caller held item 0"
    assert made == [0, 1]
    assert list(ahead) == [1, 2]


def test_an_error_comes_out_at_the_item_it_was_making() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise OSError("the bucket went away")

    ahead = prefetched(items())
    assert next(ahead) == 1
    with pytest.raises(OSError, match="bucket went away"):
        next(ahead)


def test_closing_waits_for_the_step_under_way() -> None:
    finished: list[int] = []

    def items() -> Iterator[int]:
        for number in range(3):
            time.sleep(0.2)
            finished.append(number)
            yield number

    with closing(prefetched(items())) as ahead:
        assert next(ahead) == 0
    assert finished == [0, 1], "closing returned while item 1 was still being made"
