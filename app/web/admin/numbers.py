"""The company's numbers: filters in a GET form, a page of the API's listing at a time with
each number's user as the export shows it, and the export with the same filters."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from app.core.clock import MOSCOW
from app.core.deps import ClockDep, CursorDep, RuntimeDep
from app.core.integers import RowId
from app.core.messages import Language, LanguageDep, Text
from app.core.runtime import Runtime
from app.numbers.exports import ExportWords, company_numbers
from app.numbers.models import NumberStatus, SimKind
from app.numbers.page_reads import page_items
from app.numbers.router import company_number_rows, export_company_numbers
from app.numbers.schemas import NumberOut
from app.numbers.service import NumberFilter
from app.web.admin.cabinet import Reader, cabinet_page, page_router

router = page_router()
PAGE_SIZE = 50


@dataclass
class Filters:
    """The filters as the form sent them, and as the listing takes them."""

    statuses: list[NumberStatus] = field(default_factory=list)
    kind: SimKind | None = None
    deadline_before: str = ""
    q: str = ""
    problem: Text | None = None

    @property
    def number_filter(self) -> NumberFilter:
        day = _day(self.deadline_before)
        before = dt.datetime.combine(day, dt.time(), MOSCOW) if day else None
        return NumberFilter(
            statuses=tuple(self.statuses),
            kind=self.kind,
            deadline_before=before,
            text=self.q or None,
        )

    @property
    def query(self) -> str:
        """The filters as a query string, for the next page and the export links."""
        pairs = [("status", s.value) for s in self.statuses]
        pairs += [("kind", self.kind.value)] if self.kind else []
        pairs += [("deadline_before", self.deadline_before)] if self.deadline_before else []
        pairs += [("q", self.q)] if self.q else []
        return urlencode(pairs)


def _day(value: str) -> dt.date | None:
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(value.strip(), pattern).date()
        except ValueError:
            continue
    return None


def page_filters(
    status: Annotated[list[str] | None, Query()] = None,
    kind: str = "",
    deadline_before: Annotated[str, Query(max_length=20)] = "",
    q: Annotated[str, Query(max_length=16)] = "",
) -> Filters:
    """The GET form's fields, forgiving: an empty choice is no filter, an unknown one ignored."""
    filters = Filters(
        statuses=[NumberStatus(s) for s in status or () if s in NumberStatus._value2member_map_],
        kind=SimKind(kind) if kind in SimKind._value2member_map_ else None,
        q=q.strip(),
    )
    if deadline_before.strip():
        if _day(deadline_before):
            filters.deadline_before = deadline_before.strip()
        else:
            filters.problem = Text("page.admin.numbers.deadline_invalid", value=deadline_before)
    return filters


FiltersDep = Annotated[Filters, Depends(page_filters)]


def users_of(
    runtime: Runtime, company_id: int, flt: NumberFilter, rows: list[NumberOut], language: Language
) -> dict[int, str]:
    """Each listed number's current user as the export shows it: an employee's names, a
    device's type and model (never personal data)."""
    if not rows:
        return {}
    words = ExportWords(language)
    lines = company_numbers(
        runtime.sessions, company_id=company_id, flt=flt, chunk=len(rows), after=rows[0].id - 1
    )
    users: dict[int, str] = {}
    for line in itertools.islice(lines, len(rows)):
        device = " ".join(filter(None, (words.device_type(line.device_type), line.device_model)))
        users[line.id] = line.employee_name or device
    return users


@router.get("/companies/{company_id}/numbers", response_class=HTMLResponse)
async def numbers_page(
    request: Request,
    company_id: RowId,
    runtime: RuntimeDep,
    cursors: CursorDep,
    reader: Reader,
    language: LanguageDep,
    filters: FiltersDep,
    cursor: str | None = None,
) -> Response:
    """A page of the company's numbers, filtered."""
    flt = filters.number_filter
    rows, next_cursor = await company_number_rows(
        request, company_id, reader, cursors, flt, cursor=cursor, limit=PAGE_SIZE
    )
    numbers = [NumberOut.model_validate(item) for item in page_items(rows, language)]
    users = await run_in_threadpool(users_of, runtime, company_id, flt, numbers, language)
    return cabinet_page(
        request,
        "admin/numbers.html",
        company_id,
        numbers=numbers,
        users=users,
        next_cursor=next_cursor,
        first_page=cursor is None,
        filters=filters,
        statuses=list(NumberStatus),
        kinds=list(SimKind),
    )


@router.get("/companies/{company_id}/numbers.{fmt}")
def numbers_export(
    company_id: RowId,
    fmt: Literal["csv", "xlsx"],
    runtime: RuntimeDep,
    clock: ClockDep,
    reader: Reader,
    language: LanguageDep,
    filters: FiltersDep,
) -> Response:
    """The whole filtered list for Excel: the API's export."""
    return export_company_numbers(
        company_id, fmt, runtime, clock, reader, language, filters.number_filter
    )
