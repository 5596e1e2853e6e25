"""The hottest read of the registry: a person checking the status of their numbers.

Millions of employees are told to check their number; this read must stay cheap. It is one
indexed query that touches no personal data (nothing to decrypt): the person's document and
birth-date hashes lead to their current registrations, and those to the numbers and companies.
On PostgreSQL it runs on an asyncpg pool inside the event loop (no thread hop, a prepared
statement); on SQLite, through SQLAlchemy in the thread pool.
"""

from __future__ import annotations

from typing import Protocol

import orjson
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from app.core.messages import DEFAULT, Language
from app.db.read_pool import ReadPool
from app.numbers.models import NumberStatus
from app.people.repository import PERSON_NUMBERS, PERSON_NUMBERS_ASYNCPG, Row
from app.people.words import RequestState, person_words


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
    """On the process's asyncpg pool, inside the event loop (a prepared statement)."""

    def __init__(self, pool: ReadPool) -> None:
        self._pool = pool

    async def read(self, portal_subject: str, language: Language = DEFAULT) -> bytes:
        """The body for `portal_subject`; DatabaseUnavailable (503) when PostgreSQL is away."""
        rows = await self._pool.fetch(PERSON_NUMBERS_ASYNCPG, portal_subject)
        return render([(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows], language)

    async def close(self) -> None:
        """Nothing of its own to close: the pool belongs to the application."""


def status_reader(engine: Engine, pool: ReadPool | None) -> StatusReader:
    """The reader for the runtime's engine: on `pool` when there is one (PostgreSQL)."""
    if pool is not None:
        return PostgresStatusReader(pool)
    return SessionStatusReader(engine)
