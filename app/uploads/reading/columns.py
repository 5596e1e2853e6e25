"""The columns an upload may carry: canonical names, the headers people write for them, and
the header row of a file read into columns.

Russian Excel users write headers their own way (DOMAIN.md, "Data the company submits");
matching forgives case, spaces, ё and punctuation.
"""

from __future__ import annotations

import enum
import re
from functools import cache

from app.core.messages import LANGUAGES, say
from app.uploads.reading.refusals import UploadRejected, words

# Python's str.strip() and str.isspace() count these as whitespace, the ASCII information
# separators U+001C..U+001F among them; the regex engine behind polars does not. Spelled out,
# so that trimming and blank-cell tests in polars agree with Python's character for
# character. (No whitespace character lies above U+3000.)
WHITESPACE = "".join(chr(code) for code in range(0x3001) if chr(code).isspace())


class Column(enum.StrEnum):
    """Canonical column names of an upload."""

    ROW_TYPE = "row_type"
    MSISDN = "msisdn"
    ICCID = "iccid"
    LAST_NAME = "last_name"
    FIRST_NAME = "first_name"
    PATRONYMIC = "patronymic"
    # Last name, first name and patronymic in one cell, as HR systems (1C:ЗУП) export them:
    # read into the three columns above (`app.uploads.reading.full_names`).
    FULL_NAME = "full_name"
    BIRTH_DATE = "birth_date"
    DOC_TYPE = "doc_type"
    PASSPORT = "passport"  # series and number in one cell
    PASSPORT_SERIES = "passport_series"
    PASSPORT_NUMBER = "passport_number"
    DOC_ISSUED_ON = "doc_issued_on"
    DOC_ISSUER = "doc_issuer"
    DOC_ISSUER_CODE = "doc_issuer_code"
    SNILS = "snils"
    DEVICE_TYPE = "device_type"
    DEVICE_MODEL = "device_model"
    DEVICE_ID = "device_id"
    INSTALL_ADDRESS = "install_address"


# Headers as people write them; compared after `header_key` (so case, ё, spaces don't matter).
ALIASES: dict[Column, tuple[str, ...]] = {
    Column.ROW_TYPE: ("Тип", "Тип записи", "Тип строки", "Вид", "type", "row type", "kind"),
    Column.MSISDN: (
        "Номер телефона",
        "Телефон",
        "Номер",
        "Абонентский номер",
        "MSISDN",
        "phone",
        "phone number",
        "number",
    ),
    Column.ICCID: ("ICCID", "Номер SIM", "Номер сим-карты", "SIM", "sim number"),
    Column.LAST_NAME: ("Фамилия", "last name", "surname", "family name"),
    Column.FIRST_NAME: ("Имя", "first name", "given name", "name"),
    Column.PATRONYMIC: ("Отчество", "patronymic", "middle name"),
    Column.FULL_NAME: (
        "ФИО",
        "Ф.И.О.",
        "Фамилия Имя Отчество",
        "Фамилия, имя, отчество",
        "ФИО сотрудника",
        "Сотрудник",
        "full name",
    ),
    Column.BIRTH_DATE: ("Дата рождения", "birth date", "date of birth", "birthdate", "dob"),
    Column.DOC_TYPE: ("Тип документа", "Вид документа", "document type", "doc type"),
    Column.PASSPORT: (
        "Серия и номер паспорта",
        "Паспорт",
        "Серия и номер",
        "Серия и номер документа",
        "Паспорт серия и номер",
        "passport",
        "passport number and series",
        "document",
        "document number",
    ),
    Column.PASSPORT_SERIES: ("Серия паспорта", "Серия", "passport series", "series"),
    Column.PASSPORT_NUMBER: ("Номер паспорта", "Номер документа", "passport number"),
    Column.DOC_ISSUED_ON: ("Дата выдачи", "Дата выдачи паспорта", "issue date", "issued on"),
    Column.DOC_ISSUER: ("Кем выдан", "Орган выдачи", "issuer", "issued by"),
    Column.DOC_ISSUER_CODE: ("Код подразделения", "issuer code", "department code"),
    Column.SNILS: ("СНИЛС", "snils"),
    Column.DEVICE_TYPE: ("Тип устройства", "Тип оборудования", "device type", "equipment type"),
    Column.DEVICE_MODEL: (
        "Модель",
        "Наименование оборудования",
        "Модель устройства",
        "Наименование",
        "model",
        "device model",
        "equipment",
    ),
    Column.DEVICE_ID: (
        "IMEI",
        "Идентификатор",
        "Идентификатор устройства",
        "MAC",
        "MAC-адрес",
        "Серийный номер",
        "identifier",
        "device id",
        "serial",
        "serial number",
        "imei/mac",
    ),
    Column.INSTALL_ADDRESS: (
        "Адрес установки",
        "Адрес",
        "Адрес установки оборудования",
        "install address",
        "installation address",
        "address",
    ),
}


def header_for(column: Column) -> str:
    """The header simreg's templates use for a column."""
    return ALIASES[column][0]


EMPLOYEE_REQUIRED = (Column.MSISDN, Column.LAST_NAME, Column.FIRST_NAME, Column.BIRTH_DATE)
DEVICE_REQUIRED = (Column.MSISDN, Column.DEVICE_TYPE, Column.DEVICE_MODEL, Column.DEVICE_ID)
EMPLOYEE_MARKERS = (Column.LAST_NAME, Column.FIRST_NAME, Column.BIRTH_DATE)
DEVICE_MARKERS = (Column.DEVICE_TYPE, Column.DEVICE_MODEL, Column.DEVICE_ID)

