"""`_ahead`: the upload pipeline's stage that works on the next item in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from app.uploads.service import _ahead


def test_items_come_out_in_order_each_with_its_work_done() -> None:
    assert list(_ahead(iter(range(5)), lambda n: n * n)) == [(n, n * n) for n in range(5)]
    assert list(_ahead(iter([]), lambda n: n)) == []


def test_the_next_item_is_worked_on_while_the_caller_holds_this_one() -> None:
    second_started = threading.Event()

    def work(n: int) -> int:
        if n == 1:
            second_started.set()
        return n

    stage = _ahead(iter(range(3)), work)
    assert next(stage) == (0, 0)
    # The caller has not asked for item 1 yet, and its work is already under way.
    assert second_started.wait(timeout=10)
    assert list(stage) == [(1, 1), (2, 2)]


def test_stages_chain_and_keep_the_order() -> None:
    first = _ahead(iter(range(50)), lambda n: n + 1)
    second = _ahead(first, lambda pair: pair[1] * 10)
    assert list(second) == [((n, n + 1), (n + 1) * 10) for n in range(50)]


def test_an_error_of_the_reader_or_the_work_reaches_the_caller_in_its_place() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("the file ends in the middle of a quote")

    stage = _ahead(items(), lambda n: n)
    assert next(stage) == (1, 1)
    assert next(stage) == (2, 2)
    with pytest.raises(ValueError, match="middle of a quote"):
        next(stage)

    def fails_on_two(n: int) -> int:
        if n == 2:
            raise RuntimeError("two")
        return n

    stage = _ahead(iter(range(5)), fails_on_two)
    assert next(stage) == (0, 0)
    assert next(stage) == (1, 1)
    with pytest.raises(RuntimeError, match="two"):
        next(stage)


def test_a_caller_that_stops_early_leaves_no_thread_behind() -> None:
    before = threading.active_count()
    stage = _ahead(iter(range(100)), lambda n: n)
    assert next(stage) == (0, 0)
    stage.close()
    assert threading.active_count() == before
