"""A small asyncpg pool for the hottest reads, which run inside the event loop.

The person's status read and the admin's first page of numbers are read this way on
PostgreSQL: no thread hop, no ORM, a prepared statement per query. One pool per process,
shared by those reads, opened at the first read (the database may be away when the process
starts) and opened again after it failed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from sqlalchemy import make_url

from app.core.errors import DatabaseUnavailable

# A server away, restarting or cutting connections: the request answers 503 and is retried.
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)


class ReadPool:
    """An asyncpg pool on the runtime's PostgreSQL database."""

    def __init__(self, database_url: str, *, max_size: int, connect_timeout: float) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._max_size = max_size
        self._timeout = connect_timeout
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def _open(self) -> Any:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self._max_size,
                    timeout=self._timeout,
                    # The pool's connections are checked at checkout by the query itself; an
                    # idle one a restart broke fails that one query, answered 503, then replaced.
                    max_inactive_connection_lifetime=60,
                )
            return self._pool

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """The rows of `query` ($1, $2… bound to `args`); DatabaseUnavailable (503) when
        PostgreSQL is away."""
        try:
            pool = self._pool or await self._open()
            rows: list[Any] = await pool.fetch(query, *args, timeout=self._timeout)
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(type(exc).__name__) from exc
        return rows

    async def close(self) -> None:
        """Close the pool, if it was opened."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
