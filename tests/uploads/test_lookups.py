"""The registry look-up of an upload batch reads each wanted number by its index."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.uploads.repository import SQLITE_NUMBERS_OF


def test_sqlite_reads_each_wanted_number_by_the_msisdn_index(session: Session) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the SQLite statement's plan")
    plan = " | ".join(
        row[-1]
        for row in session.connection().exec_driver_sql(
            f"EXPLAIN QUERY PLAN {SQLITE_NUMBERS_OF}", ('["+79130000000"]', 1)
        )
    )
    # Not "SEARCH numbers USING INDEX ix_numbers_subscriber_status (subscriber_id=?)": that
    # walks every number of the company once per wanted number (hours for a million rows).
    assert "SEARCH numbers USING INDEX sqlite_autoindex_numbers_1 (msisdn=?)" in plan, plan
