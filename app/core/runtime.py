"""What one running simreg holds: settings, engine, session factory, clock, vault, codecs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import app.models  # noqa: F401  (every table known before the first query: foreign keys cross features)
from app.config import Settings
from app.core.clock import Clock, FixedClock, SystemClock
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
        engine = build_engine(settings.database_url, pool_size=settings.db_pool_size)
        if clock is None:
            clock = clock_from_settings(settings)
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


def clock_from_settings(settings: Settings) -> Clock:
    """SIMREG_NOW pins the clock in dev and test; production always runs on the wall clock."""
    if settings.now is not None and settings.is_sandbox:
        at = settings.now if settings.now.tzinfo else settings.now.replace(tzinfo=dt.UTC)
        return FixedClock(at)
    return SystemClock()
