"""`ahead`: the upload pipeline's stage that works on the next item in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from app.uploads.pipeline import ahead


def test_items_come_out_in_order_each_with_its_work_done() -> None:
    assert list(ahead(iter(range(5)), lambda n: n * n)) == [(n, n * n) for n in range(5)]
    assert list(ahead(iter([]), lambda n: n)) == []


def test_the_next_item_is_worked_on_while_the_caller_holds_this_one() -> None:
    second_started = threading.Event()

    def work(n: int) -> int:
        if n == 1:
            second_started.set()
        return n

    stage = ahead(iter(range(3)), work)
    assert next(stage) == (0, 0)
    # The caller has not asked for item 1 yet, and its work is already under way.
    assert second_started.wait(timeout=10)
    assert list(stage) == [(1, 1), (2, 2)]


def test_stages_chain_and_keep_the_order() -> None:
    first = ahead(iter(range(50)), lambda n: n + 1)
    second = ahead(first, lambda pair: pair[1] * 10)
    assert list(second) == [((n, n + 1), (n + 1) * 10) for n in range(50)]


def test_an_error_of_the_reader_or_the_work_reaches_the_caller_in_its_place() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("the file ends in the middle of a quote")

    stage = ahead(items(), lambda n: n)
    assert next(stage) == (1, 1)
    assert next(stage) == (2, 2)
    with pytest.raises(ValueError, match="middle of a quote"):
        next(stage)

    def fails_on_two(n: int) -> int:
        if n == 2:
            raise RuntimeError("two")
        return n

    stage = ahead(iter(range(5)), fails_on_two)
    assert next(stage) == (0, 0)
    assert next(stage) == (1, 1)
    with pytest.raises(RuntimeError, match="two"):
        next(stage)


def test_a_caller_that_stops_early_leaves_no_thread_behind() -> None:
    before = threading.active_count()
    stage = ahead(iter(range(100)), lambda n: n)
    assert next(stage) == (0, 0)
    stage.close()
    assert threading.active_count() == before


def test_several_workers_keep_the_order_when_later_work_ends_first() -> None:
    both_running = threading.Barrier(2, timeout=10)

    def work(n: int) -> int:
        if n < 2:
            both_running.wait()  # items 0 and 1 are worked on at the same time
        if n == 0:
            threading.Event().wait(0.05)  # and item 0 ends last
        return n * 2

    assert list(ahead(iter(range(6)), work, workers=2)) == [(n, n * 2) for n in range(6)]


def test_several_workers_raise_a_reader_error_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield from range(3)
        raise ValueError("bad block")

    stage = ahead(items(), lambda n: n, workers=2)
    assert [next(stage) for _ in range(3)] == [(0, 0), (1, 1), (2, 2)]
    with pytest.raises(ValueError, match="bad block"):
        next(stage)
