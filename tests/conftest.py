"""Test fixtures: a migrated database per test on SQLite or PostgreSQL (SIMREG_TEST_ENGINE)."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app.config import Environment, Settings
from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.db.local_postgres import PostgresServer, start_server
from app.db.migrations import upgrade_to_head
from app.main import create_app

ENGINE = os.environ.get("SIMREG_TEST_ENGINE", "sqlite")
TEMPLATE_DB = "simreg_template"
_counter = itertools.count()

# A weekday morning in Moscow; tests that need another moment move the clock.
START = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)


def pytest_report_header() -> str:
    return f"simreg test engine: {ENGINE}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ENGINE == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run with SIMREG_TEST_ENGINE=postgresql)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer | None]:
    if ENGINE != "postgresql" or os.environ.get("SIMREG_TEST_PG_URL"):
        yield None
        return
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


def _pg_admin_url(server: PostgresServer | None) -> str:
    if server is not None:
        return server.admin_url
    return os.environ["SIMREG_TEST_PG_URL"]


def _pg_url(admin_url: str, database: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + database


@contextmanager
def scratch_database(admin_url: str, name: str, *, template: str | None = None) -> Iterator[str]:
    """A PostgreSQL database of one test's own (a copy of `template`, or empty); dropped after.
    No pooled connection in between: a test may restart the server."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    copy = f" TEMPLATE {template}" if template else ""
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}{copy}"))
    try:
        yield _pg_url(admin_url, name)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


@pytest.fixture(scope="session")
def template_url(pg_server: PostgresServer | None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated once with `alembic upgrade head`; tests get copies of it."""
    if ENGINE == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        url = f"sqlite:///{path}"
        upgrade_to_head(url)
        return url
    admin = _pg_admin_url(pg_server)
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {TEMPLATE_DB}"))
    engine.dispose()
    url = _pg_url(admin, TEMPLATE_DB)
    upgrade_to_head(url)
    return url


@pytest.fixture
def database_url(
    template_url: str, pg_server: PostgresServer | None, tmp_path: Path
) -> Iterator[str]:
    """A fresh copy of the migrated template for this test alone."""
    if ENGINE == "sqlite":
        path = tmp_path / "simreg.db"
        shutil.copyfile(template_url.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
        return
    name = f"simreg_test_{os.getpid()}_{next(_counter)}"
    with scratch_database(_pg_admin_url(pg_server), name, template=TEMPLATE_DB) as url:
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        env=Environment.TEST,
        database_url=database_url,
        upload_dir=str(tmp_path / "uploads"),
        # Tests drive recovery themselves; a resume thread would race them.
        upload_resume_on_start=False,
        # Tests run jobs themselves, at the moments they choose.
        scheduler_in_process=False,
        _env_file=None,
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> Iterator[FastAPI]:
    application = create_app(settings, clock=clock)
    yield application
    application.state.runtime.engine.dispose()


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    """A session on the test database; tests commit what they build."""
    with runtime.sessions() as db:
        yield db
