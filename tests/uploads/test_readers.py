"""Reading uploaded lists: CSV as Russian Excel writes it, XLSX, and files that are neither."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st

from app.uploads.reading import csv_files
from app.uploads.reading.columns import Column
from app.uploads.reading.opening import open_table
from app.uploads.reading.refusals import UploadRejected
from app.uploads.reading.table import RawRow, Table
from app.uploads.reading.xlsx_bounds import XlsxLimits

HEADER = "Номер телефона;Фамилия;Имя;Дата рождения"
COLUMNS = [Column.MSISDN, Column.LAST_NAME, Column.FIRST_NAME, Column.BIRTH_DATE]


def write_file(tmp_path: Path, data: bytes, *, name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def open_text(
    tmp_path: Path, text: str, *, encoding: str = "utf-8", name: str = "list.csv"
) -> Table:
    return open_table(write_file(tmp_path, text.encode(encoding), name=name), filename=name)


def all_rows(table: Table) -> list[RawRow]:
    return [row for batch in table.batches() for row in batch]


def rejected(tmp_path: Path, data: bytes, *, name: str = "list.csv") -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        open_table(write_file(tmp_path, data, name=name), filename=name)
    return caught.value


def write_xlsx(tmp_path: Path, fill: object, *, name: str = "list.xlsx") -> Path:
    """An XLSX made by xlsxwriter; `fill(workbook, sheet)` writes the cells."""
    path = tmp_path / name
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("Лист1")
    assert callable(fill)
    fill(workbook, sheet)
    workbook.close()
    return path


class TestEncodings:
    ROWS = "79123456789;Иванов;Пётр;04.05.1990\r\n"

    def test_utf8_with_bom(self, tmp_path: Path) -> None:
        table = open_text(tmp_path, HEADER + "\r\n" + self.ROWS, encoding="utf-8-sig")
        assert table.encoding == "utf-8-sig"
        assert table.header[0] == "Номер телефона"  # no BOM left on the first header
        assert all_rows(table)[0].cells == ["79123456789", "Иванов", "Пётр", "04.05.1990"]

    def test_utf8_without_bom(self, tmp_path: Path) -> None:
        table = open_text(tmp_path, HEADER + "\n" + self.ROWS)
        assert table.encoding == "utf-8"
        assert all_rows(table)[0].cells[1:3] == ["Иванов", "Пётр"]

    def test_cp1251_as_russian_excel_saves_it(self, tmp_path: Path) -> None:
        text = HEADER + "\r\n" + self.ROWS + "79123456780;Щукина;Анна-Мария «Ё»;01.01.2000\r\n"
        table = open_text(tmp_path, text, encoding="cp1251")
        assert table.encoding == "cp1251"
        assert table.columns == COLUMNS
        rows = all_rows(table)
        assert rows[0].cells[2] == "Пётр"
        assert rows[1].cells[2] == "Анна-Мария «Ё»"

    def test_cp1251_found_after_a_long_ascii_start(self, tmp_path: Path) -> None:
        # The first non-ASCII byte is far past any sample: the whole file decides.
        lines = [HEADER] + [f"7912{i:07d};Ivanov;Ivan;01.01.1990" for i in range(20_000)]
        lines.append("79120000000;Сидоров;Иван;01.01.1990")
        table = open_text(tmp_path, "\r\n".join(lines) + "\r\n", encoding="cp1251")
        assert table.encoding == "cp1251"
        assert all_rows(table)[-1].cells[1] == "Сидоров"

    def test_utf16_with_bom_as_excel_unicode_text(self, tmp_path: Path) -> None:
        text = HEADER.replace(";", "\t") + "\r\n" + self.ROWS.replace(";", "\t")
        table = open_text(tmp_path, text, encoding="utf-16")
        assert table.encoding == "utf-16"
        assert table.delimiter == "\t"
        assert all_rows(table)[0].cells == ["79123456789", "Иванов", "Пётр", "04.05.1990"]

    def test_koi8r_is_refused(self, tmp_path: Path) -> None:
        error = rejected(tmp_path, (HEADER + "\r\n" + self.ROWS).encode("koi8-r"))
        assert error.code == "file.unknown_encoding"
        assert "CSV UTF-8" in error.message

    def test_utf16_without_bom_is_refused(self, tmp_path: Path) -> None:
        error = rejected(tmp_path, (HEADER + "\r\n" + self.ROWS).encode("utf-16-le"))
        assert error.code == "file.unknown_encoding"
        assert "UTF-16" in error.message

    def test_random_bytes_without_nul_are_refused(self, tmp_path: Path) -> None:
        rng = random.Random(7)
        noise = bytes(rng.randrange(1, 256) for _ in range(4000))
        assert rejected(tmp_path, noise).code == "file.unknown_encoding"

    def test_cp1251_text_with_control_characters_is_refused(self, tmp_path: Path) -> None:
        data = (HEADER + "\r\n").encode("cp1251") + b"\xc8\xe2\x01\x02\x03\x04\x05\r\n"
        assert rejected(tmp_path, data).code == "file.unknown_encoding"


class TestDelimiters:
    @pytest.mark.parametrize("delimiter", [";", ",", "\t"])
    def test_each_delimiter(self, tmp_path: Path, delimiter: str) -> None:
        text = HEADER.replace(";", delimiter) + "\n" + "79123456789;Иванов;Иван;01.02.1990\n"
        table = open_text(tmp_path, text.replace(";", delimiter))
        assert table.delimiter == delimiter
        assert table.columns == COLUMNS
        assert all_rows(table)[0].cells == ["79123456789", "Иванов", "Иван", "01.02.1990"]

    def test_delimiter_that_recognises_more_columns_wins(self, tmp_path: Path) -> None:
        # Split on ",", this header has more cells; split on ";", more known columns.
        text = "Фамилия;Имя;Кем выдан, когда, где\nИванов;Иван;ОВД, 2010, Москва\n"
        table = open_text(tmp_path, text)
        assert table.delimiter == ";"
        assert all_rows(table)[0].cells[2] == "ОВД, 2010, Москва"

    def test_unknown_header_uses_the_most_frequent(self, tmp_path: Path) -> None:
        table = open_text(tmp_path, "a,b,c;d\n1,2,3;4\n")
        assert table.delimiter == ","
        assert table.header == ["a", "b", "c;d"]
        assert table.columns == [None, None, None]


class TestHeaderMapping:
    def test_odd_case_spaces_and_yo(self, tmp_path: Path) -> None:
        text = "  НОМЕР  ТЕЛЕФОНА ;фамилия;ИМЯ;Отчёство; Дата Рождения;Примечание\n1;2;3;4;5;6\n"
        table = open_text(tmp_path, text)
        assert table.header == [
            "НОМЕР  ТЕЛЕФОНА",
            "фамилия",
            "ИМЯ",
            "Отчёство",
            "Дата Рождения",
            "Примечание",
        ]
        assert table.columns == [
            Column.MSISDN,
            Column.LAST_NAME,
            Column.FIRST_NAME,
            Column.PATRONYMIC,
            Column.BIRTH_DATE,
            None,
        ]

    def test_trailing_empty_header_cells_are_dropped(self, tmp_path: Path) -> None:
        table = open_text(tmp_path, HEADER + ";;\n1;2;3;4;;\n")
        assert table.header == HEADER.split(";")
        assert all_rows(table)[0] == RawRow(2, ["1", "2", "3", "4"])

    def test_same_header_twice_is_refused(self, tmp_path: Path) -> None:
        error = rejected(tmp_path, "Фамилия;Имя;Фамилия\nа;б;в\n".encode())
        assert error.code == "header.duplicate_column"
        assert error.column == Column.LAST_NAME.value
        assert '"Фамилия" appears twice' in error.message
        assert "columns 1 and 3" in error.message

    def test_two_names_for_one_column_are_refused(self, tmp_path: Path) -> None:
        error = rejected(tmp_path, "Телефон;Имя;Номер телефона\n1;2;3\n".encode())
        assert error.code == "header.duplicate_column"
        assert error.column == Column.MSISDN.value
        assert '"Телефон" and "Номер телефона"' in error.message

    def test_empty_first_row_is_refused(self, tmp_path: Path) -> None:
        error = rejected(tmp_path, ";;;\r\n79123456789;Иванов;Иван;01.01.1990\r\n".encode())
        assert error.code == "file.no_header"
        assert "first row" in error.message


class TestQuotedFields:
    def test_delimiter_quote_and_newline_inside_quotes(self, tmp_path: Path) -> None:
        text = (
            HEADER + "\r\n"
            '79123456789;"Иванов; мл.";"Иван\r\nПетрович";"01.01.1990"\r\n'
            '79123456780;"О""Коннор";Шон;02.02.1990\r\n'
        )
        rows = all_rows(open_text(tmp_path, text))
        assert rows[0].cells == ["79123456789", "Иванов; мл.", "Иван\r\nПетрович", "01.01.1990"]
        assert rows[1].cells[1] == 'О"Коннор'

    def test_row_numbers_count_records_not_lines(self, tmp_path: Path) -> None:
        text = (
            HEADER + "\n"
            '1;"многострочная\nфамилия\nв три строки";Иван;01.01.1990\n'
            "2;Петров;Пётр;01.01.1990\n"
            "\n"
            ";;;\n"
            "3;Сидоров;Сидор;01.01.1990\n"
        )
        table = open_text(tmp_path, text)
        assert [(r.row_no, r.cells[0]) for r in all_rows(table)] == [(2, "1"), (3, "2"), (6, "3")]
        assert table.total_rows == 3  # blank rows are neither counted nor returned

    def test_stray_quote_after_closing_quote_reads_as_excel_does(self, tmp_path: Path) -> None:
        text = HEADER + '\n1;"Иван"ов;Иван;01.01.1990\n2;Петров;Пётр;01.01.1990\n'
        table = open_text(tmp_path, text)
        assert [r.cells[1] for r in all_rows(table)] == ["Иванов", "Петров"]
        assert table.total_rows == 2


class TestFieldCounts:
    def test_too_many_fields(self, tmp_path: Path) -> None:
        rows = all_rows(open_text(tmp_path, HEADER + "\n1;Иванов;Иван;01.01.1990;лишнее;\n"))
        assert rows[0].cells == ["1", "Иванов", "Иван", "01.01.1990", "лишнее", ""]
        assert rows[0].problem is not None
        code, message = rows[0].problem
        assert code == "row.too_many_fields"
        assert "5 cells" in message
        assert "4 columns" in message

    def test_too_few_fields(self, tmp_path: Path) -> None:
        rows = all_rows(open_text(tmp_path, HEADER + "\n1;Иванов\n"))
        assert rows[0].cells == ["1", "Иванов"]
        assert rows[0].problem is not None
        assert rows[0].problem[0] == "row.too_few_fields"
        assert "2 cells" in rows[0].problem[1]
        assert "4 columns" in rows[0].problem[1]

    def test_trailing_empty_cells_are_not_too_many(self, tmp_path: Path) -> None:
        rows = all_rows(open_text(tmp_path, HEADER + "\n1;Иванов;Иван;01.01.1990;;; \n"))
        assert rows[0] == RawRow(2, ["1", "Иванов", "Иван", "01.01.1990"])


class TestUnclosedQuote:
    def test_whole_file_refused_naming_the_row(self, tmp_path: Path) -> None:
        text = HEADER + '\n1;Иванов;Иван;01.01.1990\n2;"Петров;Пётр;01.01.1990\n3;a;b;c\n'
        error = rejected(tmp_path, text.encode())
        assert error.code == "file.unclosed_quote"
        assert error.status == 422
        assert "row 3" in error.message

    def test_row_counted_in_records_before_it(self, tmp_path: Path) -> None:
        text = HEADER + '\n1;"две\nстроки";Иван;1\n2;П;П;1\n3;"открыта;П;1\n'
        assert "row 4" in rejected(tmp_path, text.encode()).message

    def test_quote_swallowing_a_long_file_names_its_row(self, tmp_path: Path) -> None:
        # The open field outgrows csv's field limit long before the end of the file.
        lines = [HEADER, '1;"Иванов;Иван;01.01.1990']
        lines += [f"{i};Петров;Пётр;01.01.1990" for i in range(10_000)]
        error = rejected(tmp_path, "\n".join(lines).encode())
        assert error.code == "file.unclosed_quote"
        assert "row 2" in error.message


class TestEmptyFiles:
    @pytest.mark.parametrize(
        "data",
        [b"", b"   \r\n\t\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf \r\n", b";;;\r\n;;\r\n"],
        ids=["zero-bytes", "whitespace", "bom-only", "bom-whitespace", "only-delimiters"],
    )
    def test_empty(self, tmp_path: Path, data: bytes) -> None:
        error = rejected(tmp_path, data)
        assert error.code == "file.empty"
        assert '"list.csv" is empty' in error.message

    @pytest.mark.parametrize("tail", ["", "\r\n", "\r\n;;;\r\n\r\n"])
    def test_header_without_rows(self, tmp_path: Path, tail: str) -> None:
        error = rejected(tmp_path, (HEADER + tail).encode("cp1251"))
        assert error.code == "file.no_rows"
        assert "header row but no data rows" in error.message


class TestNotATable:
    @pytest.mark.parametrize(
        ("data", "what"),
        [
            (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
            (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
            (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "a JPEG image"),
            (b"GIF89a\x01\x00\x01\x00", "a GIF image"),
            (
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
                "an old-format Excel 97–2003 workbook (.xls)",
            ),
            (b"\x01\x02\x00\x00binary\x00data", "a binary file"),
        ],
        ids=["pdf", "png", "jpeg", "gif", "xls", "binary"],
    )
    def test_named_by_what_it_is(self, tmp_path: Path, data: bytes, what: str) -> None:
        error = rejected(tmp_path, data, name="сотрудники.csv")
        assert error.code == "file.not_a_table"
        assert f'"сотрудники.csv" is {what}' in error.message
        assert "not a CSV or XLSX table" in error.message

    def test_word_document(self, tmp_path: Path) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("word/document.xml", "<document/>")
        error = rejected(tmp_path, buffer.getvalue(), name="list.xlsx")
        assert error.code == "file.not_a_table"
        assert "a Word document" in error.message

    def test_plain_zip(self, tmp_path: Path) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("list.csv", HEADER)
        error = rejected(tmp_path, buffer.getvalue())
        assert error.code == "file.not_a_table"
        assert "a ZIP archive" in error.message


def fill_employees(workbook: xlsxwriter.Workbook, sheet: object) -> None:
    ws = sheet
    assert isinstance(ws, xlsxwriter.workbook.Worksheet)
    date = workbook.add_format({"num_format": "dd.mm.yyyy"})
    ws.write_row(0, 0, ["Номер телефона", "ICCID", "Фамилия", "Имя", "Дата рождения", "Итого"])
    ws.write_number(1, 0, 79123456789.0)
    ws.write_string(1, 1, "89701012345678901234")
    ws.write_row(1, 2, ["Иванов", "Иван"])
    ws.write_datetime(1, 4, dt.datetime(1990, 5, 4), date)
    ws.write_formula(1, 5, "=2+2", None, 4)
    # Row 3 blank; row 4: a formula whose cached value is text, a bool and a fraction.
    ws.write_number(3, 0, 79123456780)
    ws.write_formula(3, 2, '=UPPER("петров")', None, "ПЕТРОВ")
    ws.write_boolean(3, 3, True)
    ws.write_number(3, 5, 0.1 + 0.2)
    # Rows 5–6: a department's surname merged over two rows and two columns.
    ws.merge_range(4, 2, 5, 3, "Сидоровы")
    ws.write_row(4, 0, ["79123456781"])
    ws.write_row(5, 0, ["79123456782"])


class TestXlsx:
    def test_values_as_the_admin_sees_them(self, tmp_path: Path) -> None:
        table = open_table(write_xlsx(tmp_path, fill_employees), filename="list.xlsx")
        assert table.format == "xlsx"
        assert table.encoding is None
        assert table.delimiter is None
        assert table.columns == [
            Column.MSISDN,
            Column.ICCID,
            Column.LAST_NAME,
            Column.FIRST_NAME,
            Column.BIRTH_DATE,
            None,
        ]
        assert table.total_rows == 5
        rows = all_rows(table)
        assert [r.row_no for r in rows] == [2, 4, 5, 6]  # row 3 is blank
        assert rows[0].cells == [
            "79123456789",
            "89701012345678901234",
            "Иванов",
            "Иван",
            "04.05.1990",
            "4",
        ]
        assert rows[1].cells == ["79123456780", "", "ПЕТРОВ", "TRUE", "", "0.3"]
        assert rows[2].cells[:4] == ["79123456781", "", "Сидоровы", "Сидоровы"]
        assert rows[3].cells[:4] == ["79123456782", "", "Сидоровы", "Сидоровы"]
        assert all(r.problem is None for r in rows)

    def test_datetimes_and_times(self, tmp_path: Path) -> None:
        def fill(workbook: xlsxwriter.Workbook, ws: xlsxwriter.workbook.Worksheet) -> None:
            fmt = workbook.add_format({"num_format": "dd.mm.yyyy hh:mm"})
            ws.write_row(0, 0, ["Дата выдачи", "Дата рождения"])
            ws.write_datetime(1, 0, dt.datetime(2012, 6, 15, 0, 0), fmt)
            ws.write_datetime(1, 1, dt.datetime(2012, 6, 15, 9, 30), fmt)

        rows = all_rows(open_table(write_xlsx(tmp_path, fill), filename="x.xlsx"))
        assert rows[0].cells == ["15.06.2012", "15.06.2012 09:30"]

    def test_filled_cells_past_the_header_are_too_many(self, tmp_path: Path) -> None:
        def fill(workbook: xlsxwriter.Workbook, ws: xlsxwriter.workbook.Worksheet) -> None:
            ws.write_row(0, 0, ["Фамилия", "Имя"])
            ws.write_row(1, 0, ["Иванов", "Иван"])
            ws.write_row(2, 0, ["Петров", "Пётр", "лишнее"])

        rows = all_rows(open_table(write_xlsx(tmp_path, fill), filename="x.xlsx"))
        assert rows[0] == RawRow(2, ["Иванов", "Иван"])
        assert rows[1].cells == ["Петров", "Пётр", "лишнее"]
        assert rows[1].problem is not None
        assert rows[1].problem[0] == "row.too_many_fields"

    def test_header_only(self, tmp_path: Path) -> None:
        def fill(workbook: xlsxwriter.Workbook, ws: xlsxwriter.workbook.Worksheet) -> None:
            ws.write_row(0, 0, ["Фамилия", "Имя"])

        with pytest.raises(UploadRejected) as caught:
            open_table(write_xlsx(tmp_path, fill), filename="x.xlsx")
        assert caught.value.code == "file.no_rows"

    def test_header_not_in_the_first_row(self, tmp_path: Path) -> None:
        def fill(workbook: xlsxwriter.Workbook, ws: xlsxwriter.workbook.Worksheet) -> None:
            ws.write_row(2, 1, ["Фамилия", "Имя"])
            ws.write_row(3, 1, ["Иванов", "Иван"])

        with pytest.raises(UploadRejected) as caught:
            open_table(write_xlsx(tmp_path, fill), filename="x.xlsx")
        assert caught.value.code == "file.no_header"

    def test_table_starting_in_column_b(self, tmp_path: Path) -> None:
        def fill(workbook: xlsxwriter.Workbook, ws: xlsxwriter.workbook.Worksheet) -> None:
            ws.write_row(0, 1, ["Фамилия", "Имя"])
            ws.merge_range(1, 1, 1, 2, "Иванов")
            ws.write_row(2, 1, ["Петров", "Пётр"])

        table = open_table(write_xlsx(tmp_path, fill), filename="x.xlsx")
        assert table.header == ["Фамилия", "Имя"]
        assert [r.cells for r in all_rows(table)] == [["Иванов", "Иванов"], ["Петров", "Пётр"]]

    def test_empty_sheet(self, tmp_path: Path) -> None:
        with pytest.raises(UploadRejected) as caught:
            open_table(write_xlsx(tmp_path, lambda wb, ws: None), filename="x.xlsx")
        assert caught.value.code == "file.empty"

    def test_named_csv_but_is_xlsx(self, tmp_path: Path) -> None:
        path = write_xlsx(tmp_path, fill_employees, name="list.csv")
        assert open_table(path, filename="list.csv").format == "xlsx"


def write_bomb(path: Path, *, megabytes: int) -> None:
    """A zip claiming to be XLSX whose sheet is `megabytes` of zeros, built chunk by chunk."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = bytes(1024 * 1024)
            for _ in range(megabytes):
                member.write(chunk)


