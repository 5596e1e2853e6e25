"""Tests of app.uploads.checking: the row rules of a batch.

The vectorised checks must agree with the scalar validators of app.core (and with
check_device), so the property tests below run both on the same generated values and
compare acceptance, the normal form and the error code.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.identifiers import (
    InvalidIdentifier,
    clean_cell,
    normalize_device_id,
    normalize_iccid,
    normalize_issuer_code,
    normalize_msisdn,
    normalize_passport_ru,
    normalize_snils,
    parse_date,
    validate_birth_date,
)
from app.core.names import is_cyrillic_name, normalize_full_name
from app.numbers.registration_rules import check_device
from app.numbers.schemas import DeviceIn, DeviceType
from app.uploads.checking.phones import _prefix_depths
from app.uploads.checking.rules import CLEAN_SCHEMA, RowProblem, validate_batch
from app.uploads.problems import word_problem
from app.uploads.reading.columns import Column

TODAY = date(2025, 6, 1)
DIGITS = "0123456789"
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

EMPLOYEE: dict[str, str] = {
    "msisdn": "+7 912 345-67-89",
    "last_name": "Иванов",
    "first_name": "Иван",
    "patronymic": "Иванович",
    "birth_date": "01.02.1990",
    "passport": "4512 345678",
    "doc_issued_on": "15.03.2010",
    "doc_issuer": "ОВД Тверского района",
    "doc_issuer_code": "770-001",
    "snils": "112-233-445 95",
}
DEVICE: dict[str, str] = {
    "msisdn": "89123456780",
    "device_type": "Платёжный терминал",
    "device_model": "Ingenico Move/5000",
    "device_id": "490154203237518",
    "install_address": "Москва, ул. Тверская, 1",
}


def employee(**changes: str | None) -> dict[str, str | None]:
    return {**EMPLOYEE, **changes}


def device(**changes: str | None) -> dict[str, str | None]:
    return {**DEVICE, **changes}


def frame_of(rows: Sequence[dict[str, str | None]]) -> pl.DataFrame:
    """Rows as an upload frame: row_no from 2 (the header is row 1), every cell a String."""
    names = sorted({name for row in rows for name in row})
    data: dict[str, Any] = {"row_no": pl.Series(range(2, len(rows) + 2), dtype=pl.Int64)}
    for name in names:
        data[name] = pl.Series([row.get(name) for row in rows], dtype=pl.String)
    return pl.DataFrame(data)


def run(
    rows: Sequence[dict[str, str | None]], **kwargs: Any
) -> tuple[pl.DataFrame, list[RowProblem]]:
    return validate_batch(frame_of(rows), today=kwargs.pop("today", TODAY), **kwargs)


def codes(problems: list[RowProblem]) -> list[tuple[int, str, str]]:
    return [(p.row_no, p.column, p.code) for p in problems]


def only_problem(rows: Sequence[dict[str, str | None]]) -> tuple[str, str] | None:
    """(column, code) of the one problem of a one-row batch, or None when it is clean."""
    clean, problems = run(rows)
    assert len(problems) <= 1, problems
    if problems:
        assert clean.is_empty()
        return problems[0].column, problems[0].code
    assert clean.height == 1
    return None


def words(problem: RowProblem, language: str = "ru", header: str | None = None) -> str:
    """A problem as the admin reads it, the column named by ``header`` when given."""
    headers = {problem.column: header} if header else None
    return word_problem(problem.as_problem(), language, headers)  # type: ignore[arg-type]


def scalar(function: Callable[[str], Any], value: str) -> tuple[Any, str | None]:
    """(normal form, None) or (None, code) from a scalar validator."""
    try:
        return function(value), None
    except InvalidIdentifier as exc:
        return None, exc.code


def compare(
    rows: list[dict[str, str | None]],
    column: str,
    expected: list[tuple[Any, str | None]],
    output: str | None,
) -> None:
    """Each row's verdict on ``column`` equals the scalar one (value or code)."""
    clean, problems = run(rows)
    by_row = {p.row_no: p for p in problems if p.column == column}
    others = [p for p in problems if p.column != column]
    assert not others, others
    values = dict(zip(clean["row_no"], clean[output] if output else clean["row_no"], strict=True))
    for row_no, (value, code) in enumerate(expected, start=2):
        if code is None:
            assert row_no not in by_row, (rows[row_no - 2], by_row.get(row_no))
            if output:
                assert values[row_no] == value, rows[row_no - 2]
        else:
            assert row_no in by_row, (rows[row_no - 2], code)
            assert by_row[row_no].code == code, rows[row_no - 2]


# --- Strategies -----------------------------------------------------------------------------


def luhn_digit(body: str) -> str:
    """The digit that completes ``body`` to pass Luhn (reference, written right to left)."""
    total = 0
    for i, char in enumerate(reversed(body)):
        d = int(char) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return str((10 - total % 10) % 10)


def snils_check(first9: str) -> str:
    total = sum(int(d) * w for d, w in zip(first9, range(9, 0, -1), strict=True))
    while total > 101:
        total %= 101
    return "00" if total >= 100 else f"{total:02d}"


def digit_text(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=DIGITS, min_size=size, max_size=size)


ODD_SPACES = [" ", "\u00a0", "\t", "\u2009", "\x1c", "\u3000"]


