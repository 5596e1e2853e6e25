"""Fixtures of the topology tests: a database the processes migrate themselves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.db.local_postgres import PostgresServer
from tests.cluster.topology import free_port
from tests.conftest import _pg_admin_url, scratch_database


@pytest.fixture
def empty_database(pg_server: PostgresServer | None) -> Iterator[str]:
    """A database with no schema yet: the topology migrates it itself, once."""
    with scratch_database(_pg_admin_url(pg_server), f"simreg_cluster_{free_port()}") as url:
        yield url