_NOISE = re.compile(r"[\s_\-–—.,:;()№#*\"'«»/]+")


def header_key(text: str) -> str:
    """A header reduced to what matters: lower case, ё→е, no spaces or punctuation."""
    return _NOISE.sub("", text.strip().lower().replace("ё", "е"))


_BY_KEY: dict[str, Column] = {
    header_key(alias): column for column, aliases in ALIASES.items() for alias in aliases
}
_BY_KEY.update({header_key(c.value): c for c in Column})


def column_for_header(text: str) -> Column | None:
    """The canonical column a header names, or None for a column simreg does not use."""
    return _BY_KEY.get(header_key(text))


# The columns simreg adds to an error file, by their titles' catalog codes: a corrected error
# file comes back with them, and they are ignored.
REPORT_COLUMNS = ("upload.report.errors", "upload.report.codes", "upload.report.source_row")


@cache
def _report_keys() -> frozenset[str]:
    return frozenset(
        header_key(say(code, language)) for code in REPORT_COLUMNS for language in LANGUAGES
    )


def is_report_column(text: str) -> bool:
    """Whether a header is the title of a column simreg added to an error file (in either
    language)."""
    return header_key(text) in _report_keys()


def header_cell(cell: str) -> str:
    """A header cell as written, without spaces around it or Excel's text marker (a leading
    apostrophe, which an error file puts before a title Excel would run as a formula)."""
    return cell.strip().removeprefix("'").strip()


# Values of the row-type column, and of the device-type column, as people write them
# (keys are compared after `header_key`, applied to them at the end of this module).
ROW_TYPES = {
    "employee": "employee",
    "сотрудник": "employee",
    "работник": "employee",
    "физлицо": "employee",
    "person": "employee",
    "device": "device",
    "устройство": "device",
    "оборудование": "device",
    "m2m": "device",
    "iot": "device",
}
DEVICE_TYPES = {
    "payment_terminal": "payment_terminal",
    "платежныйтерминал": "payment_terminal",
    "терминал": "payment_terminal",
    "pos": "payment_terminal",
    "posтерминал": "payment_terminal",
    "atm": "atm",
    "банкомат": "atm",
    "cash_register": "cash_register",
    "ккт": "cash_register",
    "касса": "cash_register",
    "онлайнкасса": "cash_register",
    "кассовыйаппарат": "cash_register",
    "barrier": "barrier",
    "шлагбаум": "barrier",
    "modem": "modem",
    "модем": "modem",
    "router": "router",
    "роутер": "router",
    "маршрутизатор": "router",
    "tracker": "tracker",
    "трекер": "tracker",
    "глонасстрекер": "tracker",
    "gpsтрекер": "tracker",
    "alarm": "alarm",
    "сигнализация": "alarm",
    "охраннаясигнализация": "alarm",
    "meter": "meter",
    "счетчик": "meter",
    "прибористчета": "meter",
    "приборучета": "meter",
    "camera": "camera",
    "камера": "camera",
    "видеокамера": "camera",
    "other": "other",
    "другое": "other",
    "прочее": "other",
}
DOC_TYPES = {
    "ru_passport": "ru_passport",
    "паспортрф": "ru_passport",
    "паспорт": "ru_passport",
    "паспортгражданинарф": "ru_passport",
    "паспортгражданинароссийскойфедерации": "ru_passport",
    "foreign_passport": "foreign_passport",
    "иностранныйпаспорт": "foreign_passport",
    "паспортиностранногогражданина": "foreign_passport",
    "residence_permit": "residence_permit",
    "внж": "residence_permit",
    "виднажительство": "residence_permit",
}

ROW_TYPES = {header_key(k): v for k, v in ROW_TYPES.items()}
DEVICE_TYPES = {header_key(k): v for k, v in DEVICE_TYPES.items()}
DOC_TYPES = {header_key(k): v for k, v in DOC_TYPES.items()}


def header_names(header: list[str], columns: list[Column | None]) -> dict[str, str]:
    """Each column read (Column value) with its header as the file wrote it; a "ФИО" column
    names the last name, first name and patronymic read from it too."""
    names: dict[str, str] = {}
    for text, column in zip(header, columns, strict=False):
        if column is None:
            continue
        names[column.value] = text
        if column is Column.FULL_NAME:
            for part in (Column.LAST_NAME, Column.FIRST_NAME, Column.PATRONYMIC):
                names.setdefault(part.value, text)
    return names


def read_header(
    cells: list[str], *, name: str, has_rows: bool
) -> tuple[list[str], list[Column | None]]:
    """The header as written (stripped, trailing empty cells dropped) and its columns."""
    header = [header_cell(cell) for cell in cells]
    while header and not header[-1]:
        header.pop()
    if not header:
        if not has_rows:
            raise UploadRejected("file.empty", words("upload.file.empty", name=name))
        raise UploadRejected("file.no_header", words("upload.file.no_header", name=name))
    columns = [
        column_for_header(cell) if cell and not is_report_column(cell) else None for cell in header
    ]
    first_seen: dict[Column, int] = {}
    for position, column in enumerate(columns):
        if column is None:
            continue
        if column in first_seen:
            earlier = first_seen[column]
            same = header[earlier] == header[position]
            reason = words(
                "upload.header.same_column" if same else "upload.header.same_meaning",
                name=name,
                first=header[earlier],
                second=header[position],
                first_at=earlier + 1,
                second_at=position + 1,
            )
            raise UploadRejected("header.duplicate_column", reason, column=column.value)
        first_seen[column] = position
    return header, columns
