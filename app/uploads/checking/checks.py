"""What a row check is, and the pieces the field groups' rules are built from.

Each field group (kinds, phones, names, dates, documents, devices) contributes its columns in
three steps: cells it derives before any rule runs (`Derived`), values looked up once per
distinct cell, and its `Rules`: one `Check` per column, a polars expression giving a stable
code (null when the value is fine) and the values its words need. A problem is stored as its
code and values and worded when read (`app.uploads.problems`), so nothing here runs per row in
Python, and the values are computed only for the refused rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from app.core.identifiers import DASHES, INVISIBLE
from app.uploads.reading.columns import WHITESPACE

__all__ = [
    "NO_PROBLEM",
    "REQUIRED",
    "WS",
    "Check",
    "Derived",
    "Rules",
    "compact",
    "map_distinct",
    "unseen_removed",
]

# The validators' `\s` and str.strip() use str.isspace(): see WHITESPACE.
WS = "".join(f"\\x{{{ord(char):x}}}" for char in WHITESPACE)

NO_PROBLEM = pl.lit(None, pl.String)
REQUIRED = pl.lit("required")


@dataclass(frozen=True)
class Check:
    """One check column: the rule's verdict, which code column holds it, and the values its
    words need (evaluated on the refused rows only; a null value is left out)."""

    column: str
    code: str  # name of the code column in the work frame
    verdict: pl.Expr  # the problem's code, null when the value is fine
    values: dict[str, pl.Expr] = field(default_factory=dict)


@dataclass(frozen=True)
class Derived:
    """Columns a field group derives from the cells, in steps: polars does not share a
    sub-expression between the branches that use it, so each piece is stored once and then
    referred to by name in the next step. ``scratch`` columns are dropped after the steps."""

    steps: tuple[list[pl.Expr], ...]
    scratch: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rules:
    """What a field group adds to the verdicts: its checks, and the columns computed beside
    them (normal forms of the values, values shown in messages)."""

    checks: list[Check]
    columns: list[pl.Expr] = field(default_factory=list)


_UNSEEN = [*INVISIBLE, *DASHES]
_SEEN = [*("" for _ in INVISIBLE), *("-" for _ in DASHES)]


def unseen_removed(cell: pl.Expr) -> pl.Expr:
    """The cell as :func:`app.core.identifiers.clean_cell` reads it, before trimming:
    invisible characters dropped, every dash a hyphen (one Aho-Corasick pass)."""
    return cell.str.replace_many(_UNSEEN, _SEEN)


def compact(name: str, separators: str) -> pl.Expr:
    """The cell without whitespace and the given separators (as ``_strip`` in identifiers)."""
    return pl.col(name).str.replace_all(f"[{WS}{re.escape(separators)}]", "")


def map_distinct(series: pl.Series, function: Callable[[str], Any], dtype: pl.DataType) -> pl.Expr:
    """``function`` applied once per distinct non-null value of ``series``, as an expression
    that maps the column of the same name (nulls and unseen values map to null)."""
    keys = series.drop_nulls().unique()
    values = pl.Series([function(key) for key in keys.to_list()], dtype=dtype)
    if keys.is_empty():
        return pl.lit(None, dtype)
    return pl.col(series.name).replace_strict(keys, values, default=None, return_dtype=dtype)