@st.composite
def phone_spellings(draw: st.DrawFn) -> str:
    prefix = draw(
        st.sampled_from(
            ["9", "912", "930", "9300", "93000", "495", "812", "701", "710", "3", "8", "0"]
        )
    )
    national = (prefix + draw(digit_text(10)))[:10]
    a, b, c, d = national[:3], national[3:6], national[6:8], national[8:]
    return draw(
        st.sampled_from(
            [
                f"+7 {a} {b} {c} {d}",
                f"8 ({a}) {b}-{c}-{d}",
                f"7{national}",
                national,
                f" +7({a}){b}.{c}.{d} ",
                f"+7\u00a0{a}\u00a0{b}{c}{d}",
                f"+7 {a} FLOWERS",
                f"+44 20 {b} {c}{d}",
                f"+1 {a} {b} {c}{d}",
                f"{national}1",
                f"+7{national[:9]}",
                f"+7 {a} {b}\u2013{c}\u2013{d}",
                f"+7\u200b{a}{b}{c}{d}",
                f"\ufeff8{national}",
                f"8 ({a}) {b}-{c}-{d} доб. {c}",
                f"+7 {a} {b} {c} {d}, ДОБ{d}",
                f"+7 {a} {b} {c} {d} ext.{b}",
                f"+7 {a} {b} {c} {d} доб.",
                f"{national} доб 1234567",
            ]
        )
    )


junk = st.text(
    alphabet="0123456789+()-. ab\u00a0\x1c№/\u2013\u200b\ufeffNnдоб", min_size=1, max_size=16
)


@st.composite
def date_spellings(draw: st.DrawFn) -> str:
    day = draw(st.dates(min_value=date(1880, 1, 1), max_value=date(2035, 12, 31)))
    return draw(
        st.sampled_from(
            [
                day.strftime("%d.%m.%Y"),
                day.isoformat(),
                f"{day.day}.{day.month}.{day.year}",
                f"{day.year}-{day.month}-{day.day}",
                f"{day.day:02d}.{day.month:02d}.{day.year % 100:02d}",
                day.strftime("%Y/%m/%d"),
                f"{draw(st.integers(0, 40))}.{draw(st.integers(0, 14))}.{day.year}",
                f"{day.year}-02-{draw(st.integers(28, 31))}",
                f"0000-{day.month}-{day.day}",
                f" {day.strftime('%d.%m.%Y')}\u00a0",
                day.strftime("%d.%m.%Y 0:00:00"),
                day.strftime("%Y-%m-%d 00:00:00"),
                day.strftime("%Y-%m-%dT00:00:00.000"),
                day.strftime("%d.%m.%Y г."),
                day.strftime("%d.%m.%Yг"),
                day.strftime("%d/%m/%Y"),
                f"{day.day}/{day.month}/{day.year}",
                f"{day.month}/{day.day}/{day.year}",
                day.strftime("%d/%m/%y"),
                day.strftime("%d.%m.%Y 13:45"),
                day.strftime("%d.%m.%Y\u00a0\u00a00:00"),
                day.strftime("%Y\u2013%m\u2013%d"),
                day.strftime("\ufeff%d.%m.%Y"),
                day.strftime("%d.%m/%Y"),
            ]
        )
    )


@st.composite
def passport_spellings(draw: st.DrawFn) -> str:
    series, number = draw(digit_text(4)), draw(digit_text(6))
    return draw(
        st.sampled_from(
            [
                f"{series[:2]} {series[2:]} {number}",
                series + number,
                f"{series} {number}",
                f"{series[:2]} {series[2:]} № {number}",
                f"{series}-{number}",
                f"{series} {number[:5]}",
                f"{series}{number}1",
                f"{series} {number[:5]}O",
                f"{series}\u00a0{number}",
                "№",
                f"{series} N {number}",
                f"{series[:2]} {series[2:]} No {number}",
                f"серия {series} номер {number}",
                f"{series}/{number}",
                f"{series}\u2013{number}",
                f"{series}\u200b{number}",
                f"\ufeff{series} {number}",
                str(int("0" + series[1:] + number)),
                f"{series[1:]} {number}",
                f"{series} #{number}",
            ]
        )
    )


@st.composite
def snils_spellings(draw: st.DrawFn) -> str:
    first9 = draw(st.one_of(digit_text(9), st.integers(0, 1_002_100).map("{:09d}".format)))
    check = draw(st.one_of(st.just(snils_check(first9)), digit_text(2)))
    raw = first9 + check
    return draw(
        st.sampled_from(
            [
                raw,
                f"{raw[:3]}-{raw[3:6]}-{raw[6:9]} {raw[9:]}",
                f"{raw[:3]} {raw[3:6]} {raw[6:9]} {raw[9:]}",
                raw[:10],
                raw + "5",
                raw[:9] + "o" + raw[10],
                f"{raw[:3]}\u2013{raw[3:6]}\u2013{raw[6:9]}\u2013{raw[9:]}",
                f"\ufeff{raw[:3]}-{raw[3:6]}-{raw[6:9]}\u200b {raw[9:]}",
            ]
        )
    )


@st.composite
def iccid_spellings(draw: st.DrawFn) -> str:
    head = draw(st.sampled_from(["897", "894", "88", "98", "0897", "1"]))
    body = head + draw(digit_text(18 - len(head))) + draw(st.sampled_from(["", "1"]))
    good = body + luhn_digit(body)
    wrong = body + str((int(luhn_digit(body)) + 1) % 10)
    raw = draw(st.sampled_from([good, wrong, good[:-2], good + "F", "0" + good]))
    return draw(
        st.sampled_from(
            [raw, f"{raw[:4]} {raw[4:10]} {raw[10:]}", f"{raw[:4]}-{raw[4:]}", f"{raw}\u200b"]
        )
    )


