"""The header check: a file whose header lacks a column its rows need is refused before any
row is read."""

from __future__ import annotations

from app.uploads.reading.columns import (
    DEVICE_MARKERS,
    DEVICE_REQUIRED,
    EMPLOYEE_MARKERS,
    EMPLOYEE_REQUIRED,
    Column,
    header_for,
)
from app.uploads.reading.refusals import UploadRejected
from app.uploads.reading.table import Table


def check_header(table: Table) -> None:
    """Refuse a header missing a column its rows need, before any row is read."""
    present = {c for c in table.columns if c is not None}
    employees = any(c in present for c in EMPLOYEE_MARKERS)
    devices = any(c in present for c in DEVICE_MARKERS)
    if not employees and not devices:
        raise UploadRejected(
            "header.no_known_columns",
            "The header names neither a person's columns (Фамилия, Имя, Дата рождения) nor a "
            "device's (Тип устройства, Модель, IMEI); download a template and use its headers.",
        )
    needed: list[Column] = []
    if employees:
        needed += [c for c in EMPLOYEE_REQUIRED if c not in present]
        has_document = (
            Column.PASSPORT in present
            or {
                Column.PASSPORT_SERIES,
                Column.PASSPORT_NUMBER,
            }
            <= present
        )
        if not has_document:
            needed.append(Column.PASSPORT)
    if devices:
        needed += [c for c in DEVICE_REQUIRED if c not in present and c not in needed]
    if needed:
        names = ", ".join(f"'{header_for(c)}'" for c in needed)
        raise UploadRejected(
            "header.missing_column",
            f"The header has no column {names}; add it (see the template) and upload again.",
            column=needed[0].value,
        )
