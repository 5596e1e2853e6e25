"""The hottest read of the registry: a person checking the status of their numbers.

Millions of employees are told to check their number; this read must stay cheap. It is one
indexed query that touches no personal data (nothing to decrypt): the person's document and
birth-date hashes lead to their current registrations, and those to the numbers and companies.
On PostgreSQL it runs on an asyncpg pool inside the event loop (no thread hop, a prepared
statement); on SQLite, through SQLAlchemy in the thread pool.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import asyncpg
import orjson
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, make_url

from app.core.errors import DatabaseUnavailable
from app.core.messages import DEFAULT, Language
from app.db.session import is_postgres
from app.numbers.models import NumberStatus
from app.people.repository import PERSON_NUMBERS, PERSON_NUMBERS_ASYNCPG, Row
from app.people.words import RequestState, person_words

# A server away, restarting or cutting connections: the request answers 503 and is retried.
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)


def render(rows: list[Row], language: Language = DEFAULT) -> bytes:
    """The JSON body: each number, what its state means for the person, their next step and
    the deadline."""
    body = []
    for number_id, msisdn, status, deadline_at, company, request in rows:
        text, step = person_words(
            NumberStatus(status),
            RequestState.packed(request),
            company=company,
            deadline_at=deadline_at,
            language=language,
        )
        body.append(
            {
                "id": number_id,
                "msisdn": msisdn,
                "status": status,
                "status_text": text,
                "next_step": step,
                "deadline_at": deadline_at,
                "company_name": company,
            }
        )
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


class StatusReader(Protocol):
    """Reads one person's numbers and statuses."""

    async def read(self, portal_subject: str, language: Language = DEFAULT) -> bytes: ...

    async def close(self) -> None: ...


class SessionStatusReader:
    """Through SQLAlchemy in the thread pool: SQLite, or any engine without asyncpg."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _rows(self, portal_subject: str) -> list[Row]:
        with self._engine.connect() as conn:
            result = conn.execute(PERSON_NUMBERS, {"subject": portal_subject})
            return [
                (r.id, r.msisdn, NumberStatus(r.status).value, r.deadline_at, r.name, r.request)
                for r in result
            ]

    async def read(self, portal_subject: str, language: Language = DEFAULT) -> bytes:
        """The body for `portal_subject`."""
        return render(await run_in_threadpool(self._rows, portal_subject), language)

    async def close(self) -> None:
        """Nothing of its own to close: the engine belongs to the runtime."""


class PostgresStatusReader:
    """A small asyncpg pool of its own, opened at the first read (the database may be away
    when the instance starts) and opened again after it failed."""

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

    async def read(self, portal_subject: str, language: Language = DEFAULT) -> bytes:
        """The body for `portal_subject`; DatabaseUnavailable (503) when PostgreSQL is away."""
        try:
            pool = self._pool or await self._open()
            rows = await pool.fetch(PERSON_NUMBERS_ASYNCPG, portal_subject, timeout=self._timeout)
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(type(exc).__name__) from exc
        return render([(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows], language)

    async def close(self) -> None:
        """Close the pool, if it was opened."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def status_reader(engine: Engine, *, max_size: int, connect_timeout: float) -> StatusReader:
    """The reader for the runtime's engine."""
    if is_postgres(engine):
        return PostgresStatusReader(
            engine.url.render_as_string(hide_password=False),
            max_size=max_size,
            connect_timeout=connect_timeout,
        )
    return SessionStatusReader(engine)
