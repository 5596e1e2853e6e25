"""Templates and error reports handed to company admins, as Excel will open them."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from app.core.excel import neutralise
from app.uploads.reading.columns import DEVICE_TYPES, Column, column_for_header
from app.uploads.reading.opening import open_table
from app.uploads.reading.refusals import UploadRejected
from app.uploads.spreadsheets import (
    DEVICE_TEMPLATE_HEADERS,
    EMPLOYEE_TEMPLATE_HEADERS,
    ReportRow,
    error_report_csv,
    error_report_xlsx,
    template_csv,
    template_xlsx,
)

BOM = b"\xef\xbb\xbf"


def xlsx_rows(data: bytes, sheet: int = 0) -> Sequence[Sequence[object]]:
    workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return workbook.get_sheet_by_index(sheet).to_python(skip_empty_area=False)


def sheet_xml(data: bytes, name: str = "xl/worksheets/sheet1.xml") -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name).decode()


class TestTemplateHeaders:
    def test_employee_headers_map_to_their_columns(self) -> None:
        assert [column_for_header(h) for h in EMPLOYEE_TEMPLATE_HEADERS] == [
            Column.MSISDN,
            Column.ICCID,
            Column.LAST_NAME,
            Column.FIRST_NAME,
            Column.PATRONYMIC,
            Column.BIRTH_DATE,
            Column.DOC_TYPE,
            Column.PASSPORT,
            Column.DOC_ISSUED_ON,
            Column.DOC_ISSUER,
            Column.DOC_ISSUER_CODE,
            Column.SNILS,
        ]

    def test_device_headers_map_to_their_columns(self) -> None:
        assert [column_for_header(h) for h in DEVICE_TEMPLATE_HEADERS] == [
            Column.MSISDN,
            Column.ICCID,
            Column.DEVICE_TYPE,
            Column.DEVICE_MODEL,
            Column.DEVICE_ID,
            Column.INSTALL_ADDRESS,
        ]


class TestTemplateCsv:
    @pytest.mark.parametrize(
        ("kind", "headers"),
        [("employees", EMPLOYEE_TEMPLATE_HEADERS), ("devices", DEVICE_TEMPLATE_HEADERS)],
    )
    def test_header_row_for_russian_excel(self, kind: str, headers: list[str]) -> None:
        data = template_csv(kind)  # type: ignore[arg-type]
        assert data.startswith(BOM)
        assert data.decode("utf-8-sig") == ";".join(headers) + "\r\n"

    def test_reader_takes_it_back_as_a_header_without_rows(self, tmp_path: Path) -> None:
        path = tmp_path / "template.csv"
        path.write_bytes(template_csv("employees"))
        with pytest.raises(UploadRejected) as caught:
            open_table(path, filename="template.csv")
        assert caught.value.code == "file.no_rows"

    def test_unknown_kind(self) -> None:
        with pytest.raises(ValueError, match="unknown template kind"):
            template_csv("cars")  # type: ignore[arg-type]


class TestTemplateXlsx:
    def test_list_sheet_has_the_header(self) -> None:
        data = template_xlsx("employees")
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        assert workbook.sheet_names == ["Список", "Как заполнять"]
        assert xlsx_rows(data) == [EMPLOYEE_TEMPLATE_HEADERS]

    def test_columns_are_text_and_header_bold(self) -> None:
        data = template_xlsx("devices")
        styles = sheet_xml(data, "xl/styles.xml")
        sheet = sheet_xml(data)
        assert 'numFmtId="49"' in styles  # 49 is Excel's built-in "@" (text)
        assert "<b/>" in styles
        text_style = re.search(r'<cellXfs count="\d+">(.*)</cellXfs>', styles)
        assert text_style is not None
        text_xf = next(
            i
            for i, xf in enumerate(re.findall(r"<xf [^>]*>", text_style.group(1)))
            if 'numFmtId="49"' in xf and 'fontId="0"' in xf
        )
        # Every column (ranges of equal width share one <col>) has the text style and a width.
        covered: set[int] = set()
        for low, high, style in re.findall(
            r'<col min="(\d+)" max="(\d+)" width="[\d.]+" style="(\d+)" customWidth="1"/>',
            sheet,
        ):
            assert int(style) == text_xf
            covered.update(range(int(low), int(high) + 1))
        assert covered == set(range(1, len(DEVICE_TEMPLATE_HEADERS) + 1))

    def test_instructions_one_line_per_column(self) -> None:
        rows = xlsx_rows(template_xlsx("employees"), sheet=1)
        assert rows[0] == ["Колонка", "Что писать"]
        assert [r[0] for r in rows[1:]] == EMPLOYEE_TEMPLATE_HEADERS
        help_text = {str(r[0]): str(r[1]) for r in rows[1:]}
        assert "дд.мм.гггг" in help_text["Дата рождения"]
        assert "45 12 345678" in help_text["Серия и номер паспорта"]
        assert "+7 912 345-67-89" in help_text["Номер телефона"]

    def test_device_types_listed_once_each(self) -> None:
        rows = xlsx_rows(template_xlsx("devices"), sheet=1)
        text = next(str(r[1]) for r in rows if r[0] == "Тип устройства")
        for value in set(DEVICE_TYPES.values()):
            assert len(re.findall(rf"\b{value}\b", text)) == 1, value
        assert "atm (банкомат)" in text

    def test_template_opens_as_an_upload(self, tmp_path: Path) -> None:
        path = tmp_path / "template.xlsx"
        path.write_bytes(template_xlsx("devices"))
        with pytest.raises(UploadRejected) as caught:
            open_table(path, filename="template.xlsx")
        assert caught.value.code == "file.no_rows"


class TestNeutralise:
    @pytest.mark.parametrize(
        ("cell", "expected"),
        [
            ("=1+2", "'=1+2"),
            ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
            ("+7 912 345-67-89", "'+7 912 345-67-89"),
            ("-5", "'-5"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "'\rcmd"),
            ("Иванов", "Иванов"),
            ("a=b", "a=b"),
            ("", ""),
            # A value that starts with the marker keeps it: the reader drops one.
            ("'=already", "''=already"),
        ],
    )
    def test_cases(self, cell: str, expected: str) -> None:
        assert neutralise(cell) == expected

    @given(st.text())
    def test_never_starts_with_a_formula_character(self, cell: str) -> None:
        out = neutralise(cell)
        assert not out.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert out.removeprefix("'") == cell or out == cell


REPORT_HEADER = ["Номер телефона", "Фамилия", "Имя"]
REPORT_ROWS = [
    ReportRow(
        2, ["79123456789", '=HYPERLINK("http://evil","x")', "Иван"], "Фамилия: формула", "x.a"
    ),
    ReportRow(5, ["+7 912 345-67-89", "Петров"], "=не хватает ячеек", "x.b"),
    ReportRow(9, ["1", "Сидоров", "Сидор", "лишнее"], "лишняя ячейка; ещё одна", "x.c; x.d"),
]
TITLES = ["Ошибки", "Коды ошибок", "Строка исходного файла"]


class TestErrorReportCsv:
    def read(self, chunks: list[bytes], delimiter: str = ";") -> list[list[str]]:
        text = b"".join(chunks).decode("utf-8-sig")
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))

    def test_columns_and_neutralised_cells(self) -> None:
        chunks = list(error_report_csv(REPORT_HEADER, REPORT_ROWS))
        assert chunks[0].startswith(BOM)
        assert b"\r\n" in chunks[0]
        assert self.read(chunks) == [
            [*REPORT_HEADER, *TITLES],
            [
                "79123456789",
                '\'=HYPERLINK("http://evil","x")',
                "Иван",
                "Фамилия: формула",
                "x.a",
                "2",
            ],
            ["'+7 912 345-67-89", "Петров", "", "'=не хватает ячеек", "x.b", "5"],
            ["1", "Сидоров", "Сидор", "лишняя ячейка; ещё одна", "x.c; x.d", "9", "лишнее"],
        ]

    def test_titles_in_the_language_asked(self) -> None:
        rows = self.read(list(error_report_csv(["Имя"], [], language="en")))
        assert rows == [["Имя", "Errors", "Error codes", "Source row"]]

    def test_header_neutralised_too(self) -> None:
        rows = self.read(list(error_report_csv(["=cmd", "Имя"], [])))
        assert rows == [["'=cmd", "Имя", *TITLES]]

    def test_other_delimiter(self) -> None:
        chunks = list(error_report_csv(REPORT_HEADER, REPORT_ROWS[:1], delimiter=","))
        assert self.read(chunks, delimiter=",")[1][1] == '\'=HYPERLINK("http://evil","x")'

    @pytest.mark.parametrize("delimiter", [",", ";", "\t"])
    def test_any_delimiter_is_quoted_whatever_the_files_own(self, delimiter: str) -> None:
        # Russian Excel splits a CSV on ";": a comma-delimited report must not leave
        # "x;=1+2" unquoted, or "=1+2" lands in a cell of its own, as a formula.
        row = ReportRow(2, ["x;=1+2", "a,b", "c\td"], "e", "f")
        data = b"".join(error_report_csv(["1", "2", "3"], [row], delimiter=delimiter))
        line = data.decode("utf-8-sig").split("\r\n")[1]
        assert line.startswith('"x;=1+2"' + delimiter + '"a,b"' + delimiter + '"c\td"')

    def test_columns_of_an_earlier_report_are_not_repeated(self) -> None:
        header = ["Номер телефона", "Ошибки", "Коды ошибок", "Строка исходного файла", "Имя"]
        row = ReportRow(3, ["79123456789", "старая ошибка", "old.code", "7", "Иван"], "новая", "n")
        rows = self.read(list(error_report_csv(header, [row])))
        assert rows == [
            ["Номер телефона", "Имя", *TITLES],
            ["79123456789", "Иван", "новая", "n", "3"],
        ]

    def test_streams_in_chunks(self) -> None:
        rows = (
            ReportRow(i, [str(i), "Константинопольский", "Александр"], "ошибка", "c")
            for i in range(20_000)
        )
        chunks = list(error_report_csv(REPORT_HEADER, rows))
        assert len(chunks) > 5
        assert max(len(c) for c in chunks) < 200_000
        read = self.read(chunks)
        assert len(read) == 20_001
        assert read[-1] == ["19999", "Константинопольский", "Александр", "ошибка", "c", "19999"]


class TestErrorReportXlsx:
    def test_cells_read_back_as_written(self) -> None:
        # String cells are never run as formulas: no text marker is added.
        data = error_report_xlsx(REPORT_HEADER, REPORT_ROWS)
        assert xlsx_rows(data) == [
            [*REPORT_HEADER, *TITLES, ""],
            [
                "79123456789",
                '=HYPERLINK("http://evil","x")',
                "Иван",
                "Фамилия: формула",
                "x.a",
                "2",
                "",
            ],
            ["+7 912 345-67-89", "Петров", "", "=не хватает ячеек", "x.b", "5", ""],
            ["1", "Сидоров", "Сидор", "лишняя ячейка; ещё одна", "x.c; x.d", "9", "лишнее"],
        ]

    def test_titles_in_the_language_asked(self) -> None:
        data = error_report_xlsx(["Имя"], [], language="en")
        assert xlsx_rows(data)[0] == ["Имя", "Errors", "Error codes", "Source row"]

    def test_strings_never_formulas(self) -> None:
        xml = sheet_xml(error_report_xlsx(REPORT_HEADER, REPORT_ROWS))
        assert "<f>" not in xml
        assert "<f " not in xml
        assert "HYPERLINK" in xml
        # Every cell is text (inline strings in constant-memory mode): no numbers either.
        assert "<v>" not in xml

    def test_error_column_wide_and_wrapped(self) -> None:
        data = error_report_xlsx(REPORT_HEADER, REPORT_ROWS)
        xml = sheet_xml(data)
        assert re.search(r'<col min="4" max="4" width="60[.\d]*"', xml)
        assert "wrapText" in sheet_xml(data, "xl/styles.xml")
        assert "<b/>" in sheet_xml(data, "xl/styles.xml")

    def test_control_characters_do_not_break_the_file(self) -> None:
        data = error_report_xlsx(["Фамилия"], [ReportRow(2, ["Ив\x01анов"], "ошибка", "c")])
        assert xlsx_rows(data)[1][0] == "Ив\ufffdанов"
