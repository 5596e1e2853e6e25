"""Dates of an employee: birth (an age the law admits) and the document's issue.

Dates are parsed by polars exactly as :func:`app.core.identifiers.parse_date` parses one
(``ДД.ММ.ГГГГ``, ``ДД/ММ/ГГГГ`` or ``ГГГГ-ММ-ДД``, perhaps with ``г.`` or a midnight time; a
real calendar day), in three steps.
"""

from __future__ import annotations

import itertools
from datetime import date

import polars as pl

from app.core.identifiers import DATE_TAIL
from app.uploads.checking.checks import NO_PROBLEM, REQUIRED, WS, Check, Derived, Rules
from app.uploads.checking.kinds import IS_EMPLOYEE
from app.uploads.reading.columns import Column

__all__ = ["derived", "rules"]

_DATES = (Column.BIRTH_DATE, Column.DOC_ISSUED_ON)


def derived() -> Derived:
    """``{date}__date`` (Date) and ``{date}__err`` (parse_date's code) of both dates."""
    return Derived(
        steps=(
            list(itertools.chain.from_iterable(_date_groups(c) for c in _DATES)),
            list(itertools.chain.from_iterable(_date_numbers(c) for c in _DATES)),
            list(itertools.chain.from_iterable(_date_values(c) for c in _DATES)),
        ),
        scratch=tuple(
            f"{c.value}__{part}"
            for c in _DATES
            for part in ("dmy", "iso", "year", "month", "day", "ambiguous")
        ),
    )


# parse_date's tail (`г.`, a midnight time), with Python's white space spelled out.
_TAIL = DATE_TAIL.replace(r"\s", f"[{WS}]")


def _date_groups(name: str) -> list[pl.Expr]:
    """Step 1 of parse_date: the day-first and ISO spellings' groups, as structs (the regex
    engine behind polars has no back-references: step 2 checks that both separators agree)."""
    cell = pl.col(name)
    return [
        cell.str.extract_groups(
            rf"^([0-9]{{1,2}})([./])([0-9]{{1,2}})([./])([0-9]+){_TAIL}$"
        ).alias(f"{name}__dmy"),
        cell.str.extract_groups(rf"^([0-9]+)-([0-9]{{1,2}})-([0-9]{{1,2}}){_TAIL}$").alias(
            f"{name}__iso"
        ),
    ]


def _date_numbers(name: str) -> list[pl.Expr]:
    """Step 2: year text, month and day; with slashes the day comes first unless only month
    first can be meant, and two numbers that could both be the month are ambiguous."""
    dmy, iso = pl.col(f"{name}__dmy").struct, pl.col(f"{name}__iso").struct
    same = dmy.field("2") == dmy.field("4")
    slashed = same & (dmy.field("2") == "/")
    first = pl.when(same).then(dmy.field("1").cast(pl.Int32))
    second = pl.when(same).then(dmy.field("3").cast(pl.Int32))
    month_first = slashed & (second > 12) & (first <= 12)
    return [
        pl.coalesce(pl.when(same).then(dmy.field("5")), iso.field("1")).alias(f"{name}__year"),
        pl.coalesce(
            pl.when(month_first).then(first).otherwise(second), iso.field("2").cast(pl.Int32)
        ).alias(f"{name}__month"),
        pl.coalesce(
            pl.when(month_first).then(second).otherwise(first), iso.field("3").cast(pl.Int32)
        ).alias(f"{name}__day"),
        (slashed & (first != second) & (first <= 12) & (second <= 12))
        .fill_null(False)
        .alias(f"{name}__ambiguous"),
    ]


def _date_values(name: str) -> list[pl.Expr]:
    """Step 3: ``{name}__date`` (Date) and ``{name}__err`` (parse_date's code)."""
    year_text = pl.col(f"{name}__year")
    month, day = pl.col(f"{name}__month"), pl.col(f"{name}__day")
    year = pl.when(year_text.str.len_bytes() == 4).then(year_text).cast(pl.Int32)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = (
        pl.when(month == 2)
        .then(28 + leap.cast(pl.Int32))
        .when(month.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )
    calendar = ((year >= 1) & month.is_between(1, 12) & day.is_between(1, month_days)).fill_null(
        False
    )
    error = (
        pl.when(pl.col(name).is_null())
        .then(pl.lit(None, pl.String))
        .when(year_text.is_null())
        .then(pl.lit("date.format"))
        .when(pl.col(f"{name}__ambiguous"))
        .then(pl.lit("date.ambiguous"))
        .when(year_text.str.len_bytes() != 4)
        .then(pl.lit("date.format"))
        .when(~calendar)
        .then(pl.lit("date.invalid"))
        .otherwise(pl.lit(None, pl.String))
    )
    parsed = pl.date(
        pl.when(calendar).then(year), pl.when(calendar).then(month), pl.when(calendar).then(day)
    )
    return [parsed.alias(f"{name}__date"), error.alias(f"{name}__err")]


def rules(*, today: date, min_age: int, max_age: int) -> Rules:
    """An employee's birth date gives an age from ``min_age`` to ``max_age``; the document
    was issued neither in the future nor before the birth."""
    birth_code = pl.col("c_birth")
    return Rules(
        [
            Check(
                Column.BIRTH_DATE,
                "c_birth",
                verdict=_birth_code(today=today, min_age=min_age, max_age=max_age),
                values={
                    "min_age": pl.when(birth_code == "birth_date.too_young").then(min_age),
                    "max_age": pl.when(birth_code == "birth_date.too_old").then(max_age),
                },
            ),
            Check(Column.DOC_ISSUED_ON, "c_issued", verdict=_issued_code(today=today)),
        ]
    )


def _birth_code(*, today: date, min_age: int, max_age: int) -> pl.Expr:
    birth = pl.col(f"{Column.BIRTH_DATE}__date")
    had_birthday = (birth.dt.month() < today.month) | (
        (birth.dt.month() == today.month) & (birth.dt.day() <= today.day)
    )
    age = today.year - birth.dt.year() - (~had_birthday).cast(pl.Int32)
    return (
        pl.when(~IS_EMPLOYEE)
        .then(NO_PROBLEM)
        .when(pl.col(Column.BIRTH_DATE).is_null())
        .then(REQUIRED)
        .when(pl.col(f"{Column.BIRTH_DATE}__err").is_not_null())
        .then(pl.col(f"{Column.BIRTH_DATE}__err"))
        .when(birth > today)
        .then(pl.lit("birth_date.future"))
        .when(age < min_age)
        .then(pl.lit("birth_date.too_young"))
        .when(age > max_age)
        .then(pl.lit("birth_date.too_old"))
        .otherwise(NO_PROBLEM)
    )


def _issued_code(*, today: date) -> pl.Expr:
    birth = pl.col(f"{Column.BIRTH_DATE}__date")
    issued = pl.col(f"{Column.DOC_ISSUED_ON}__date")
    return (
        pl.when(~IS_EMPLOYEE)
        .then(NO_PROBLEM)
        .when(pl.col(f"{Column.DOC_ISSUED_ON}__err").is_not_null())
        .then(pl.col(f"{Column.DOC_ISSUED_ON}__err"))
        .when(issued > today)
        .then(pl.lit("date.future"))
        .when(issued < birth)
        .then(pl.lit("date.before_birth"))
        .otherwise(NO_PROBLEM)
    )
