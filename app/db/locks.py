"""Runs that must not overlap, across threads, processes and hosts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from app.db.session import is_postgres

_process_locks: dict[int, threading.Lock] = {}
_guard = threading.Lock()


@contextmanager
def one_at_a_time(engine: Engine, key: int) -> Iterator[None]:
    """Hold the lock named `key` for the block: a process lock always (SQLite's single writer
    does the rest between processes), and a PostgreSQL session-level advisory lock, held
    across the block's own transactions and released if the process dies."""
    with _guard:
        local = _process_locks.setdefault(key, threading.Lock())
    with local:
        if not is_postgres(engine):
            yield
            return
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()


@contextmanager
def one_at_a_time_on_sqlite(engine: Engine, key: int) -> Iterator[None]:
    """Hold a process lock named `key` on SQLite only: work that PostgreSQL keeps apart by
    row locks (SKIP LOCKED), which SQLite does not have, runs one thread at a time there."""
    if is_postgres(engine):
        yield
        return
    with _guard:
        local = _process_locks.setdefault(key, threading.Lock())
    with local:
        yield
