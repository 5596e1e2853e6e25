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

    A string is quoted, with backslashes and double quotes escaped, so no value can change
    the array's shape, whatever characters it holds; when every string of the array is made of
    letters, digits and `_+.:-` only (numbers, hashes, statuses), none is, which takes about
    half the time."""
    series = values if isinstance(values, pl.Series) else pl.Series(values)
    if series.is_empty():
        return "{}"
    if series.dtype.is_integer():
        items = series.cast(pl.String)
    elif series.dtype in (pl.String, pl.Null):
        strings = series.cast(pl.String)
        if _all_bare(strings):
            items = strings
        else:
            escaped = strings.str.replace_all("\\", "\\\\", literal=True)
            items = '"' + escaped.str.replace_all('"', '\\"', literal=True) + '"'
    else:
        raise TypeError(f"an array literal holds integers or strings, not {series.dtype}")
    return "{" + str(items.fill_null("NULL").str.join(",").item()) + "}"


# Characters an unquoted element may hold: none of them ends an element, opens a nested array
# or is trimmed as white space. The word NULL (any case) alone would read as a null.
_BARE = r"^[0-9A-Za-z_+.:-]+$"
_NULL_WORD = r"(?i)^null$"


def _all_bare(strings: pl.Series) -> bool:
    """Whether every string of the series can be written without quotes (nulls aside)."""
    return bool(strings.str.contains(_BARE).all()) and not strings.str.contains(_NULL_WORD).any()
