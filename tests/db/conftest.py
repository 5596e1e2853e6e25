"""Fixtures of the database-layer tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, create_engine


@pytest.fixture
def connection(database_url: str) -> Iterator[Connection]:
    """A connection to the test's migrated database (its catalog, its casts)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()
