"""Set-based runs cut into ranges of ids, one transaction per range.

A bulk run over millions of rows keeps each transaction to one range: a failure loses one
range's work, and the next run picks up what is left. The ranges touch disjoint rows, so on
PostgreSQL several run side by side, one connection each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from app.db.session import is_postgres

T = TypeVar("T")

IdRange = tuple[int, int]


class RangeCutter(Protocol):
    """Cuts the rows of a run into [low, high) id ranges, as many as a multiple of `workers`."""

    def __call__(self, session: Session, *, workers: int) -> Sequence[IdRange]: ...


def over_id_batches(
    sessions: sessionmaker[Session],
    cut: RangeCutter,
    work: Callable[[IdRange], T],
    *,
    workers: int,
    name: str,
) -> list[T]:
    """`work` on each [low, high) range that `cut` gives. PostgreSQL runs `workers` of them side
    by side (SIMREG_BULK_WORKERS), one connection each; SQLite has one writer and runs them in
    turn. `name` prefixes the worker threads' names."""
    with sessions() as session:
        if not is_postgres(session):
            workers = 1
        ranges = cut(session, workers=workers)
    if workers == 1:
        return [work(bounds) for bounds in ranges]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        return list(pool.map(work, ranges))