@st.composite
def device_ids(draw: st.DrawFn) -> str:
    body = draw(digit_text(14))
    imei = body + draw(st.one_of(st.just(luhn_digit(body)), st.sampled_from(DIGITS)))
    mac = draw(st.text(alphabet="0123456789abcdefABCDEFG", min_size=12, max_size=12))
    pairs = [mac[i : i + 2] for i in range(0, 12, 2)]
    return draw(
        st.sampled_from(
            [
                imei,
                f"{imei[:2]}-{imei[2:8]}-{imei[8:14]}-{imei[14]}",
                f"{imei[:8]} {imei[8:]}",
                f"{imei[:8]}/{imei[8:]}",
                imei[:7] + "\u0663" + imei[8:],  # an Arabic-Indic digit
                imei[:7] + "²" + imei[8:],
                ":".join(pairs),
                "-".join(pairs),
                f"{mac[:4]}.{mac[4:8]}.{mac[8:]}",
                f"{mac[:4]}:{mac[4:8]}:{mac[8:]}",
                f"{mac}.",
                f"sn-{mac}",
                f"Жк-{body}",
                body[:3],
                f"{mac[:2]}-{body[:2]}",
                mac[:4],
                mac[:5],
                f"Ж{body[:3]}",
                f"\u200b{body[:4]}\u200b",
                f"{imei[:8]}\u2013{imei[8:]}",
            ]
        )
    )


NAME_CHARS = (
    "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюя"
    "AaBCcEeHKMOoPpTXxYyËë"
    " -\u2010\u2013\u2014\u2212'\u2019\u00a0\u00ad\u200b\u0301ß1."
)
names = st.text(alphabet=NAME_CHARS, min_size=1, max_size=14)


# --- Behaviour ------------------------------------------------------------------------------


class TestCleanRows:
    def test_valid_employee_and_device_in_normal_form(self) -> None:
        clean, problems = run([employee(patronymic="  Иванович  "), device()])
        assert problems == []
        assert dict(clean.schema) == CLEAN_SCHEMA
        person, dev = clean.to_dicts()
        assert person == {
            "row_no": 2,
            "kind": "employee",
            "msisdn": "+79123456789",
            "iccid": None,
            "last_name": "Иванов",
            "first_name": "Иван",
            "patronymic": "Иванович",
            "name_key": "ИВАНОВ ИВАН ИВАНОВИЧ",
            "doc_type": "ru_passport",
            "doc_series": "4512",
            "doc_number": "345678",
            "birth_date": date(1990, 2, 1),
            "doc_issued_on": date(2010, 3, 15),
            "doc_issuer": "ОВД Тверского района",
            "doc_issuer_code": "770-001",
            "snils": "11223344595",
            "device_type": None,
            "device_model": None,
            "device_id": None,
            "device_id_kind": None,
            "install_address": None,
        }
        assert dev["kind"] == "device"
        assert dev["msisdn"] == "+79123456780"
        assert dev["device_type"] == "payment_terminal"
        assert (dev["device_id"], dev["device_id_kind"]) == ("490154203237518", "imei")
        assert dev["last_name"] is None
        assert dev["doc_type"] is None

    def test_names_are_trimmed_and_inner_spaces_collapsed(self) -> None:
        clean, _ = run([employee(last_name=" Салтыков \u00a0 Щедрин ", patronymic="")])
        assert clean["last_name"][0] == "Салтыков Щедрин"
        assert clean["patronymic"][0] is None
        assert clean["name_key"][0] == "САЛТЫКОВ ЩЕДРИН ИВАН"

    def test_empty_batch(self) -> None:
        clean, problems = validate_batch(
            pl.DataFrame({"row_no": pl.Series([], dtype=pl.Int64)}), today=TODAY
        )
        assert clean.is_empty()
        assert dict(clean.schema) == CLEAN_SCHEMA
        assert problems == []


class TestKindDetection:
    @pytest.mark.parametrize(
        ("row", "kind"),
        [
            (employee(), "employee"),
            (device(), "device"),
            (employee(row_type="Сотрудник"), "employee"),
            (device(row_type=" УСТРОЙСТВО "), "device"),
            (device(row_type="IoT"), "device"),
            (employee(row_type="физ. лицо"), "employee"),
            (employee(row_type=""), "employee"),
        ],
    )
    def test_detected(self, row: dict[str, str | None], kind: str) -> None:
        clean, problems = run([row])
        assert problems == []
        assert clean["kind"].to_list() == [kind]

    def test_row_type_wins_over_markers(self) -> None:
        clean, problems = run([{**employee(), **device(), "row_type": "device"}])
        assert problems == []
        assert clean["kind"][0] == "device"
        assert clean["last_name"][0] is None

    @pytest.mark.parametrize(
        ("row", "column"),
        [
            ({**employee(), **device()}, "row"),
            ({"msisdn": "+79123456789", "snils": "112-233-445 95"}, "row"),
            (employee(row_type="клиент"), "row_type"),
        ],
    )
    def test_unknown(self, row: dict[str, str | None], column: str) -> None:
        assert only_problem([row]) == (column, "row.kind_unknown")

    def test_unknown_kind_still_checks_the_phone(self) -> None:
        _, problems = run([{"msisdn": "12", "install_address": "где-то"}])
        assert codes(problems) == [(2, "row", "row.kind_unknown"), (2, "msisdn", "phone.invalid")]
        assert "ни данных устройства" in words(problems[0])
        assert "device's columns" in words(problems[0], "en")


class TestRequired:
    @pytest.mark.parametrize("column", ["msisdn", "last_name", "first_name", "birth_date"])
    def test_employee(self, column: str) -> None:
        assert only_problem([employee(**{column: "  "})]) == (column, "required")

    @pytest.mark.parametrize("column", ["msisdn", "device_type", "device_model", "device_id"])
    def test_device(self, column: str) -> None:
        assert only_problem([device(**{column: None})]) == (column, "required")

    def test_document(self) -> None:
        assert only_problem([employee(passport=None)]) == ("passport", "required")

    def test_optional_columns_may_be_empty(self) -> None:
        row = employee(
            patronymic=None, doc_issued_on="", doc_issuer=None, doc_issuer_code="", snils=None
        )
        assert only_problem([row]) is None
        assert only_problem([device(install_address=None)]) is None