class TestZipBomb:
    def test_refused_from_the_directory_quickly(self, tmp_path: Path) -> None:
        path = tmp_path / "bomb.xlsx"
        write_bomb(path, megabytes=600)
        assert path.stat().st_size < 2_000_000
        tracemalloc.start()
        started = time.perf_counter()
        try:
            with pytest.raises(UploadRejected) as caught:
                open_table(path, filename="bomb.xlsx")
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert caught.value.code == "file.xlsx_too_large_unpacked"
        assert caught.value.status == 413
        unpacked = 600 * 1024 * 1024 + len("<Types/>") + len("<workbook/>")
        assert f"unpacks to {unpacked:,} bytes" in caught.value.message
        assert elapsed < 0.5
        assert peak < 5_000_000

    def test_one_member_packed_too_tightly(self, tmp_path: Path) -> None:
        path = tmp_path / "bomb.xlsx"
        write_bomb(path, megabytes=20)  # well under the total limit, but ~1000:1
        with pytest.raises(UploadRejected) as caught:
            open_table(path, filename="bomb.xlsx")
        assert caught.value.status == 413
        assert "xl/worksheets/sheet1.xml" in caught.value.message

    def test_limits_are_parameters(self, tmp_path: Path) -> None:
        path = write_xlsx(tmp_path, fill_employees)
        assert open_table(path, filename="x.xlsx").total_rows == 5
        with pytest.raises(UploadRejected) as caught:
            open_table(path, filename="x.xlsx", xlsx_limits=XlsxLimits(max_unpacked_bytes=1_000))
        assert caught.value.code == "file.xlsx_too_large_unpacked"


