"""Names of an employee: last name, first name and patronymic, as in the Russian passport.

Plain Cyrillic spellings are normalised by polars; any other spelling goes through
:mod:`app.core.names` once per distinct value.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from app.core.names import is_cyrillic_name, normalize_person_name
from app.uploads.checking.checks import (
    NO_PROBLEM,
    REQUIRED,
    WS,
    Check,
    Derived,
    Rules,
    map_distinct,
)
from app.uploads.checking.documents import HAS_RUSSIAN_PASSPORT
from app.uploads.checking.kinds import IS_EMPLOYEE
from app.uploads.reading.columns import EMPLOYEE_REQUIRED, Column

__all__ = ["NAME_COLUMNS", "derived", "lookups", "rules"]

NAME_COLUMNS = (Column.LAST_NAME, Column.FIRST_NAME, Column.PATRONYMIC)
# Names made only of Russian letters, single spaces and hyphens normalise to their upper
# case with Ё written as Е, and are Cyrillic; everything else goes through app.core.names.
_PLAIN_CYRILLIC_NAME = r"^[А-ЯЁа-яё]+(?:[ \-][А-ЯЁа-яё]+)*$"

_FORMS = pl.Struct({"norm": pl.String, "cyr": pl.Boolean})


def derived() -> Derived:
    """Each name with runs of white space made one space, and whether it is plain Cyrillic."""
    return Derived(
        steps=(
            [
                pl.col(c).str.replace_all(f"[{WS}]+", " ").alias(f"{c.value}__clean")
                for c in NAME_COLUMNS
            ],
            [
                pl.col(f"{c.value}__clean")
                .str.contains(_PLAIN_CYRILLIC_NAME)
                .alias(f"{c.value}__plain")
                for c in NAME_COLUMNS
            ],
            [],
        )
    )


def _name_forms(value: str) -> dict[str, Any]:
    return {"norm": normalize_person_name(value), "cyr": is_cyrillic_name(value)}


def lookups(work: pl.DataFrame) -> list[pl.Expr]:
    """``{name}__forms``: app.core.names' normal form of each spelling that is not plain."""

    def odd_names(column: Column) -> pl.Series:
        series = work[f"{column.value}__clean"]
        return series.filter(~work[f"{column.value}__plain"].fill_null(True))

    return [
        map_distinct(odd_names(c), _name_forms, _FORMS).alias(f"{c.value}__forms")
        for c in NAME_COLUMNS
    ]


def _name_norm(column: Column) -> pl.Expr:
    clean = pl.col(f"{column.value}__clean")
    plain = pl.col(f"{column.value}__plain")
    return (
        pl.when(plain)
        .then(clean.str.to_uppercase().str.replace_all("Ё", "Е", literal=True))
        .otherwise(pl.col(f"{column.value}__forms").struct.field("norm"))
    )


def _name_code(column: Column) -> pl.Expr:
    clean = pl.col(f"{column.value}__clean")
    cyrillic = pl.col(f"{column.value}__plain") | pl.col(f"{column.value}__forms").struct.field(
        "cyr"
    )
    return (
        pl.when(~IS_EMPLOYEE)
        .then(NO_PROBLEM)
        .when(clean.is_null() & pl.lit(column in EMPLOYEE_REQUIRED))
        .then(REQUIRED)
        .when(HAS_RUSSIAN_PASSPORT & ~cyrillic)
        .then(pl.lit("name.not_cyrillic"))
        .otherwise(NO_PROBLEM)
    )


def rules() -> Rules:
    """An employee needs a last and a first name, in Cyrillic when the document is Russian."""
    return Rules(
        [Check(c, f"c_{c.value}", verdict=_name_code(c)) for c in NAME_COLUMNS],
        [_name_norm(c).alias(f"{c.value}__norm") for c in NAME_COLUMNS],
    )
