"""An error file, downloaded, corrected in Excel only where it was wrong, and uploaded again
as it is (CSV or XLSX): every row is accepted."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
import xlsxwriter
from fastapi.testclient import TestClient
from python_calamine import CalamineWorkbook

from tests.builders import make_company_with_numbers
from tests.uploads.builders import EMPLOYEE_HEADER, csv_bytes, employee_row, upload, upload_result

TITLES = {"Ошибки", "Коды ошибок", "Строка исходного файла"}


def spaced(msisdn: str) -> str:
    """+79120001000 as people write it: +7 912 000-10-00 (Excel would run it unmarked)."""
    d = msisdn[2:]
    return f"+7 {d[:3]} {d[3:6]}-{d[6:8]}-{d[8:]}"


def bad_list(phones: list[str]) -> tuple[list[list[str]], dict[int, dict[str, str]]]:
    """A list with every kind of bad row, and for each row (as Excel numbers it) the cells
    that correct it, by header."""
    rows = [
        employee_row(spaced(phones[0]), n=0, birth="31.02.1990"),
        employee_row(spaced(phones[1]), n=1, passport="45 12 34567"),
        employee_row(spaced(phones[2]), n=2, last="Sidorov", first="Petr"),
        employee_row("+7 999 000-00-00", n=3),  # not the company's number
        employee_row(spaced(phones[4]), n=4, code="77-001"),
        employee_row(spaced(phones[5]), n=5),
        employee_row("8 " + spaced(phones[5])[3:], n=6),  # the same number again
        employee_row(spaced(phones[7]), n=7, birth="01.01.2030", issuer='=HYPERLINK("http://x")'),
        [spaced(phones[8]), "Иванов"],  # too few cells
        employee_row("-" + spaced(phones[9]), n=9, last="'Д'Артаньян"),
    ]
    fixes = {
        2: {"Дата рождения": "28.02.1990"},
        3: {"Серия и номер паспорта": "45 12 345678"},
        4: {"Фамилия": "Сидоров", "Имя": "Пётр"},
        5: {"Номер телефона": spaced(phones[3])},
        6: {"Код подразделения": "770-001"},
        7: {},  # right once row 8 has its own number
        8: {"Номер телефона": spaced(phones[6])},
        9: {"Дата рождения": "01.01.1990"},
        10: dict(zip(EMPLOYEE_HEADER, employee_row(spaced(phones[8]), n=8), strict=True)),
        11: {"Номер телефона": spaced(phones[9]), "Фамилия": "Дартаньян"},
    }
    return rows, fixes


def corrected(table: list[list[str]], fixes: dict[int, dict[str, str]]) -> list[list[str]]:
    """The error file's rows with only the bad cells changed, as an admin fixes them."""
    header, *rows = table
    source = header.index("Строка исходного файла")
    done = [header]
    for row in rows:
        row = list(row)
        for title, value in fixes[int(row[source])].items():
            row[header.index(title)] = value
        done.append(row)
    return done


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))


def write_csv(table: list[list[str]]) -> bytes:
    """Saved again as Excel saves "CSV UTF-8": the cells as they stand, marker included."""
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(table)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def read_xlsx(data: bytes) -> list[list[str]]:
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
    return [[str(cell) for cell in row] for row in sheet.to_python()]


def write_xlsx(table: list[list[str]]) -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    sheet = workbook.add_worksheet()
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value)
    workbook.close()
    return buffer.getvalue()


FORMATS: dict[str, tuple[Callable[[bytes], list[list[str]]], Callable[[list[list[str]]], bytes]]]
FORMATS = {"csv": (read_csv, write_csv), "xlsx": (read_xlsx, write_xlsx)}


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    return make_company_with_numbers(client, count=10)


def _send(client: TestClient, world: dict[str, Any], content: bytes, name: str) -> dict[str, Any]:
    cid = world["company"]["id"]
    response = upload(client, cid, world["admin"], content, mode="validate", filename=name)
    assert response.status_code == 202, response.text
    return upload_result(client, cid, world["admin"], response.json()["id"])


class TestTheErrorFileComesBack:
    @pytest.mark.parametrize("fmt", ["csv", "xlsx"])
    def test_corrected_only_where_wrong_every_row_is_accepted(
        self, client: TestClient, world: dict[str, Any], fmt: str
    ) -> None:
        phones = [n["msisdn"] for n in world["numbers"]]
        rows, fixes = bad_list(phones)
        first = _send(client, world, csv_bytes(EMPLOYEE_HEADER, rows), "list.csv")
        assert first["counts"]["rejected"] == len(rows)
        read, write = FORMATS[fmt]
        report = client.get(first[f"errors_{fmt}"], headers=world["admin"])
        table = read(report.content)
        assert set(table[0]) >= TITLES
        again = _send(client, world, write(corrected(table, fixes)), f"errors.{fmt}")
        assert again["first_errors"] == []
        assert again["counts"]["rejected"] == 0
        assert again["counts"]["accepted"] == len(rows)

    @pytest.mark.parametrize("fmt", ["csv", "xlsx"])
    def test_uploaded_as_written_it_is_refused_for_the_same_reasons_only(
        self, client: TestClient, world: dict[str, Any], fmt: str
    ) -> None:
        """No new problem from the trip (an apostrophe, a doubled column), no row lost."""
        rows, _ = bad_list([n["msisdn"] for n in world["numbers"]])
        first = _send(client, world, csv_bytes(EMPLOYEE_HEADER, rows), "list.csv")
        read, write = FORMATS[fmt]
        table = read(client.get(first[f"errors_{fmt}"], headers=world["admin"]).content)
        again = _send(client, world, write(table), f"errors.{fmt}")
        assert again["counts"]["rejected"] == len(rows)
        codes = {e["code"] for e in again["first_errors"]}
        # The row of too few cells comes back filled out with empty ones: now it lacks them.
        was = {e["code"] for e in first["first_errors"]} - {"row.too_few_fields"}
        assert codes - {"required"} == was
        second = read(client.get(again[f"errors_{fmt}"], headers=world["admin"]).content)
        assert second[0] == table[0]  # the added columns once, not twice
        assert [r[:-3] for r in second[1:]] == [r[: len(EMPLOYEE_HEADER)] for r in table[1:]]

    def test_each_refused_row_carries_its_codes_and_the_other_row(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        rows, _ = bad_list([n["msisdn"] for n in world["numbers"]])
        first = _send(client, world, csv_bytes(EMPLOYEE_HEADER, rows), "list.csv")
        table = read_csv(client.get(first["errors_csv"], headers=world["admin"]).content)
        header = table[0]
        by_row = {r[header.index("Строка исходного файла")]: r for r in table[1:]}
        codes = header.index("Коды ошибок")
        assert by_row["7"][codes] == "msisdn.repeated_in_file"
        assert "ещё в строке 8" in by_row["7"][header.index("Ошибки")]
        assert "ещё в строке 7" in by_row["8"][header.index("Ошибки")]
        assert "number.not_owned" in by_row["5"][codes]
        # The phone column as the admin's file wrote it, in the error words.
        assert "«Номер телефона»" in by_row["7"][header.index("Ошибки")]
