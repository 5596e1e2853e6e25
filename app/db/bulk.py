"""Set-based writes whose row count can be trusted on both engines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, func, select
from sqlalchemy.orm import Session


def insert_counting(session: Session, statement: Insert, key: Any) -> int:
    """Run an INSERT … SELECT and return how many rows it wrote.

    psycopg reports no row count for INSERT … SELECT, so on PostgreSQL the rows are counted
    through RETURNING inside the database, without sending them to Python."""
    if session.get_bind().dialect.name == "postgresql":
        written = statement.returning(key).cte("written")
        return int(session.scalar(select(func.count()).select_from(written)) or 0)
    result = session.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
