"""Engine and session construction for the embedded SQLite file and for PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Insert, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def build_engine(url: str, *, pool_size: int = 10, connect_timeout: int = 3) -> Engine:
    """Create the engine for `url`, with the pragmas SQLite needs to behave like a server."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    # pre_ping replaces connections a database restart broke, so the app recovers by itself;
    # the connect timeout keeps requests from hanging while it is away (they answer 503).
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": connect_timeout},
    )


def is_postgres(on: Session | Connection | Engine) -> bool:
    """Whether `on` talks to PostgreSQL (its paths: COPY, SKIP LOCKED, CTE chains). The one way
    simreg asks which engine it runs on."""
    bind = on.get_bind() if isinstance(on, Session) else on
    return bind.dialect.name == "postgresql"


def insert_ignoring_duplicates(
    on: Session | str,
    table: Any,
    *,
    index_elements: list[str] | None = None,
    index_where: Any = None,
) -> Insert:
    """`INSERT … ON CONFLICT DO NOTHING` for the session's engine (or the dialect named); both
    engines support it. `index_elements`/`index_where` name a partial unique index as arbiter."""
    dialect = on if isinstance(on, str) else on.get_bind().dialect.name
    arbiter: dict[str, Any] = (
        {}
        if index_elements is None
        else {"index_elements": index_elements, "index_where": index_where}
    )
    if dialect == "postgresql":
        pg: Insert = postgresql.insert(table).on_conflict_do_nothing(**arbiter)
        return pg
    lite: Insert = sqlite.insert(table).on_conflict_do_nothing(**arbiter)
    return lite


def build_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit when the block succeeds, roll back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
