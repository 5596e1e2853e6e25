"""The header check: a file whose header lacks a column its rows need is refused before any
row is read, and so is one that names a person both in one "ФИО" column and in separate ones
(which of the two is right cannot be told)."""

from __future__ import annotations

from app.uploads.reading.columns import (
    DEVICE_MARKERS,
    DEVICE_REQUIRED,
    EMPLOYEE_MARKERS,
    EMPLOYEE_REQUIRED,
    Column,
    header_for,
)
from app.uploads.reading.full_names import NAME_PARTS
from app.uploads.reading.refusals import UploadRejected, words
from app.uploads.reading.table import Table


def check_header(table: Table) -> None:
    """Refuse a header missing a column its rows need, before any row is read."""
    present = {c for c in table.columns if c is not None}
    if Column.FULL_NAME in present:
        _one_way_to_name(table, present)
        present |= set(NAME_PARTS)
    employees = any(c in present for c in EMPLOYEE_MARKERS)
    devices = any(c in present for c in DEVICE_MARKERS)
    if not employees and not devices:
        raise UploadRejected("header.no_known_columns", words("upload.header.no_known_columns"))
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
        names = [header_for(c) for c in needed]
        code = (
            "upload.header.missing_name_column"
            if any(c in NAME_PARTS for c in needed)
            else "upload.header.missing_column"
        )
        raise UploadRejected(
            "header.missing_column",
            words(code, columns=names, count=len(names)),
            column=needed[0].value,
        )


def _one_way_to_name(table: Table, present: set[Column]) -> None:
    """Refuse a header with both a "ФИО" column and a last name, first name or patronymic."""
    parts = [c for c in NAME_PARTS if c in present]
    if not parts:
        return
    header = dict(zip(table.columns, table.header, strict=False))
    raise UploadRejected(
        "header.full_name_and_parts",
        words(
            "upload.header.full_name_and_parts",
            full_name=header[Column.FULL_NAME],
            part=header[parts[0]],
        ),
        column=Column.FULL_NAME.value,
    )