class TestSeparateSeriesAndNumber:
    def test_joined(self) -> None:
        clean, problems = run(
            [employee(passport=None, passport_series="45 12", passport_number="345678")]
        )
        assert problems == []
        assert (clean["doc_series"][0], clean["doc_number"][0]) == ("4512", "345678")

    @pytest.mark.parametrize(
        ("series", "number", "expected"),
        [
            ("4512", None, [("passport_number", "required")]),
            (None, "345678", [("passport_series", "required")]),
            (None, None, [("passport_series", "required"), ("passport_number", "required")]),
            ("4512", "34567", [("passport_number", "passport.length")]),
            ("45", "345678", [("passport_series", "passport.length")]),
            ("45x2", "345678", [("passport_series", "passport.format")]),
        ],
    )
    def test_problems(
        self, series: str | None, number: str | None, expected: list[tuple[str, str]]
    ) -> None:
        rows = [
            employee(passport=None, passport_series=series, passport_number=number),
            employee(passport=None, passport_series="4512", passport_number="345678"),
        ]
        _, problems = run(rows)
        assert [(p.column, p.code) for p in problems] == expected
        assert {p.row_no for p in problems} == {2}


class TestAbsentColumns:
    def test_only_required_employee_columns(self) -> None:
        row = {k: EMPLOYEE[k] for k in ("msisdn", "last_name", "first_name", "birth_date")}
        row["passport"] = "4512345678"
        clean, problems = run([row])
        assert problems == []
        assert clean["snils"][0] is None
        assert clean["iccid"][0] is None
        assert clean["patronymic"][0] is None
        assert clean["name_key"][0] == "ИВАНОВ ИВАН"

    def test_only_required_device_columns(self) -> None:
        row = {k: DEVICE[k] for k in ("msisdn", "device_type", "device_model", "device_id")}
        clean, problems = run([row])
        assert problems == []
        assert clean["install_address"][0] is None

    def test_no_columns_at_all(self) -> None:
        frame = pl.DataFrame({"row_no": pl.Series([7], dtype=pl.Int64)})
        _, problems = validate_batch(frame, today=TODAY)
        assert codes(problems) == [(7, "row", "row.kind_unknown"), (7, "msisdn", "required")]

    def test_unknown_extra_columns_are_ignored(self) -> None:
        frame = frame_of([employee()]).with_columns(pl.lit("x").alias("comment"))
        clean, problems = validate_batch(frame, today=TODAY)
        assert problems == []
        assert clean.columns == list(CLEAN_SCHEMA)


class TestFiveProblems:
    def test_every_problem_of_a_row_is_reported(self) -> None:
        row = employee(
            msisdn="+7 495 123-45-67",
            first_name="John",
            birth_date="31.02.1990",
            passport="45 12 34567",
            snils="112-233-445 96",
        )
        _, problems = run([row, employee()])
        assert codes(problems) == [
            (2, "msisdn", "phone.not_russian_mobile"),
            (2, "first_name", "name.not_cyrillic"),
            (2, "birth_date", "date.invalid"),
            (2, "passport", "passport.length"),
            (2, "snils", "snils.checksum"),
        ]
        assert all(words(p) and words(p, "en") for p in problems)


class TestPhones:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("8 (912) 345-67-89", "+79123456789"),
            ("+7 912 345 67 89", "+79123456789"),
            ("79123456789", "+79123456789"),
            ("9123456789", "+79123456789"),
            ("+7 495 123-45-67", "phone.not_russian_mobile"),
            ("+44 20 7946 0958", "phone.not_russian_mobile"),
            ("+7 912 FLOWERS", "phone.invalid"),
            ("12345", "phone.invalid"),
        ],
    )
    def test_table(self, value: str, expected: str) -> None:
        clean, problems = run([device(msisdn=value)])
        if expected.startswith("+"):
            assert clean["msisdn"].to_list() == [expected]
        else:
            assert codes(problems) == [(2, "msisdn", expected)]

    @pytest.mark.parametrize(
        ("value", "variant", "shown", "russian", "english"),
        [
            ("+7 495 123-45-67", "landline", "+74951234567", "городской номер", "landline"),
            ("+44 20 7946 0958", "foreign", "+442079460958", "не российский", "not a Russian"),
            ("abc", None, "abc", "не номер телефона", "not a phone number"),
            ("+7 701 123 45 67", "foreign", "+77011234567", "не российский", "not a Russian"),
        ],
    )
    def test_values_and_words(
        self, value: str, variant: str | None, shown: str, russian: str, english: str
    ) -> None:
        _, (problem,) = run([device(msisdn=value)])
        assert problem.values == (
            {"value": shown, "variant": variant} if variant else {"value": shown}
        )
        assert russian in words(problem, header="Моб. телефон")
        assert "«Моб. телефон»" in words(problem, header="Моб. телефон")
        assert english in words(problem, "en")
        assert "«Телефон»" in words(problem)  # the catalog's name when the header is not known

    def test_extension_is_dropped(self) -> None:
        clean, problems = run([device(msisdn="+7 913 992\u201355\u201370 доб. 123")])
        assert not problems
        assert clean["msisdn"].to_list() == ["+79139925570"]

    def test_prefix_table_reads_the_metadata(self) -> None:
        depths = _prefix_depths()
        assert depths["930"] == 6  # 930 00x numbers split mobile from non-mobile
        assert depths["912"] == 3
        assert max(depths.values()) < 10

    @PROPERTY
    @given(st.lists(st.one_of(phone_spellings(), junk), min_size=1, max_size=25))
    def test_agrees_with_normalize_msisdn(self, values: list[str]) -> None:
        values = [v for v in values if clean_cell(v)]
        if values:
            expected = [scalar(normalize_msisdn, v) for v in values]
            compare([device(msisdn=v) for v in values], "msisdn", expected, "msisdn")


