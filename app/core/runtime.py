"""What one running simreg holds: settings, engine, session factory, clock, vault, codecs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import app.models  # noqa: F401  (every table known before the first query: foreign keys cross features)
from app.config import Settings
from app.core.clock import Clock, FixedClock, SystemClock
from app.core.dev_clock import SharedClock
from app.core.pagination import CursorCodec
from app.core.personal_data import PersonalDataVault
from app.db.session import build_engine, build_sessionmaker


@dataclass
class Runtime:
    """Shared by every request and job of one process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    vault: PersonalDataVault
    cursors: CursorCodec

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        """Wire everything from settings; refuses unusable key settings by name."""
        engine = build_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            connect_timeout=settings.db_connect_timeout_seconds,
        )
        if clock is None:
            clock = clock_from_settings(settings, engine)
        vault = PersonalDataVault.from_settings(
            keys=settings.pd_keys,
            active_key_id=settings.pd_active_key_id,
            hash_key=settings.pd_hash_key,
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=build_sessionmaker(engine),
            clock=clock,
            vault=vault,
            cursors=CursorCodec(settings.cursor_secret),
        )


def clock_from_settings(settings: Settings, engine: Engine | None = None) -> Clock:
    """Production always runs on the wall clock. In dev and test the clock can be moved: shared
    through the database by every process on it (given the engine), starting at SIMREG_NOW."""
    if not settings.is_sandbox:
        return SystemClock()
    start = None
    if settings.now is not None:
        start = settings.now if settings.now.tzinfo else settings.now.replace(tzinfo=dt.UTC)
    if engine is not None:
        return SharedClock(engine, start=start, refresh=settings.dev_clock_refresh_seconds)
    return FixedClock(start) if start is not None else SystemClock()
