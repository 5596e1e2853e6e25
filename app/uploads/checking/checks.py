"""What a row check is, and the pieces the field groups' rules are built from.

Each field group (kinds, phones, names, dates, documents, devices) contributes its columns in
three steps: cells it derives before any rule runs (`Derived`), values looked up once per
distinct cell, and its `Rules`: one `Check` per column, a polars expression giving a stable
code (null when the value is fine) and a function wording the problem. Messages come from the
scalar validators of :mod:`app.core.identifiers` where there is one, so a row and an API
request get the same words.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from app.core.identifiers import InvalidIdentifier
from app.uploads.reading.columns import WHITESPACE, Column

__all__ = [
    "NO_PROBLEM",
    "REQUIRED",
    "WS",
    "Check",
    "Derived",
    "MessageFn",
    "Rules",
    "compact",
    "map_distinct",
    "required_message",
    "scalar_message",
]

# The validators' `\s` and str.strip() use str.isspace(): see WHITESPACE.
WS = "".join(f"\\x{{{ord(char):x}}}" for char in WHITESPACE)

NO_PROBLEM = pl.lit(None, pl.String)
REQUIRED = pl.lit("required")

MessageFn = Callable[[str, str | None, str | None], str]
"""Words for a problem: called with its code, the value as written and a further detail."""


@dataclass(frozen=True)
class Check:
    """One check column: the rule's verdict, which code column holds it and how to word it."""

    column: str
    code: str  # name of the code column in the work frame
    value: str | None  # column passed to the message as the value
    extra: pl.Expr | None  # further detail for the message
    message: MessageFn
    verdict: pl.Expr  # the problem's code, null when the value is fine


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


_LABELS: dict[str, str] = {
    Column.MSISDN: "phone number",
    Column.LAST_NAME: "last name",
    Column.FIRST_NAME: "first name",
    Column.BIRTH_DATE: "birth date",
    Column.PASSPORT: "passport series and number",
    Column.PASSPORT_SERIES: "passport series",
    Column.PASSPORT_NUMBER: "passport number",
    Column.DEVICE_TYPE: "device type",
    Column.DEVICE_MODEL: "device model",
    Column.DEVICE_ID: "device identifier (IMEI, MAC address or serial number)",
}


def scalar_message(function: Callable[[str], object]) -> MessageFn:
    """A message function that asks the scalar validator what it says about the value."""

    @functools.lru_cache(maxsize=100_000)
    def message(code: str, raw: str | None, extra: str | None) -> str:
        try:
            function(raw or "")
        except InvalidIdentifier as exc:
            return exc.message
        return f"the value is not accepted ({code})"

    return message


def required_message(kind: str) -> MessageFn:
    """The words for an empty cell that ``kind`` of row needs (``extra`` names the column)."""

    def message(code: str, raw: str | None, extra: str | None) -> str:
        return f"the {_LABELS[extra or '']} is empty; fill it in, {kind} needs it"

    return message


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
