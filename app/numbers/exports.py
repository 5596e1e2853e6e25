"""A company's whole list of numbers as CSV and XLSX for Russian Excel, with the listing's filters.

The rows are read by keyset on the number's id, a chunk at a time, each chunk in a short
transaction of its own: a download of a million rows holds no connection and no snapshot
between chunks, and memory stays flat (one chunk of rows and one CSV buffer). The lines show
what the listing shows plus the current user as the admin sees them: an employee's names, a
device's type and model. Birth dates, documents and SNILS are not read at all (DOMAIN.md,
"Personal data"). No cell runs as a formula (`app.core.excel`: CSV cells are neutralised,
XLSX string cells never run); column titles and words are in the request's language.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.clock import MOSCOW
from app.core.excel import excel_csv, excel_xlsx
from app.core.messages import Language, say
from app.numbers.models import NumberStatus, PhoneNumber, Registration, SimKind
from app.numbers.service import NumberFilter, filter_conditions

__all__ = [
    "NUMBER_COLUMNS",
    "ExportWords",
    "NumberLine",
    "company_numbers",
    "numbers_csv",
    "numbers_xlsx",
]

# The size the at-risk export measured best (app.reports.service.EXPORT_CHUNK); each chunk
# starts where the last ended (PostgreSQL finds it by the index on (subscriber_id, id)).
EXPORT_CHUNK = 10_000
NUMBER_COLUMNS = (
    "msisdn",
    "iccid",
    "status",
    "status_text",
    "sim_kind",
    "employee",
    "device_type",
    "device_model",
    "deadline",
    "days_left",
    "status_since",
)
_WIDTHS = [16, 22, 22, 44, 12, 36, 20, 30, 18, 14, 18]
Cell = str | int


@dataclass(frozen=True, slots=True)
class NumberLine:
    """One line of the export: the number and its current user as the admin sees them."""

    id: int
    msisdn: str
    iccid: str | None
    status: NumberStatus
    sim_kind: SimKind | None
    deadline_at: dt.datetime | None
    status_changed_at: dt.datetime
    employee_name: str | None
    device_type: str | None
    device_model: str | None


def company_numbers(
    sessions: sessionmaker[Session],
    *,
    company_id: int,
    flt: NumberFilter,
    chunk: int = EXPORT_CHUNK,
    after: int = 0,
) -> Iterator[NumberLine]:
    """Every number of the company that `flt` lets through, in id order, `chunk` at a time
    (from the first id above `after`: a page of the listing reads its users' lines so)."""
    query = (
        select(
            PhoneNumber.id,
            PhoneNumber.msisdn,
            PhoneNumber.iccid,
            PhoneNumber.status,
            PhoneNumber.sim_kind,
            PhoneNumber.deadline_at,
            PhoneNumber.status_changed_at,
            Registration.kind.label("registered_kind"),
            Registration.last_name,
            Registration.first_name,
            Registration.patronymic,
            Registration.device_type,
            Registration.device_model,
        )
        .outerjoin(
            Registration,
            and_(Registration.number_id == PhoneNumber.id, Registration.ended_at.is_(None)),
        )
        .where(PhoneNumber.subscriber_id == company_id, *filter_conditions(flt))
        .order_by(PhoneNumber.id)
        .limit(chunk)
    )
    while True:
        with sessions() as session:
            rows = session.execute(query.where(PhoneNumber.id > after)).all()
        yield from map(_line, rows)
        if len(rows) < chunk:
            return
        after = rows[-1].id


def _line(row: Any) -> NumberLine:
    names = (row.last_name, row.first_name, row.patronymic)
    return NumberLine(
        id=row.id,
        msisdn=row.msisdn,
        iccid=row.iccid,
        status=NumberStatus(row.status),
        sim_kind=row.sim_kind or row.registered_kind,
        deadline_at=row.deadline_at,
        status_changed_at=row.status_changed_at,
        employee_name=" ".join(n for n in names if n) or None,
        device_type=row.device_type,
        device_model=row.device_model,
    )


def _moscow(moment: dt.datetime | None) -> str:
    return moment.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M") if moment else ""


class ExportWords:
    """The words of one export, looked up once rather than once a line."""

    def __init__(self, language: Language) -> None:
        self.status = {s: say(f"export.status.{s.value}", language) for s in NumberStatus}
        self.sim_kind = {k: say(f"sim_kind.{k.value}", language) for k in SimKind}
        self.language = language
        self.device_types: dict[str, str] = {}

    def device_type(self, code: str | None) -> str:
        if not code:
            return ""
        if code not in self.device_types:
            try:
                self.device_types[code] = say(f"device_type.{code}", self.language)
            except KeyError:
                self.device_types[code] = code
        return self.device_types[code]


def _cells(line: NumberLine, now: dt.datetime, words: ExportWords) -> list[Cell]:
    """One line: text as it is (the writers neutralise it), days left an integer (0 or less
    once the deadline passed)."""
    text = [
        line.msisdn,
        line.iccid or "",
        line.status.value,
        words.status[line.status],
        words.sim_kind[line.sim_kind] if line.sim_kind else "",
        line.employee_name or "",
        words.device_type(line.device_type),
        line.device_model or "",
        _moscow(line.deadline_at),
    ]
    deadline = line.deadline_at
    left: Cell = math.ceil((deadline - now) / dt.timedelta(days=1)) if deadline else ""
    return [*text, left, _moscow(line.status_changed_at)]


def number_headers(language: Language) -> list[str]:
    """The column titles in `language`."""
    return [say(f"export.column.{column}", language) for column in NUMBER_COLUMNS]


def numbers_csv(
    lines: Iterable[NumberLine], *, now: dt.datetime, language: Language
) -> Iterator[bytes]:
    """The lines as CSV chunks for Excel: UTF-8 with a BOM first, ";" and CRLF."""
    words = ExportWords(language)
    return excel_csv(number_headers(language), (_cells(line, now, words) for line in lines))


def numbers_xlsx(
    lines: Iterable[NumberLine], *, now: dt.datetime, path: Path, language: Language
) -> None:
    """The lines as an XLSX file at `path`, the same columns as `numbers_csv`."""
    words = ExportWords(language)
    excel_xlsx(
        path,
        sheet_name=say("export.sheet.numbers", language),
        header=number_headers(language),
        widths=_WIDTHS,
        rows=(_cells(line, now, words) for line in lines),
        truncated=say("export.truncated", language),
    )
