"""A refused row's problems: stored as stable codes with their values, worded when read.

A problem is ``{"column": <Column value>, "code": <code>, "values": {...}}``. It is worded in
the reader's language from the catalog entry ``row.<code>``, whose ``{column}`` placeholder is
the column's header as the admin's file wrote it (or the catalog's ``column.<name>`` when the
header is not known). Where one code is explained in more than one way (a landline or a
foreign number for ``phone.not_russian_mobile``), the ``variant`` value picks the entry
``row.<code>.<variant>``. Values never hold passport, birth-date or SNILS values: problems
are stored and shown in error reports. Problems stored before the catalogs carry an English
``message`` and are said as they were stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.core.messages import DEFAULT, Language, say

Problem = dict[str, Any]


def problem(column: str, code: str, /, **values: object) -> Problem:
    """A problem of `column` with its code and the values its words need."""
    return {"column": column, "code": code, "values": values}


def column_name(column: str, language: Language, headers: Mapping[str, str] | None) -> str:
    """The column as the admin's file wrote it, else as the catalog names it."""
    written = (headers or {}).get(column)
    return written if written else say(f"column.{column}", language)


def word_problem(
    found: Mapping[str, Any],
    language: Language = DEFAULT,
    headers: Mapping[str, str] | None = None,
) -> str:
    """The words for one stored problem, in `language`."""
    if "values" not in found:
        return str(found.get("message", found["code"]))
    column = column_name(found["column"], language, headers)
    values = found["values"]
    variant = values.get("variant")
    entry = f"row.{found['code']}" + (f".{variant}" if variant else "")
    return say(entry, language, **{**values, "column": column})