class TestDates:
    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("31.02.1990", "date.invalid"),
            ("29.02.1991", "date.invalid"),
            ("1990/01/01", "date.format"),
            ("01.01.90", "date.format"),
            ("first of May", "date.format"),
            ("01.01.2030", "birth_date.future"),
            ("02.06.2011", "birth_date.too_young"),
            ("31.05.1904", "birth_date.too_old"),
        ],
    )
    def test_birth_date_table(self, value: str, code: str) -> None:
        assert only_problem([employee(birth_date=value, doc_issued_on=None)]) == (
            "birth_date",
            code,
        )

    @pytest.mark.parametrize("value", ["01.06.2011", "1905-06-01", "29.02.2000", "1990-1-2"])
    def test_bounds_are_inclusive(self, value: str) -> None:
        assert only_problem([employee(birth_date=value, doc_issued_on=None)]) is None

    def test_age_limits_are_parameters(self) -> None:
        _, problems = run([employee(birth_date="01.01.2005")], min_age=21)
        assert codes(problems) == [(2, "birth_date", "birth_date.too_young")]
        assert problems[0].values == {"min_age": 21}
        assert "21" in words(problems[0])
        assert "at least 21" in words(problems[0], "en")

    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("02.06.2025", "date.future"),
            ("31.01.1990", "date.before_birth"),
            ("31.04.2010", "date.invalid"),
            ("2010.04.01", "date.format"),
        ],
    )
    def test_issue_date(self, value: str, code: str) -> None:
        assert only_problem([employee(doc_issued_on=value)]) == ("doc_issued_on", code)

    @PROPERTY
    @given(st.lists(date_spellings(), min_size=1, max_size=25))
    def test_birth_date_agrees_with_scalar(self, values: list[str]) -> None:
        def check(value: str) -> date:
            return validate_birth_date(parse_date(value), today=TODAY)

        expected = [scalar(check, v) for v in values]
        rows = [employee(birth_date=v, doc_issued_on=None) for v in values]
        compare(rows, "birth_date", expected, "birth_date")

    @PROPERTY
    @given(st.lists(st.one_of(date_spellings(), junk), min_size=1, max_size=25))
    def test_issue_date_parse_agrees_with_parse_date(self, values: list[str]) -> None:
        values = [v for v in values if clean_cell(v)]
        birth = date(1880, 1, 1)

        def check(value: str) -> date:
            parsed = parse_date(value)
            if parsed > TODAY:
                raise InvalidIdentifier("date.future")
            return parsed

        expected = [scalar(check, v) for v in values]
        rows = [
            employee(birth_date="01.01.1900", doc_issued_on=v)
            for v in values  # birth 1900 is older than 120 on TODAY: use a looser limit
        ]
        clean, problems = run(rows, max_age=200)
        by_row = {p.row_no: p.code for p in problems}
        for row_no, (value, code) in enumerate(expected, start=2):
            if code is None and value < date(1900, 1, 1):
                code = "date.before_birth"
            assert by_row.get(row_no) == code, values[row_no - 2]
        assert birth < date(1900, 1, 1)
        assert set(clean["doc_issued_on"]) <= {v for v, c in expected if c is None}


class TestPassports:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("45 12 345678", ("4512", "345678")),
            ("4512345678", ("4512", "345678")),
            ("4512 345678", ("4512", "345678")),
            ("45 12 № 345678", ("4512", "345678")),
            ("45 12 34567", "passport.length"),
            ("45 12 34567O", "passport.format"),
        ],
    )
    def test_table(self, value: str, expected: tuple[str, str] | str) -> None:
        clean, problems = run([employee(passport=value)])
        if isinstance(expected, tuple):
            assert (clean["doc_series"][0], clean["doc_number"][0]) == expected
        else:
            assert codes(problems) == [(2, "passport", expected)]

    @PROPERTY
    @given(st.lists(st.one_of(passport_spellings(), junk), min_size=1, max_size=25))
    def test_agrees_with_normalize_passport_ru(self, values: list[str]) -> None:
        values = [v for v in values if clean_cell(v)]
        if not values:
            return
        expected = [scalar(normalize_passport_ru, v) for v in values]
        clean, problems = run([employee(passport=v) for v in values])
        by_row = {p.row_no: p.code for p in problems}
        got = {r["row_no"]: (r["doc_series"], r["doc_number"]) for r in clean.to_dicts()}
        for row_no, (value, code) in enumerate(expected, start=2):
            assert by_row.get(row_no) == code
            if code is None:
                assert got[row_no] == value

    @pytest.mark.parametrize(
        ("doc_type", "value", "expected"),
        [
            ("Иностранный паспорт", "ab 123 4567", ("foreign_passport", "AB1234567")),
            ("ВНЖ", "82 №1234567", None),
            ("residence_permit", "821234567", ("residence_permit", "821234567")),
            ("foreign passport", "X1", "document.invalid"),
            ("водительское", "4512345678", "doc_type.unknown"),
            ("паспорт РФ", "4512345678", ("ru_passport", "4512345678")),
        ],
    )
    def test_document_types(
        self, doc_type: str, value: str, expected: tuple[str, str] | str | None
    ) -> None:
        clean, problems = run([employee(doc_type=doc_type, passport=value, last_name="Smith")])
        if isinstance(expected, tuple):
            if expected[0] == "ru_passport":
                assert codes(problems) == [(2, "last_name", "name.not_cyrillic")]
                return
            assert problems == []
            row = clean.row(0, named=True)
            assert (row["doc_type"], row["doc_series"], row["doc_number"]) == (
                expected[0],
                "",
                expected[1],
            )
        elif expected is None:
            assert [p.code for p in problems] == ["document.invalid"]
        else:
            assert [p.code for p in problems] == [expected]

    def test_foreign_document_number_alone(self) -> None:
        row = employee(doc_type="ВНЖ", passport=None, passport_number="82 1234567")
        clean, problems = run([row])
        assert problems == []
        assert clean["doc_number"][0] == "821234567"