class TestCorruptXlsx:
    def test_truncated(self, tmp_path: Path) -> None:
        data = write_xlsx(tmp_path, fill_employees).read_bytes()
        error = rejected(tmp_path, data[: len(data) // 2], name="cut.xlsx")
        assert error.code == "file.corrupt"
        assert '"cut.xlsx" is damaged' in error.message

    def test_broken_parts(self, tmp_path: Path) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("[Content_Types].xml", "not xml <<<")
            archive.writestr("xl/workbook.xml", "not xml <<<")
        assert rejected(tmp_path, buffer.getvalue(), name="x.xlsx").code == "file.corrupt"


class TestBatches:
    def test_sizes_respected_and_repeatable(self, tmp_path: Path) -> None:
        lines = [HEADER] + [f"{i};Ф{i};И{i};01.01.1990" for i in range(10)]
        table = open_text(tmp_path, "\n".join(lines))
        assert [len(b) for b in table.batches(3)] == [3, 3, 3, 1]
        again = [r.row_no for b in table.batches(4) for r in b]
        assert again == list(range(2, 12))

    def test_xlsx_sizes(self, tmp_path: Path) -> None:
        def fill(workbook: xlsxwriter.Workbook, ws: xlsxwriter.workbook.Worksheet) -> None:
            ws.write_row(0, 0, ["Фамилия"])
            for i in range(1, 8):
                ws.write_string(i, 0, f"Ф{i}")

        table = open_table(write_xlsx(tmp_path, fill), filename="x.xlsx")
        assert [[r.cells[0] for r in b] for b in table.batches(5)] == [
            ["Ф1", "Ф2", "Ф3", "Ф4", "Ф5"],
            ["Ф6", "Ф7"],
        ]

    def test_large_csv_streams_in_bounded_memory(self, tmp_path: Path) -> None:
        path = tmp_path / "big.csv"
        with path.open("w", encoding="cp1251", newline="") as f:
            writer = csv.writer(f, delimiter=";", lineterminator="\r\n")
            writer.writerow(
                ["Номер телефона", "Фамилия", "Имя", "Отчество", "Дата рождения", "СНИЛС"]
            )
            for i in range(200_000):
                writer.writerow(
                    [f"7912{i:07d}", "Константинопольский", "Александр", "Вениаминович",
                     "01.01.1990", "123-456-789 01"]
                )  # fmt: skip
        size = path.stat().st_size
        tracemalloc.start()
        try:
            table = open_table(path, filename="big.csv")
            count = 0
            last = 0
            for batch in table.batches(1_000):
                assert len(batch) <= 1_000
                count += len(batch)
                last = batch[-1].row_no
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert table.total_rows == count == 200_000
        assert last == 200_001
        assert peak < size / 5, (peak, size)  # about 1.5 MB for a 16 MB file


_CELL = st.text(
    alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"], include_characters="\n\r\t\"';,"),
    max_size=12,
)


class TestRoundTrip:
    @settings(max_examples=150, deadline=None)
    @given(
        rows=st.lists(
            st.lists(_CELL, min_size=3, max_size=3).filter(
                lambda cells: any(c.strip() for c in cells)
            ),
            min_size=1,
            max_size=8,
        ),
        delimiter=st.sampled_from([";", ",", "\t"]),
        encoding=st.sampled_from(["utf-8", "utf-8-sig"]),
    )
    def test_what_csv_writer_writes_reads_back(
        self, rows: list[list[str]], delimiter: str, encoding: str
    ) -> None:
        header = ["Фамилия", "Имя", "Дата рождения"]
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "list.csv"
            path.write_bytes(buffer.getvalue().encode(encoding))
            table = open_table(path, filename="list.csv")
            read = all_rows(table)
        assert table.delimiter == delimiter
        assert table.header == header
        # Less Excel's text marker: one leading apostrophe is dropped.
        assert [r.cells for r in read] == [[c.removeprefix("'") for c in row] for row in rows]
        assert all(r.problem is None for r in read)
        assert table.total_rows == len(rows)


def batch_rows(table: Table, size: int) -> list[tuple[int, list[str], tuple[str, str] | None]]:
    """What `row_batches` hands out, row by row, in the shape of `batches`' RawRows."""
    found = []
    for batch in table.row_batches(size):
        assert batch.size <= size
        names = [str(i) for i in range(len(table.header))]
        for row_no, *cells in batch.cells.select("row_no", *names).iter_rows():
            found.append((row_no, cells, None))
        found.extend((r.row_no, r.cells, r.problem) for r in batch.odd)
    return sorted(found, key=lambda row: row[0])


def reference_rows(table: Table) -> list[tuple[int, list[str], tuple[str, str] | None]]:
    return [(r.row_no, r.cells, r.problem) for r in all_rows(table)]


# Cells of a list without quotes: letters, digits, spaces (Unicode ones too), punctuation.
_PLAIN_CELL = st.text(
    alphabet=st.characters(
        categories=["L", "N", "P", "Zs"], exclude_characters='"\r\n;', include_characters="\t"
    ),
    max_size=10,
)


class TestRowBatches:
    """`row_batches` (polars for plain CSVs, columns of parsed rows otherwise) hands out the
    rows `batches` reads, with the same row numbers."""

    @settings(max_examples=120, deadline=None)
    @given(
        rows=st.lists(
            st.one_of(
                st.lists(_PLAIN_CELL, min_size=3, max_size=3).map(";".join),
                st.sampled_from(["", " ", ";;", ";;;;;", "\u3000;\t;"]),  # blank lines
            ),
            min_size=1,
            max_size=12,
        ),
        encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1251"]),
        ending=st.sampled_from(["\r\n", "\n"]),
        last_ending=st.booleans(),
        chunk=st.sampled_from([8, 64, 16 * 1024 * 1024]),
        size=st.integers(min_value=1, max_value=5),
    )
    def test_plain_csv_is_read_by_polars_as_the_csv_module_reads_it(
        self,
        rows: list[str],
        encoding: str,
        ending: str,
        last_ending: bool,
        chunk: int,
        size: int,
    ) -> None:
        text = ending.join(["Фамилия;Имя;Дата рождения", *rows]) + (ending if last_ending else "")
        try:
            data = text.encode(encoding)
        except UnicodeEncodeError:
            return  # cp1251 has no such letter: not a file Excel would write
        with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
            patch.setattr("app.uploads.reading.csv_files._FRAME_CHUNK", chunk)
            path = Path(folder) / "list.csv"
            path.write_bytes(data)
            try:
                table = open_table(path, filename="list.csv")
            except UploadRejected:
                return  # no data rows, or text that is not Russian enough for cp1251
            assert table._frames is not None
            assert batch_rows(table, size) == reference_rows(table)

    @settings(max_examples=150, deadline=None)
    @given(
        rows=st.lists(
            st.one_of(
                st.lists(_PLAIN_CELL, min_size=1, max_size=5).map(";".join),
                st.sampled_from(["", " ", ";;", ";;;;;", "\u3000;\t;", "\x1c", " ;x"]),
            ),
            min_size=0,
            max_size=12,
        ),
        bom=st.booleans(),
        ending=st.sampled_from(["\r\n", "\n"]),
        last_ending=st.booleans(),
        chunk=st.sampled_from([8, 64, 16 * 1024 * 1024]),
    )
    def test_a_plain_file_is_counted_in_bytes_as_the_csv_pass_counts_it(
        self, rows: list[str], bom: bool, ending: str, last_ending: bool, chunk: int
    ) -> None:
        text = ending.join(["Фамилия;Имя;Дата рождения", *rows]) + (ending if last_ending else "")
        with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
            patch.setattr("app.uploads.reading.csv_files._FRAME_CHUNK", chunk)
            path = Path(folder) / "list.csv"
            path.write_bytes(text.encode("utf-8-sig" if bom else "utf-8"))
            fast = csv_files._count_plain_records(path, delimiter=";", width=3)
            slow = csv_files._count_data_records(
                path, encoding="utf-8-sig" if bom else "utf-8", delimiter=";", name="x", width=3
            )
        assert fast == slow

    def test_a_plain_file_the_csv_parser_would_refuse_is_left_to_it(self, tmp_path: Path) -> None:
        path = tmp_path / "list.csv"
        path.write_bytes(b"a;b\r\nx\x00y;z\r\n")
        assert csv_files._count_plain_records(path, delimiter=";", width=2) is None
        path.write_bytes(b"a;b\r\n" + b"x" * (csv.field_size_limit() + 1) + b";z\r\n")
        assert csv_files._count_plain_records(path, delimiter=";", width=2) is None

    @pytest.mark.parametrize(
        "lines",
        [
            ['"Иванов";Иван;01.01.1990', 'Петров;"Пётр ""Петя""";02.02.1990'],  # quotes
            ["Иванов;Иван;01.01.1990;", "Петров;Пётр"],  # trailing delimiter, too few cells
            ["Иванов;Иван;01.01.1990\rПетров;Пётр;02.02.1990"],  # a bare CR ends a line
        ],
    )
    def test_other_csv_is_read_by_the_csv_module(self, tmp_path: Path, lines: list[str]) -> None:
        table = open_text(tmp_path, "\r\n".join(["Фамилия;Имя;Дата рождения", *lines]))
        assert table._frames is None
        assert batch_rows(table, 2) == reference_rows(table)

    def test_xlsx(self, tmp_path: Path) -> None:
        def fill(workbook: xlsxwriter.Workbook, ws: xlsxwriter.workbook.Worksheet) -> None:
            ws.write_row(0, 0, ["Фамилия", "Имя"])
            ws.write_row(1, 0, ["Иванов", "Иван"])
            ws.write_row(3, 0, ["Петров", "Пётр"])

        table = open_table(write_xlsx(tmp_path, fill), filename="x.xlsx")
        assert (
            batch_rows(table, 1)
            == reference_rows(table)
            == [
                (2, ["Иванов", "Иван"], None),
                (4, ["Петров", "Пётр"], None),
            ]
        )

    def test_a_resumed_upload_gets_the_rows_after_its_last_committed_one(
        self, tmp_path: Path
    ) -> None:
        lines = [HEADER] + [f"{i};Ф{i};И{i};01.01.1990" for i in range(10)]
        table = open_text(tmp_path, "\n".join(lines))
        batches = [b.after(6) for b in table.row_batches(4)]
        assert [b.size for b in batches] == [0, 3, 2]
        assert [b.last_row_no for b in batches[1:]] == [9, 11]
