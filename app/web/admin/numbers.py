"""The company's numbers: filters in a GET form, a page at a time with each number's user as
the export shows it (the listing's filters, cursors and access rule), and the export with the
same filters."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from app.auth.dependencies import ensure_company_visible
from app.core.clock import MOSCOW
from app.core.deps import ClockDep, CursorDep, RuntimeDep
from app.core.integers import RowId
from app.core.messages import Language, LanguageDep, Text
from app.core.runtime import Runtime
from app.numbers.exports import ExportWords, NumberLine, company_numbers
from app.numbers.models import NumberStatus, SimKind
from app.numbers.router import export_company_numbers
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


def page_lines(
    runtime: Runtime, company_id: int, flt: NumberFilter, after: int | None, language: Language
) -> tuple[list[NumberLine], dict[int, str]]:
    """One more than a page of the company's numbers after `after`, as the export reads them
    (one query: each number with its current user), and each user as the export shows them:
    an employee's names, a device's type and model (never personal data)."""
    lines = list(
        itertools.islice(
            company_numbers(
                runtime.sessions,
                company_id=company_id,
                flt=flt,
                chunk=PAGE_SIZE + 1,
                after=after or 0,
            ),
            PAGE_SIZE + 1,
        )
    )
    words = ExportWords(language)
    users = {
        line.id: line.employee_name
        or " ".join(filter(None, (words.device_type(line.device_type), line.device_model)))
        for line in lines
    }
    return lines, users


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
    """A page of the company's numbers, filtered, under the listing's access rule and with its
    cursors (a page's cursor works in the API's listing and back)."""
    ensure_company_visible(reader, company_id)
    scope = {"s": company_id, "o": None}
    after = int(cursors.decode(cursor, scope=scope)["after"]) if cursor else None
    flt = filters.number_filter
    lines, users = await run_in_threadpool(page_lines, runtime, company_id, flt, after, language)
    more = len(lines) > PAGE_SIZE
    lines = lines[:PAGE_SIZE]
    return cabinet_page(
        request,
        "admin/numbers.html",
        company_id,
        numbers=lines,
        users=users,
        next_cursor=cursors.encode({"after": lines[-1].id, "scope": scope}) if more else None,
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
