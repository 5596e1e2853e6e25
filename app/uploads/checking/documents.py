"""An employee's documents: the identity document (type, series and number), its issue, SNILS.

A Russian passport is written in one cell or as series and number in two; a foreign passport
or residence permit has a number of 5 to 20 letters or digits (check_employee's rule).
"""

from __future__ import annotations

import polars as pl

from app.core.identifiers import PASSPORT_NOISE
from app.uploads.checking.checks import (
    NO_PROBLEM,
    REQUIRED,
    WS,
    Check,
    Derived,
    Rules,
    compact,
    map_distinct,
)
from app.uploads.checking.digits import digits_verdict, snils_ok, snils_total
from app.uploads.checking.kinds import IS_EMPLOYEE
from app.uploads.reading.columns import DOC_TYPES, Column, header_key

__all__ = [
    "HAS_RUSSIAN_PASSPORT",
    "derived",
    "doc_type_column",
    "lookups",
    "read_documents",
    "rules",
]

_RU_PASSPORT = "ru_passport"
HAS_RUSSIAN_PASSPORT = pl.col("doc__type") == _RU_PASSPORT
_FOREIGN = pl.col("doc__type").is_not_null() & ~HAS_RUSSIAN_PASSPORT

# Keyed through header_key as the row kinds are (see kinds._ROW_KINDS).
_DOC_KINDS = {header_key(key): value for key, value in DOC_TYPES.items()}


def _doc_type(value: str) -> str | None:
    return _DOC_KINDS.get(header_key(value))


def _foreign_doc(value: str) -> str | None:
    # check_employee's rule for documents other than a Russian passport.
    number = "".join(value.split()).upper()
    return number if 5 <= len(number) <= 20 and number.isalnum() else None


def derived() -> Derived:
    """SNILS and the issuer code without separators, and the SNILS weighted sum."""
    return Derived(
        steps=(
            [
                compact(Column.SNILS, "-").alias("snils__c"),
                compact(Column.DOC_ISSUER_CODE, "-").alias("issuer__c"),
            ],
            [snils_total("snils__c")],
            [],
        )
    )


def lookups(work: pl.DataFrame) -> list[pl.Expr]:
    """``doc_type__canon``: the document type a cell names, looked up once per spelling."""
    return [map_distinct(work[Column.DOC_TYPE], _doc_type, pl.String()).alias("doc_type__canon")]


def doc_type_column() -> pl.Expr:
    """``doc__type``: the document type named, a Russian passport when the cell is empty."""
    return pl.coalesce(
        pl.when(pl.col(Column.DOC_TYPE).is_null()).then(pl.lit(_RU_PASSPORT)),
        pl.col("doc_type__canon"),
    ).alias("doc__type")


def read_documents(work: pl.DataFrame) -> pl.DataFrame:
    """The document number as written (``doc__raw``), compact, as a foreign number, and its
    code; needs ``kind`` and ``doc__type``."""
    # Document: one cell, or series and number in two.
    passport, series, number = (
        pl.col(Column.PASSPORT),
        pl.col(Column.PASSPORT_SERIES),
        pl.col(Column.PASSPORT_NUMBER),
    )
    doc_raw = (
        pl.when(passport.is_not_null())
        .then(passport)
        .when(series.is_not_null() & number.is_not_null())
        .then(series + pl.lit(" ") + number)
        .when(_FOREIGN & number.is_not_null())
        .then(number)
        .otherwise(NO_PROBLEM)
    )
    work = work.with_columns(doc_raw.alias("doc__raw"))
    work = work.with_columns(
        _passport_digits(pl.col("doc__raw")).alias("doc__compact"),
        map_distinct(
            work.filter(pl.col("doc__type").is_in(["foreign_passport", "residence_permit"]))[
                "doc__raw"
            ],
            _foreign_doc,
            pl.String(),
        ).alias("doc__foreign"),
    )
    return work.with_columns(
        _document_code().alias("doc__code"),
        (~_passport_digits(series).str.contains(r"^[0-9]{4}$")).alias("doc__series_bad"),
    )


def _passport_digits(cell: pl.Expr) -> pl.Expr:
    """A passport cell as normalize_passport_ru reads it: no white space, no words or signs
    between series and number; nine bare digits are a series whose leading 0 Excel dropped."""
    digits = cell.str.replace_all(f"[{WS}]", "").str.replace_all(PASSPORT_NOISE, "")
    return pl.when(cell.str.contains(r"^[0-9]{9}$")).then(pl.lit("0") + digits).otherwise(digits)


