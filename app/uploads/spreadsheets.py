"""Files simreg hands to company admins: blank templates, and reports of the rows it refused.

Both are opened in Russian Excel (DOMAIN.md, "Data the company submits"): CSV goes out as UTF-8
with a BOM, ";" and CRLF, which Excel opens without an import dialog; XLSX keeps every column
as text so leading zeros and 20-digit ICCIDs survive. Text that came from an upload is
neutralised before it goes back out, so a report can never run a formula the admin did not write.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from typing import Literal, NamedTuple

import xlsxwriter

from app.core.excel import CSV_BOM, XLSX_MAX_ROWS, excel_csv, xlsx_text
from app.core.messages import DEFAULT, Language, say
from app.uploads.reading.columns import DEVICE_TYPES, DOC_TYPES, REPORT_COLUMNS, is_report_column

__all__ = [
    "DEVICE_TEMPLATE_HEADERS",
    "EMPLOYEE_TEMPLATE_HEADERS",
    "ReportRow",
    "error_report_csv",
    "error_report_xlsx",
    "template_csv",
    "template_xlsx",
]

TemplateKind = Literal["employees", "devices"]

EMPLOYEE_TEMPLATE_HEADERS: list[str] = [
    "Номер телефона",
    "ICCID",
    "Фамилия",
    "Имя",
    "Отчество",
    "Дата рождения",
    "Тип документа",
    "Серия и номер паспорта",
    "Дата выдачи",
    "Кем выдан",
    "Код подразделения",
    "СНИЛС",
]

# "IMEI / MAC / серийный номер" would say more, but it is not a header simreg recognises.
DEVICE_TEMPLATE_HEADERS: list[str] = [
    "Номер телефона",
    "ICCID",
    "Тип устройства",
    "Модель",
    "IMEI",
    "Адрес установки",
]

TEMPLATE_SHEET = "Список"
HELP_SHEET = "Как заполнять"

_CYRILLIC_WORD = re.compile(r"^[а-яё]+$")


def _accepted_values(synonyms: dict[str, str]) -> str:
    """Each canonical value once, with its shortest Russian synonym: "atm (банкомат)"."""
    russian: dict[str, str] = {}
    for word, value in synonyms.items():
        if _CYRILLIC_WORD.match(word) and (value not in russian or len(word) < len(russian[value])):
            russian[value] = word
    values = dict.fromkeys(synonyms.values())
    return ", ".join(f"{v} ({russian[v]})" if v in russian else v for v in values)


_HOW_TO_FILL: dict[str, str] = {
    "Номер телефона": "Номер SIM-карты, 11 цифр, можно с пробелами и дефисами: +7 912 345-67-89",
    "ICCID": "Номер SIM-карты с самой карты, 18–20 цифр, без пробелов",
    "Фамилия": "Фамилия пользователя, как в паспорте: Иванов",
    "Имя": "Имя, как в паспорте: Иван",
    "Отчество": "Отчество, как в паспорте; пусто, если его нет",
    "Дата рождения": "Дата в виде дд.мм.гггг: 04.05.1990",
    "Тип документа": (
        "Паспорт РФ, Иностранный паспорт или ВНЖ. "
        f"Коды тоже подходят: {', '.join(dict.fromkeys(DOC_TYPES.values()))}"
    ),
    "Серия и номер паспорта": "Серия (4 цифры) и номер (6 цифр) через пробелы: 45 12 345678",
    "Дата выдачи": "Дата выдачи документа в виде дд.мм.гггг: 15.06.2012",
    "Кем выдан": "Орган, выдавший документ, как в паспорте",
    "Код подразделения": "Код подразделения из паспорта: 770-001",
    "СНИЛС": "11 цифр, можно как в карточке: 123-456-789 01",
    "Тип устройства": (
        "Что за устройство, одно из (можно по-русски, как в скобках): "
        f"{_accepted_values(DEVICE_TYPES)}"
    ),
    "Модель": "Модель или название устройства: Эвотор 7.2",
    "IMEI": "IMEI, MAC-адрес или серийный номер устройства",
    "Адрес установки": "Где стоит устройство: г. Москва, ул. Тверская, д. 1",
}


def _template_headers(kind: TemplateKind) -> list[str]:
    if kind == "employees":
        return EMPLOYEE_TEMPLATE_HEADERS
    if kind == "devices":
        return DEVICE_TEMPLATE_HEADERS
    raise ValueError(f"unknown template kind: {kind!r}")


def template_csv(kind: TemplateKind) -> bytes:
    """An empty list to fill in: the header row only, as Russian Excel opens CSV without asking."""
    return (CSV_BOM + ";".join(_template_headers(kind)) + "\r\n").encode("utf-8")


def template_xlsx(kind: TemplateKind) -> bytes:
    """An empty list to fill in, as XLSX: the header on "Список", instructions on a second sheet."""
    headers = _template_headers(kind)
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    # Built-in format 49 is "@" (text): Excel keeps what is typed as typed, so 8 912… keeps its
    # digits and a 20-digit ICCID is not turned into 8.97E+19.
    text = workbook.add_format({"num_format": 49})
    bold_text = workbook.add_format({"num_format": 49, "bold": True})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    bold = workbook.add_format({"bold": True})

    sheet = workbook.add_worksheet(TEMPLATE_SHEET)
    for col, title in enumerate(headers):
        sheet.set_column(col, col, max(14, len(title) + 4), text)
        sheet.write_string(0, col, title, bold_text)
    sheet.freeze_panes(1, 0)

    help_sheet = workbook.add_worksheet(HELP_SHEET)
    help_sheet.set_column(0, 0, 26)
    help_sheet.set_column(1, 1, 90, wrap)
    help_sheet.write_string(0, 0, "Колонка", bold)
    help_sheet.write_string(0, 1, "Что писать", bold)
    for row, title in enumerate(headers, start=1):
        help_sheet.write_string(row, 0, title)
        help_sheet.write_string(row, 1, _HOW_TO_FILL[title], wrap)
    workbook.close()
    return buffer.getvalue()


class ReportRow(NamedTuple):
    """A refused row for the error report: its number in the uploaded file, its cells as
    written, its problems in words and their codes."""

    row_no: int
    cells: list[str]
    errors: str
    codes: str


class _Layout:
    """Which of an upload's columns go into its error report: all but the columns an earlier
    error report added (a corrected error file comes back with them), which this report
    writes afresh."""

    def __init__(self, header: list[str], language: Language) -> None:
        self.width = len(header)
        self.kept = [i for i, title in enumerate(header) if not is_report_column(title)]
        self.titles = [
            *(header[i] for i in self.kept),
            *(say(code, language) for code in REPORT_COLUMNS),
        ]

    def cells(self, row: ReportRow) -> list[str]:
        """The admin's cells lined up under the header, then the errors, their codes and the
        row number. Cells beyond the header (a row with too many fields) go after the report
        columns, so they are still shown without shifting the errors out of their column."""
        cells = row.cells
        padded = cells[: self.width] + [""] * (self.width - len(cells))
        return [
            *(padded[i] for i in self.kept),
            row.errors,
            row.codes,
            str(row.row_no),
            *cells[self.width :],
        ]


def error_report_csv(
    header: list[str],
    rows: Iterable[ReportRow],
    *,
    delimiter: str = ";",
    language: Language = DEFAULT,
) -> Iterator[bytes]:
    """The refused rows as CSV for Excel, in chunks: the admin's columns, then the errors,
    their codes and the row number, titled in `language`. UTF-8 with a BOM first, CRLF line
    ends; every cell neutralised and quoted as Excel needs (`app.core.excel`), so the file
    comes back into simreg as it went out."""
    layout = _Layout(header, language)
    return excel_csv(
        layout.titles,
        (layout.cells(row) for row in rows),
        delimiter=delimiter,
    )


def error_report_xlsx(
    header: list[str], rows: Iterable[ReportRow], *, language: Language = DEFAULT
) -> bytes:
    """The refused rows as XLSX, same columns as `error_report_csv`; every cell a string,
    which Excel never runs as a formula, so none needs a marker.

    Written in xlsxwriter's constant-memory mode (row data goes to a temporary file, not to
    memory); cells go in with `write_string`, so nothing is ever stored as a formula.
    """
    layout = _Layout(header, language)
    errors_at = len(layout.kept)
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        buffer,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    bold = workbook.add_format({"bold": True})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    sheet = workbook.add_worksheet(say("upload.report.sheet", language))
    for col, title in enumerate(layout.titles[:errors_at]):
        sheet.set_column(col, col, min(max(12, len(title) + 4), 40))
    sheet.set_column(errors_at, errors_at, 60)
    sheet.set_column(errors_at + 1, errors_at + 2, 18)
    for col, title in enumerate(layout.titles):
        sheet.write_string(0, col, xlsx_text(title), bold)
    sheet.freeze_panes(1, 0)

    for line, row in enumerate(rows, start=1):
        if line == XLSX_MAX_ROWS - 1:
            # The last row Excel has: say the report goes on, rather than drop rows unsaid.
            sheet.write_string(line, errors_at, say("upload.report.truncated", language), wrap)
            break
        for col, value in enumerate(layout.cells(row)):
            if value:  # an empty cell reads back empty: writing it costs a tenth of the file
                sheet.write_string(line, col, xlsx_text(value), wrap if col == errors_at else None)
    workbook.close()
    return buffer.getvalue()
