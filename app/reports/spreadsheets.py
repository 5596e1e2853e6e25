"""The at-risk numbers of a company as CSV and XLSX, for Russian Excel.

CSV goes out as UTF-8 with a BOM, ";" and CRLF (what Russian Excel opens without an import
dialog), a chunk at a time; XLSX is written in xlsxwriter's constant-memory mode to a file, so
neither holds 300k rows in memory. Every text cell goes through `neutralise`: names and models
came from company uploads and must not come back as formulas. Days left and the flag threshold
are integers simreg computed; they stay numbers so an admin can sort and filter by them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path

import xlsxwriter

from app.core.clock import MOSCOW
from app.core.excel import XLSX_MAX_ROWS, XLSX_TRUNCATED, excel_csv, neutralise, xlsx_text
from app.numbers.models import NumberStatus, SimKind
from app.reports.service import AtRiskNumber, days_left

__all__ = ["AT_RISK_HEADERS", "STATUS_IN_RUSSIAN", "at_risk_csv", "at_risk_xlsx"]

AT_RISK_HEADERS: list[str] = [
    "Номер телефона",
    "Статус",
    "Статус словами",
    "Тип SIM",
    "Сотрудник",
    "Тип устройства",
    "Модель устройства",
    "Срок (МСК)",
    "Осталось дней",
    "Порог уведомления, дней",
]
_WIDTHS = [16, 22, 44, 12, 36, 20, 30, 18, 14, 14]

STATUS_IN_RUSSIAN: dict[NumberStatus, str] = {
    NumberStatus.UNREGISTERED: "Пользователь не указан",
    NumberStatus.PENDING_CONFIRMATION: "Ждёт подтверждения пользователем на Госуслугах",
    NumberStatus.ACTIVE: "Пользователь подтверждён",
    NumberStatus.MISMATCH: "Данные не совпали с подтверждёнными на Госуслугах",
    NumberStatus.DECLINED: "Пользователь отказался от номера",
    NumberStatus.EXPIRED: "Пользователь не ответил на запрос вовремя",
    NumberStatus.SUSPENDED: "Обслуживание приостановлено",
    NumberStatus.TERMINATED: "Номер отключён",
    NumberStatus.TRANSFERRED: "Номер выбыл из корпоративного реестра",
}

SIM_KIND_IN_RUSSIAN: dict[SimKind, str] = {
    SimKind.EMPLOYEE: "Сотрудник",
    SimKind.DEVICE: "Устройство",
}

DEVICE_TYPE_IN_RUSSIAN: dict[str, str] = {
    "payment_terminal": "Платёжный терминал",
    "atm": "Банкомат",
    "cash_register": "Онлайн-касса",
    "barrier": "Шлагбаум",
    "modem": "Модем",
    "router": "Роутер",
    "tracker": "Трекер",
    "alarm": "Сигнализация",
    "meter": "Прибор учёта",
    "camera": "Камера",
    "other": "Другое",
}

XLSX_SHEET = "Под угрозой"
Cell = str | int


def _cells(number: AtRiskNumber, now: dt.datetime) -> list[Cell]:
    """One report line; text already neutralised, integers left as integers."""
    kind = SIM_KIND_IN_RUSSIAN[number.sim_kind] if number.sim_kind else ""
    text = [
        number.msisdn,
        number.status.value,
        STATUS_IN_RUSSIAN[number.status],
        kind,
        number.employee_name or "",
        DEVICE_TYPE_IN_RUSSIAN.get(number.device_type or "", number.device_type or ""),
        number.device_model or "",
        number.deadline_at.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M"),
    ]
    flag: Cell = number.flag_days if number.flag_days is not None else ""
    return [*(neutralise(t) for t in text), days_left(number.deadline_at, now=now), flag]


def at_risk_csv(numbers: Iterable[AtRiskNumber], *, now: dt.datetime) -> Iterator[bytes]:
    """The at-risk numbers as CSV chunks: UTF-8 with a BOM first, ";" and CRLF."""
    return excel_csv(AT_RISK_HEADERS, (_cells(number, now) for number in numbers))


def at_risk_xlsx(numbers: Iterable[AtRiskNumber], *, now: dt.datetime, path: Path) -> None:
    """The at-risk numbers as an XLSX file at `path`, the same columns as `at_risk_csv`.

    Constant-memory mode streams each row to a temporary file as it is written; text goes in
    with `write_string`, so nothing is ever stored as a formula.
    """
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    try:
        bold = workbook.add_format({"bold": True})
        sheet = workbook.add_worksheet(XLSX_SHEET)
        for col, width in enumerate(_WIDTHS):
            sheet.set_column(col, col, width)
        for col, title in enumerate(AT_RISK_HEADERS):
            sheet.write_string(0, col, neutralise(title), bold)
        sheet.freeze_panes(1, 0)
        last = 0
        for line, number in enumerate(numbers, start=1):
            if line == XLSX_MAX_ROWS - 1:
                # The last row Excel has: say the report goes on, rather than drop rows unsaid.
                sheet.write_string(line, 0, XLSX_TRUNCATED)
                break
            for col, value in enumerate(_cells(number, now)):
                if isinstance(value, int):
                    sheet.write_number(line, col, value)
                else:
                    sheet.write_string(line, col, xlsx_text(value))
            last = line
        sheet.autofilter(0, 0, last, len(AT_RISK_HEADERS) - 1)
    finally:
        workbook.close()
