"""The id ranges the set-based runs work through: they cover every id once, none is wider than
the batch setting, and there are as many as a multiple of the workers running them."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from app.numbers.service import split_ids


class TestSplitIds:
    def test_a_million_two_hundred_thousand_ids_on_two_workers(self) -> None:
        ranges = split_ids(1, 1_200_001, step=250_000, workers=2)

        assert ranges == [(1 + k * 200_000, 1 + (k + 1) * 200_000) for k in range(6)]

    def test_one_worker_keeps_the_batch_width(self) -> None:
        assert split_ids(10, 25, step=5) == [(10, 15), (15, 20), (20, 25)]

    @given(
        low=st.integers(1, 10**9),
        span=st.integers(1, 10**7),
        step=st.integers(1_000, 10**6),
        workers=st.integers(1, 8),
    )
    def test_every_id_once_no_range_too_wide_and_work_shared_evenly(
        self, low: int, span: int, step: int, workers: int
    ) -> None:
        high = low + span
        ranges = split_ids(low, high, step=step, workers=workers)

        assert ranges[0][0] == low
        assert ranges[-1][1] == high
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
        assert all(0 < end - start <= step for start, end in ranges)
        if span >= workers:
            assert len(ranges) % workers == 0
