"""The at-risk numbers of a company as CSV and XLSX, for Russian Excel.

CSV goes out as UTF-8 with a BOM, ";" and CRLF (what Russian Excel opens without an import
dialog), a chunk at a time; XLSX is written in xlsxwriter's constant-memory mode to a file, so
neither holds 300k rows in memory. Names and models came from company uploads and must not
come back as formulas: the CSV writer neutralises every text cell, and XLSX string cells
never run. Days left and the flag threshold
are integers simreg computed; they stay numbers so an admin can sort and filter by them.
Column titles and words are the request's language (Russian by default).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path

from app.core.clock import MOSCOW
from app.core.excel import excel_csv, excel_xlsx
from app.core.messages import Language, say
from app.numbers.exports import ExportWords
from app.numbers.models import NumberStatus
from app.reports.service import AtRiskNumber, days_left

__all__ = ["AT_RISK_COLUMNS", "at_risk_csv", "at_risk_headers", "at_risk_xlsx", "standing"]

AT_RISK_COLUMNS = (
    "msisdn",
    "status",
    "status_text",
    "sim_kind",
    "employee",
    "device_type",
    "device_model",
    "deadline",
    "days_left",
    "flag_days",
    "state",
)
_WIDTHS = [16, 22, 44, 12, 36, 20, 30, 18, 14, 14, 16]
Cell = str | int


def at_risk_headers(language: Language) -> list[str]:
    """The column titles in `language`."""
    return [say(f"export.column.{column}", language) for column in AT_RISK_COLUMNS]


def standing(number: AtRiskNumber, now: dt.datetime) -> str:
    """Why the number is in the list: suspended, overdue (deadline passed), or at risk."""
    if number.status is NumberStatus.SUSPENDED:
        return "suspended"
    if number.deadline_at is not None and number.deadline_at <= now:
        return "overdue"
    return "at_risk"


class _Words(ExportWords):
    def __init__(self, language: Language) -> None:
        super().__init__(language)
        self.state = {s: say(f"export.state.{s}", language) for s in _STANDINGS}


_STANDINGS = ("at_risk", "overdue", "suspended")


def _cells(number: AtRiskNumber, now: dt.datetime, words: _Words) -> list[Cell]:
    """One report line: text as it is (the writers neutralise it), integers as integers."""
    deadline = number.deadline_at
    text = [
        number.msisdn,
        number.status.value,
        words.status[number.status],
        words.sim_kind[number.sim_kind] if number.sim_kind else "",
        number.employee_name or "",
        words.device_type(number.device_type),
        number.device_model or "",
        deadline.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M") if deadline else "",
    ]
    left: Cell = days_left(deadline, now=now) if deadline else ""
    flag: Cell = number.flag_days if number.flag_days is not None else ""
    return [*text, left, flag, words.state[standing(number, now)]]


def at_risk_csv(
    numbers: Iterable[AtRiskNumber], *, now: dt.datetime, language: Language
) -> Iterator[bytes]:
    """The at-risk numbers as CSV chunks: UTF-8 with a BOM first, ";" and CRLF."""
    words = _Words(language)
    rows = (_cells(number, now, words) for number in numbers)
    return excel_csv(at_risk_headers(language), rows)


def at_risk_xlsx(
    numbers: Iterable[AtRiskNumber], *, now: dt.datetime, path: Path, language: Language
) -> None:
    """The at-risk numbers as an XLSX file at `path`, the same columns as `at_risk_csv`."""
    words = _Words(language)
    excel_xlsx(
        path,
        sheet_name=say("export.sheet.at_risk", language),
        header=at_risk_headers(language),
        widths=_WIDTHS,
        rows=(_cells(number, now, words) for number in numbers),
        truncated=say("export.truncated", language),
    )