def _document_code() -> pl.Expr:
    doc_compact = pl.col("doc__compact")
    ru_code = (
        pl.when(~doc_compact.str.contains(r"^[0-9]*$"))
        .then(pl.lit("passport.format"))
        .when(doc_compact.str.len_bytes() != 10)
        .then(pl.lit("passport.length"))
        .otherwise(NO_PROBLEM)
    )
    return (
        pl.when(~IS_EMPLOYEE | pl.col("doc__raw").is_null())
        .then(NO_PROBLEM)
        .when(HAS_RUSSIAN_PASSPORT)
        .then(ru_code)
        .when(_FOREIGN & pl.col("doc__foreign").is_null())
        .then(pl.lit("document.invalid"))
        .otherwise(NO_PROBLEM)
    )


def _passport_checks(*, has_split: bool) -> list[Check]:
    """The document number's code, and a missing one, on the column(s) the upload has."""
    passport, series, number = (
        pl.col(Column.PASSPORT),
        pl.col(Column.PASSPORT_SERIES),
        pl.col(Column.PASSPORT_NUMBER),
    )
    doc_code = pl.col("doc__code")
    split_series_bad = pl.col("doc__series_bad")
    doc_missing = IS_EMPLOYEE & pl.col("doc__raw").is_null()
    passport_code = (
        pl.when(passport.is_not_null())
        .then(doc_code)
        .when(doc_missing & pl.lit(not has_split))
        .then(REQUIRED)
        .otherwise(NO_PROBLEM)
    )
    series_code = (
        pl.when(passport.is_not_null())
        .then(NO_PROBLEM)
        .when(doc_missing & series.is_null() & (HAS_RUSSIAN_PASSPORT | number.is_null()))
        .then(REQUIRED if has_split else NO_PROBLEM)
        .when(split_series_bad.fill_null(False))
        .then(doc_code)
    )
    number_code = (
        pl.when(passport.is_not_null())
        .then(NO_PROBLEM)
        .when(doc_missing & number.is_null())
        .then(REQUIRED if has_split else NO_PROBLEM)
        .when(~split_series_bad.fill_null(True) | series.is_null())
        .then(doc_code)
    )
    return [
        Check(column, code, verdict=verdict)
        for column, code, verdict in (
            (Column.PASSPORT, "c_passport", passport_code),
            (Column.PASSPORT_SERIES, "c_series", series_code),
            (Column.PASSPORT_NUMBER, "c_number", number_code),
        )
    ]


def rules(work: pl.DataFrame) -> Rules:
    """An employee's document type, number, issuer code and SNILS; ``work`` tells whether the
    upload writes the passport as series and number in two columns."""
    has_split = work[Column.PASSPORT_SERIES].is_not_null().any() or (
        work[Column.PASSPORT_NUMBER].is_not_null().any()
    )
    snils_compact = pl.col("snils__c")
    issuer_compact = pl.col("issuer__c")
    checks = [
        Check(
            Column.DOC_TYPE,
            "c_doc_type",
            verdict=pl.when(IS_EMPLOYEE & pl.col("doc__type").is_null()).then(
                pl.lit("doc_type.unknown")
            ),
            values={"value": pl.col(Column.DOC_TYPE)},
        ),
        *_passport_checks(has_split=has_split),
        Check(
            Column.DOC_ISSUER_CODE,
            "c_issuer_code",
            verdict=pl.when(IS_EMPLOYEE).then(
                digits_verdict(issuer_compact, "issuer_code", (6,), None)
            ),
        ),
        Check(
            Column.SNILS,
            "c_snils",
            verdict=pl.when(IS_EMPLOYEE).then(
                digits_verdict(snils_compact, "snils", (11,), snils_ok("snils__c"))
            ),
        ),
    ]
    return Rules(checks, _normal_forms())


def _normal_forms() -> list[pl.Expr]:
    issuer_compact = pl.col("issuer__c")
    return [
        pl.when(HAS_RUSSIAN_PASSPORT)
        .then(pl.col("doc__compact").str.slice(0, 4))
        .otherwise(pl.lit(""))
        .alias("o_series"),
        pl.when(HAS_RUSSIAN_PASSPORT)
        .then(pl.col("doc__compact").str.slice(4))
        .otherwise(pl.col("doc__foreign"))
        .alias("o_number"),
        pl.when(pl.col(Column.DOC_ISSUER_CODE).is_not_null())
        .then(issuer_compact.str.slice(0, 3) + pl.lit("-") + issuer_compact.str.slice(3))
        .alias("o_issuer_code"),
        pl.when(pl.col(Column.SNILS).is_not_null()).then(pl.col("snils__c")).alias("o_snils"),
    ]
