"""Integers a request may carry (ids, versions), bounded at the edge.

Both engines keep ids as signed 64-bit integers, and neither can even bind a larger one (SQLite
raises OverflowError, psycopg sends a numeric the column cannot take): an id of 2**63 in a path,
a query or a body must be refused as bad input (422 naming the field), never reach a query.
Every integer of a request is one of these types, or has bounds of its own (a page size, a year).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

INT64_MAX = 2**63 - 1

# A row's id: what the database hands out, from 1 up to the largest 64-bit integer.
RowId = Annotated[int, Field(ge=1, le=INT64_MAX)]

# A row's version counter (optimistic locking), which starts at 1.
Version = Annotated[int, Field(ge=1, le=INT64_MAX)]


def is_row_id(value: int) -> bool:
    """Whether `value` may be an id the database handed out (for ids that do not come through a
    request model: a token's claims)."""
    return 1 <= value <= INT64_MAX
