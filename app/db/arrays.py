"""PostgreSQL arrays of a batch's values, written as one text literal.

psycopg adapts a Python list element by element: for the million ids and statuses of a large
upload that was a second and a half of CPU, under the GIL, on the thread that feeds the
database. polars writes the same text form of the array (`{1,2,NULL}`) in one pass; the
statement casts the parameter to the array type (`CAST(:ids AS BIGINT[])`), which
PostgreSQL parses exactly as it parses the list psycopg would have sent.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def array_literal(values: pl.Series | Sequence[int | str | None]) -> str:
    """The text form of a one-dimensional array of integers or strings; None is NULL.

    Every string is quoted, with backslashes and double quotes escaped, so no value can
    change the array's shape, whatever characters it holds."""
    series = values if isinstance(values, pl.Series) else pl.Series(values)
    if series.is_empty():
        return "{}"
    if series.dtype.is_integer():
        items = series.cast(pl.String)
    elif series.dtype in (pl.String, pl.Null):
        escaped = series.cast(pl.String).str.replace_all("\\", "\\\\", literal=True)
        items = '"' + escaped.str.replace_all('"', '\\"', literal=True) + '"'
    else:
        raise TypeError(f"an array literal holds integers or strings, not {series.dtype}")
    return "{" + str(items.fill_null("NULL").str.join(",").item()) + "}"
