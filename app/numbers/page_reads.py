"""The admin's listing of a company's numbers, a page at a time: its hottest read.

An admin opens the list many times a day, most often at its first page. The page is one
keyset query on the company's index (subscriber_id, id) that reads only the listed columns,
and its JSON is written straight from the rows: no ORM object and no response model per row
(those took most of the request's time at 50 rows a page). On PostgreSQL it runs on the
process's asyncpg pool inside the event loop (a prepared statement, no thread hop); on
SQLite, through SQLAlchemy in the thread pool. The body is the one `NumberPage` describes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol

import orjson
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from app.core.messages import Language, say
from app.db.read_pool import ReadPool
from app.numbers.models import NumberStatus
from app.numbers.repository import COMPANY_PAGE_ASYNCPG, company_page_args
from app.numbers.service import NumberFilter, filter_digits, number_page_query

# The row's columns in `NumberOut`'s order (the status's words follow them).
FIELDS = (
    "id",
    "msisdn",
    "iccid",
    "operator_id",
    "subscriber_id",
    "contract_id",
    "status",
    "sim_kind",
    "deadline_at",
    "flag_days",
    "service_start_on",
    "status_changed_at",
)


@functools.cache
def _status_words(language: Language) -> dict[str, str]:
    return {s.value: say(f"number.status.{s.value}", language) for s in NumberStatus}


def render_page(
    rows: Sequence[Sequence[Any]], next_cursor: str | None, language: Language
) -> bytes:
    """The JSON body of a page: each number as `NumberOut` shows it, and the next cursor."""
    words = _status_words(language)
    items = []
    for row in rows:
        item = dict(zip(FIELDS, row, strict=True))
        item["status_text"] = words[item["status"]]
        items.append(item)
    return orjson.dumps({"items": items, "next_cursor": next_cursor}, option=orjson.OPT_UTC_Z)


class NumberPageReader(Protocol):
    """Reads one page of a company's numbers."""

    async def company_page(
        self, company_id: int, flt: NumberFilter, *, after_id: int | None, limit: int
    ) -> Sequence[Sequence[Any]]: ...


class SessionPageReader:
    """Through SQLAlchemy in the thread pool: SQLite, or any engine without asyncpg."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _rows(
        self, company_id: int, flt: NumberFilter, after_id: int | None, limit: int
    ) -> list[tuple[Any, ...]]:
        query = number_page_query(subscriber_id=company_id, flt=flt, after_id=after_id, limit=limit)
        with self._engine.connect() as conn:
            return [
                (*r[:6], NumberStatus(r[6]).value, r[7] and r[7].value, *r[8:])
                for r in conn.execute(query)
            ]

    async def company_page(
        self, company_id: int, flt: NumberFilter, *, after_id: int | None, limit: int
    ) -> Sequence[Sequence[Any]]:
        """The page's rows, in `FIELDS` order."""
        return await run_in_threadpool(self._rows, company_id, flt, after_id, limit)


class PostgresPageReader:
    """On the process's asyncpg pool, inside the event loop."""

    def __init__(self, pool: ReadPool) -> None:
        self._pool = pool

    async def company_page(
        self, company_id: int, flt: NumberFilter, *, after_id: int | None, limit: int
    ) -> Sequence[Sequence[Any]]:
        """The page's rows, in `FIELDS` order; DatabaseUnavailable (503) when PostgreSQL is
        away."""
        args = company_page_args(
            company_id,
            statuses=flt.statuses,
            kind=flt.kind.value if flt.kind else None,
            deadline_before=flt.deadline_before,
            digits=filter_digits(flt),
            after_id=after_id,
            limit=limit,
        )
        return await self._pool.fetch(COMPANY_PAGE_ASYNCPG, *args)


def number_page_reader(engine: Engine, pool: ReadPool | None) -> NumberPageReader:
    """The reader for the runtime's engine: on `pool` when there is one (PostgreSQL)."""
    if pool is not None:
        return PostgresPageReader(pool)
    return SessionPageReader(engine)