class TestSnilsIssuerCodeIccid:
    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("112-233-445 95", None),
            ("112-233-445 96", "snils.checksum"),
            ("112-233-445", "snils.length"),
            ("112-233-445 9O", "snils.format"),
        ],
    )
    def test_snils_table(self, value: str, code: str | None) -> None:
        assert only_problem([employee(snils=value)]) == (("snils", code) if code else None)

    @PROPERTY
    @given(st.lists(snils_spellings(), min_size=1, max_size=25))
    def test_snils_agrees_with_normalize_snils(self, values: list[str]) -> None:
        expected = [scalar(normalize_snils, v) for v in values]
        compare([employee(snils=v) for v in values], "snils", expected, "snils")

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("770-001", "770-001"),
            ("770001", "770-001"),
            ("77-0001", "770-001"),
            ("770-01", "issuer_code.length"),
            ("770 00l", "issuer_code.format"),
        ],
    )
    def test_issuer_code(self, value: str, expected: str) -> None:
        assert scalar(normalize_issuer_code, value) in ((expected, None), (None, expected))
        clean, problems = run([employee(doc_issuer_code=value)])
        if "-" in expected:
            assert clean["doc_issuer_code"][0] == expected
        else:
            assert codes(problems) == [(2, "doc_issuer_code", expected)]

    @PROPERTY
    @given(st.lists(iccid_spellings(), min_size=1, max_size=25))
    def test_iccid_agrees_with_normalize_iccid(self, values: list[str]) -> None:
        expected = [scalar(normalize_iccid, v) for v in values]
        compare([device(iccid=v) for v in values], "iccid", expected, "iccid")


class TestDevices:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("49-015420-323751-8", ("490154203237518", "imei")),
            ("490154203237519", "imei.checksum"),
            ("00:1a:2b:3c:4d:5e", ("00:1A:2B:3C:4D:5E", "mac")),
            ("001A.2B3C.4D5E", ("00:1A:2B:3C:4D:5E", "mac")),
            ("00:1A:2B:3C:4D:5G", "mac.format"),
            ("sn 12-ab", ("SN 12-AB", "serial")),
        ],
    )
    def test_identifier_table(self, value: str, expected: tuple[str, str] | str) -> None:
        clean, problems = run([device(device_id=value)])
        if isinstance(expected, tuple):
            assert (clean["device_id"][0], clean["device_id_kind"][0]) == expected
        else:
            assert codes(problems) == [(2, "device_id", expected)]

    @PROPERTY
    @given(st.lists(device_ids(), min_size=1, max_size=25))
    def test_identifier_agrees_with_check_device(self, values: list[str]) -> None:
        rows = [device(device_id=v) for v in values]
        clean, problems = run(rows)
        by_row = {p.row_no: p for p in problems}
        got = {r["row_no"]: (r["device_id"], r["device_id_kind"]) for r in clean.to_dicts()}
        for row_no, value in enumerate(values, start=2):
            data = DeviceIn.model_construct(
                kind="device", device_type=DeviceType.OTHER, model="m", identifier=value
            )
            expected, found = check_device(data)
            if expected is None:
                assert by_row[row_no].code == found[0].code, value
            else:
                assert got[row_no] == (expected.identifier, expected.identifier_kind), value

    @pytest.mark.parametrize(
        ("value", "canonical"),
        [("Банкомат", "atm"), ("POS-терминал", "payment_terminal"), ("Счётчик", "meter")],
    )
    def test_device_type(self, value: str, canonical: str) -> None:
        clean, _ = run([device(device_type=value)])
        assert clean["device_type"][0] == canonical

    def test_unknown_device_type_lists_accepted_values(self) -> None:
        _, problems = run([device(device_type="холодильник")])
        assert codes(problems) == [(2, "device_type", "device_type.unknown")]
        assert problems[0].values == {"value": "холодильник"}
        assert "терминал" in words(problems[0])
        assert "payment_terminal" in words(problems[0], "en")


class TestNames:
    @pytest.mark.parametrize(
        ("value", "ok"),
        [
            ("Петров-Водкин", True),
            ("Фёдоров", True),
            ("Иванoв", True),  # a Latin o inside a Cyrillic word
            ("Smith", False),
            ("Иван 2", False),
            ("Д'Артаньян", True),
        ],
    )
    def test_cyrillic(self, value: str, ok: bool) -> None:
        expected = None if ok else ("last_name", "name.not_cyrillic")
        assert only_problem([employee(last_name=value)]) == expected

    def test_foreign_documents_allow_latin_names(self) -> None:
        row = employee(doc_type="foreign_passport", passport="AB1234567", first_name="John")
        assert only_problem([row]) is None

    @PROPERTY
    @given(st.lists(st.tuples(names, names, st.one_of(st.none(), names)), min_size=1, max_size=20))
    def test_agrees_with_app_core_names(self, parts: list[tuple[str, str, str | None]]) -> None:
        parts = [(a, b, c) for a, b, c in parts if a.strip() and b.strip()]
        if not parts:
            return
        rows = [employee(last_name=a, first_name=b, patronymic=c) for a, b, c in parts]
        clean, problems = run(rows)
        flagged = {(p.row_no, p.column) for p in problems}
        assert {p.code for p in problems} <= {"name.not_cyrillic"}
        keys = dict(zip(clean["row_no"], clean["name_key"], strict=True))
        for row_no, (last, first, patronymic) in enumerate(parts, start=2):
            for column, value in (
                ("last_name", last),
                ("first_name", first),
                ("patronymic", patronymic),
            ):
                bad = bool(value and value.strip()) and not is_cyrillic_name(value or "")
                assert ((row_no, column) in flagged) == bad, (column, value)
            if row_no in keys:
                assert keys[row_no] == normalize_full_name(last, first, patronymic)
                row = clean.filter(pl.col("row_no") == row_no).row(0, named=True)
                assert keys[row_no] == normalize_full_name(
                    row["last_name"], row["first_name"], row["patronymic"]
                )


