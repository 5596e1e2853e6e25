"""Files an admin would upload, written as Russian Excel writes them."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.uploads.models import UploadRejection

EMPLOYEE_HEADER = [
    "Номер телефона", "Фамилия", "Имя", "Отчество", "Дата рождения", "Серия и номер паспорта",
    "Дата выдачи", "Кем выдан", "Код подразделения",
]  # fmt: skip
DEVICE_HEADER = ["Номер телефона", "Тип устройства", "Модель", "IMEI", "Адрес установки"]


def employee_row(msisdn: str, *, n: int = 0, **overrides: str) -> list[str]:
    """One employee row; `n` varies the person."""
    row = {
        "phone": msisdn,
        "last": ["Иванов", "Петрова", "Сидоров", "Кузнецова"][n % 4],
        "first": ["Иван", "Анна", "Пётр", "Мария"][n % 4],
        "patronymic": ["Иванович", "Сергеевна", "Петрович", "Игоревна"][n % 4],
        "birth": f"{1 + n % 28:02d}.0{1 + n % 9}.19{70 + n % 25}",
        "passport": f"45 {10 + n % 80:02d} {300000 + n:06d}",
        "issued": "20.05.2015",
        "issuer": "ОВД района Тверской",
        "code": "770-001",
    }
    row.update(overrides)
    return list(row.values())


def device_row(msisdn: str, *, imei: str = "490154203237518", **overrides: str) -> list[str]:
    """One device row."""
    row = {
        "phone": msisdn,
        "type": "Платёжный терминал",
        "model": "Verifone VX520",
        "imei": imei,
        "address": "Москва, ул. Тверская, 1",
    }
    row.update(overrides)
    return list(row.values())


def csv_bytes(
    header: list[str], rows: list[list[str]], *, encoding: str = "cp1251", delimiter: str = ";"
) -> bytes:
    """A CSV as Russian Excel saves it by default: Windows-1251 and ';'."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def upload(
    client: httpx.Client,
    company_id: int,
    headers: dict[str, str],
    content: bytes,
    *,
    mode: str = "apply",
    filename: str = "list.csv",
    key: str | None = None,
) -> Any:
    """POST a file; with TestClient the background work has finished when this returns."""
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(
        f"/api/v1/companies/{company_id}/uploads",
        files={"file": (filename, content, "application/octet-stream")},
        data={"mode": mode},
        headers={**headers, **extra},
    )


def upload_raw_name(
    client: httpx.Client,
    company_id: int,
    headers: dict[str, str],
    content: bytes,
    *,
    filename: str,
    mode: str = "apply",
) -> Any:
    """POST a file with `filename` written into the multipart header as is, a quote escaped
    by a backslash as a browser or curl may send it (httpx would percent-encode it)."""
    boundary = "simreg-test-boundary"
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="mode"\r\n\r\n'
            f"{mode}\r\n"
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.post(
        f"/api/v1/companies/{company_id}/uploads",
        content=body,
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def upload_result(
    client: httpx.Client, company_id: int, headers: dict[str, str], upload_id: int
) -> Any:
    """The upload as GET shows it."""
    response = client.get(f"/api/v1/companies/{company_id}/uploads/{upload_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def problem_codes(session: Session, upload_id: int) -> dict[int, list[str]]:
    """The refused rows of an upload as stored: row number -> its problems' codes."""
    session.expire_all()
    return {
        r.row_no: [p["code"] for p in r.problems]
        for r in session.scalars(
            select(UploadRejection).where(UploadRejection.upload_id == upload_id)
        )
    }


_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Лист1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)


def _workbook_rels(target: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_RELATIONSHIPS}/worksheet" Target="{target}"/>'
        f'<Relationship Id="rId2" Type="{_RELATIONSHIPS}/sharedStrings" '
        'Target="sharedStrings.xml"/></Relationships>'
    )


def xlsx_by_hand(
    sheet_data: str,
    *,
    dimension: str | None = None,
    shared: list[str] | None = None,
    sheet_part: str = "xl/worksheets/sheet1.xml",
    target: str = "worksheets/sheet1.xml",
) -> bytes:
    """A workbook whose sheet XML is written here, cell by cell, as no spreadsheet program
    would write it: the rows of <sheetData>, a declared dimension, shared strings, the part
    the sheet is in and how the workbook names it."""
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{declared}<sheetData>{sheet_data}</sheetData></worksheet>"
    )
    strings = "".join(f"<si><t>{s}</t></si>" for s in shared or [])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("_rels/.rels", _PACKAGE_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _workbook_rels(target))
        archive.writestr(sheet_part, sheet)
        archive.writestr(
            "xl/sharedStrings.xml",
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"{strings}</sst>",
        )
    return buffer.getvalue()


def sparse_sheet(path: Path, *, last_row: int, last_col: int) -> Path:
    """The sheet of the security review: a header cell at A1 and one more cell at the far
    corner (XFD1048576 at the most), as Excel itself would save them."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_string(0, 0, "Номер телефона")
    sheet.write_string(last_row - 1, last_col - 1, "x")
    workbook.close()
    return path
