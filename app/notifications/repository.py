"""Outbox statements whose SQL differs between the engines."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, Table, update
from sqlalchemy.orm import Session

from app.db.session import is_postgres


def lease_picked(
    session: Session, table: Table, picked: Select[Any], *, lease_until: dt.datetime
) -> list[int]:
    """Give the messages `picked` selects (their ids) a lease until `lease_until`; the ids
    leased. On PostgreSQL a row another deliverer is leasing right now is left to it (SKIP
    LOCKED); SQLite takes its write lock before reading the rows it leases."""
    if is_postgres(session):
        ids = list(session.scalars(picked.with_for_update(skip_locked=True)))
        if ids:
            session.execute(
                update(table).where(table.c.id.in_(ids)).values(lease_until=lease_until)
            )
        return ids
    # One statement, so that the rows are read under the write lock.
    return list(
        session.scalars(
            update(table)
            .where(table.c.id.in_(picked))
            .values(lease_until=lease_until)
            .returning(table.c.id)
        )
    )