_SCALAR_OF: dict[str, Callable[[str], Any]] = {
    "msisdn": normalize_msisdn,
    "passport": normalize_passport_ru,
    "birth_date": parse_date,
    "snils": normalize_snils,
    "doc_issuer_code": normalize_issuer_code,
    "iccid": normalize_iccid,
    "device_id": normalize_device_id,
}
_OUTPUT_OF = {
    "passport": ("doc_series", "doc_number"),
    "device_id": ("device_id", "device_id_kind"),
}
_VALID_ICCID = "8970100123456789010"


class TestWhatExportsWrite:
    """Values real HR exports contain: each read as the scalar validator reads it."""

    @pytest.mark.parametrize(
        ("column", "value", "expected"),
        [
            ("passport", "4506 N 123456", ("4506", "123456")),
            ("passport", "45 06 No 123456", ("4506", "123456")),
            ("passport", "серия 4506 номер 123456", ("4506", "123456")),
            ("passport", "4506/123456", ("4506", "123456")),
            ("passport", "4506\u2013123456", ("4506", "123456")),
            ("passport", "312345678", ("0312", "345678")),
            ("passport", "3 12 345678", "passport.length"),
            ("passport", "4506 # 123456", "passport.format"),
            ("birth_date", "31.12.1990 0:00:00", date(1990, 12, 31)),
            ("birth_date", "1990-12-31 00:00:00", date(1990, 12, 31)),
            ("birth_date", "31.12.1990 г.", date(1990, 12, 31)),
            ("birth_date", "31/12/1990", date(1990, 12, 31)),
            ("birth_date", "05/06/1990", "date.ambiguous"),
            ("birth_date", "31.12.1990 13:45", "date.format"),
            ("msisdn", "+7 913 992\u201355\u201370", "+79139925570"),
            ("msisdn", "8 913 992-55-70 доб. 123", "+79139925570"),
            ("msisdn", "\ufeff+7 913 992 55 70", "+79139925570"),
            ("msisdn", "доб. 123", "phone.invalid"),
            ("snils", "465\u2013959\u2013583\u201366", "46595958366"),
            ("snils", "001-001-998 00", "00100199800"),
            ("snils", "001-001-999 00", "snils.checksum"),
            ("doc_issuer_code", "770\u2013001", "770-001"),
            ("doc_issuer_code", "770\u200b-001", "770-001"),
            ("iccid", "\u200b" + _VALID_ICCID, _VALID_ICCID),
            ("iccid", "0" + _VALID_ICCID, "iccid.prefix"),
            ("device_id", "123", "device_id.too_short"),
            ("device_id", "SN-12", "device_id.too_short"),
            ("device_id", "SN-123", ("SN-123", "serial")),
        ],
    )
    def test_read_as_the_scalar_reads_it(self, column: str, value: str, expected: Any) -> None:
        make = device if column in ("device_id",) else employee
        changes: dict[str, str | None] = {column: value}
        if column == "birth_date":
            changes["doc_issued_on"] = None
        clean, problems = run([make(**changes)])
        normal, code = scalar(_SCALAR_OF[column], value)
        if isinstance(expected, str) and expected[:1].isalpha():
            assert codes(problems) == [(2, column, expected)]
            assert code == expected
            return
        assert not problems, problems
        output = _OUTPUT_OF.get(column, (column,))
        got = tuple(clean[name][0] for name in output)
        assert got == (expected if isinstance(expected, tuple) else (expected,))
        assert normal == expected

    def test_typographic_and_typed_apostrophes_make_the_same_name(self) -> None:
        clean, problems = run(
            [employee(last_name="Д\u2019Артаньян"), employee(last_name="Д'Артаньян")]
        )
        assert not problems
        assert clean["name_key"][0] == clean["name_key"][1]

    def test_a_device_identifier_too_short_says_what_one_looks_like(self) -> None:
        _, (problem,) = run([device(device_id="123")])
        assert problem.values == {"value": "123", "least": 5}
        russian = words(problem, header="Серийный номер")
        assert "«123»" in russian
        assert "«Серийный номер»" in russian
        assert "IMEI" in russian
        assert "MAC-адрес" in russian
        assert "serial number" in words(problem, "en")


class TestStoredProblems:
    def test_a_problem_is_stored_as_column_code_and_values(self) -> None:
        _, problems = run([employee(msisdn="abc", snils="112-233-445 96")])
        stored = [p.as_problem() for p in problems]
        assert stored == [
            {"column": "msisdn", "code": "phone.invalid", "values": {"value": "abc"}},
            {"column": "snils", "code": "snils.checksum", "values": {}},
        ]

    def test_worded_in_russian_by_default_and_english_on_request(self) -> None:
        _, (problem,) = run([employee(passport="45 12 34567")])
        assert words(problem, header="Серия и номер") == (
            "В серии и номере паспорта (столбец «Серия и номер») должно быть 10 цифр: серия из 4 "
            "цифр и номер из 6, например 45 12 345678; проверьте, не пропущена ли цифра и нет ли "
            "лишней."
        )
        assert words(problem, "en", header="Passport").startswith(
            'The passport series and number (column "Passport") have 10 digits'
        )


class TestPersonalDataInMessages:
    def test_messages_do_not_echo_passport_snils_or_birth_date(self) -> None:
        rows = [
            employee(passport="77 03 98761", birth_date="31.02.1990", snils="112-233-445 96"),
            employee(passport="7703 9876123", birth_date="1990/02/01", snils="112-233-44"),
            employee(passport="7703x987612", birth_date="01.02.2024"),
            employee(passport=None, passport_series="7703", passport_number="98761"),
            employee(birth_date="15.03.2011", doc_issued_on="14.03.2011"),
        ]
        _, problems = run(rows)
        assert len(problems) >= 10
        secrets = [
            "7703",
            "98761",
            "31.02.1990",
            "1990/02/01",
            "01.02.2024",
            "2024",
            "112-233",
            "11223344",
            "2011",
        ]
        for problem in problems:
            stored = repr(problem.values)
            for secret in secrets:
                assert secret not in stored, (problem, secret)
                for language in ("ru", "en"):
                    assert secret not in words(problem, language), (problem, secret)


# --- Volume ---------------------------------------------------------------------------------

LAST = ["Иванов", "Петров", "Сидоров", "Кузнецов", "Смирнов", "Попов", "Фёдоров", "Орлов"]
FIRST = ["Иван", "Пётр", "Анна", "Мария", "Алексей", "Ольга", "Сергей", "Наталья"]
PATRONYMIC = ["Иванович", "Петрович", "Сергеевна", "Алексеевна", None]
BAD_KINDS = ("phone", "snils", "birth", "passport", "imei", "device_type")


def generate_batch(size: int, *, seed: int = 7, bad_share: float = 0.02) -> pl.DataFrame:
    """A batch like a real upload: 90% employees, 10% devices, ``bad_share`` rows with one
    problem each (their kind is in the ``expect`` column, which validation ignores)."""
    rng = random.Random(seed)
    snils_pool = []
    for _ in range(500):
        first9 = f"{rng.randrange(10**9):09d}"
        snils_pool.append(f"{first9[:3]}-{first9[3:6]}-{first9[6:]} {snils_check(first9)}")
    imei_pool = []
    for _ in range(500):
        body = f"35{rng.randrange(10**12):012d}"
        imei_pool.append(body + luhn_digit(body))
    columns: dict[str, list[str | None]] = {c.value: [] for c in Column}
    expect: list[str | None] = []
    start = date(1960, 1, 1)
    for i in range(size):
        # Operator codes whose every number is mobile (930 00x is not).
        national = rng.choice(["912", "916", "926", "903", "985", "999"])
        national += f"{rng.randrange(10**7):07d}"
        spelling = i % 3
        phone = (
            f"+7 {national[:3]} {national[3:6]}-{national[6:8]}-{national[8:]}"
            if spelling == 0
            else (f"8{national}" if spelling == 1 else national)
        )
        row: dict[str, str | None] = dict.fromkeys(columns)
        row["msisdn"] = phone
        if i % 10 != 9:
            born = start + timedelta(days=rng.randrange(15_000))
            row.update(
                last_name=rng.choice(LAST),
                first_name=rng.choice(FIRST),
                patronymic=rng.choice(PATRONYMIC),
                birth_date=born.strftime("%d.%m.%Y"),
                passport=f"{rng.randrange(10**4):04d} {rng.randrange(10**6):06d}",
                doc_issued_on=(born + timedelta(days=7000)).isoformat(),
                doc_issuer_code=f"{rng.randrange(1000):03d}-{rng.randrange(1000):03d}",
                snils=rng.choice(snils_pool),
            )
        else:
            row.update(
                device_type=rng.choice(["терминал", "Касса", "modem", "Счётчик"]),
                device_model="Model X",
                device_id=rng.choice(imei_pool),
                install_address="Москва",
            )
        problem = None
        if rng.random() < bad_share:
            problem = BAD_KINDS[i % 10 // 3] if i % 10 != 9 else rng.choice(BAD_KINDS[4:])
            if problem == "phone":
                row["msisdn"] = "+7 495 123-45-67"
            elif problem == "snils":
                row["snils"] = "112-233-445 96"
            elif problem == "birth":
                row["birth_date"] = "31.02.1990"
            elif problem == "imei":
                row["device_id"] = "490154203237519"
            else:
                row["device_type"] = "холодильник"
        for name, value in row.items():
            columns[name].append(value)
        expect.append(problem)
    return pl.DataFrame(
        {"row_no": pl.Series(range(2, size + 2), dtype=pl.Int64), **columns, "expect": expect},
        schema_overrides=dict.fromkeys(columns, pl.String),
    )


class TestVolume:
    def test_hundred_thousand_rows(self) -> None:
        batch = generate_batch(100_000)
        expected_bad = batch.filter(pl.col("expect").is_not_null())
        clean, problems = validate_batch(batch, today=TODAY)
        assert len(problems) == expected_bad.height > 1000
        assert {p.row_no for p in problems} == set(expected_bad["row_no"])
        assert clean.height == batch.height - expected_bad.height
        assert clean.columns == list(CLEAN_SCHEMA)
        assert clean.filter(pl.col("kind") == "device").height == pytest.approx(10_000, rel=0.05)
        assert clean["msisdn"].null_count() == 0
        assert clean["name_key"].null_count() == clean.filter(pl.col("kind") == "device").height
        assert clean["row_no"].is_sorted()
