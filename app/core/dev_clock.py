"""The dev clock shared by every process on one database.

With two API instances and a scheduler process, moving one process's clock would leave the
others in the past: a deadline passed on one instance would not have passed for the job that
suspends. Outside production the clock is therefore a row in `dev_clock`; each process reads it
back at most every `refresh` seconds, so a move made through any instance reaches every process
within that time. Production never builds this clock and never reads the table.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import structlog
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core.clock import SystemClock
from app.db.base import Base, UtcDateTime
from app.db.session import insert_ignoring_duplicates

log = structlog.get_logger("simreg.clock")

_ROW = 1
_UNREAD = -1.0


class DevClock(Base):
    """The dev and test clock every process on one database shares (never read in production).
    One row: `fixed_at` pins the time; NULL means the wall clock."""

    __tablename__ = "dev_clock"

    id: Mapped[int] = mapped_column(primary_key=True)
    fixed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    set_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class SharedClock:
    """A clock kept in the database: pinned to a time by `set`, back to the wall by `reset`.

    Until the row exists, the clock is `start` (SIMREG_NOW) or the wall clock."""

    def __init__(
        self, engine: Engine, *, start: dt.datetime | None = None, refresh: float = 1.0
    ) -> None:
        self._engine = engine
        self._wall = SystemClock()
        self._fixed = start.astimezone(dt.UTC) if start is not None else None
        self._refresh = refresh
        self._read_at = _UNREAD
        self._lock = threading.Lock()

    @property
    def fixed(self) -> bool:
        """Whether the clock stands at a set time (as opposed to following the wall)."""
        self._read_if_due()
        return self._fixed is not None

    def now(self) -> dt.datetime:
        """The shared time: the pinned moment, or the wall clock's."""
        self._read_if_due()
        fixed = self._fixed
        return fixed if fixed is not None else self._wall.now()

    def set(self, at: dt.datetime) -> None:
        """Pin every process's clock to `at`."""
        self._write(at.astimezone(dt.UTC))

    def advance(self, delta: dt.timedelta) -> None:
        """Move the shared time by `delta` (from the wall clock's now if it is not pinned)."""
        self._write(self.now() + delta)

    def reset(self) -> None:
        """Every process back to the wall clock."""
        self._write(None)

    def _read_if_due(self) -> None:
        if time.monotonic() - self._read_at < self._refresh:
            return
        with self._lock:
            if time.monotonic() - self._read_at < self._refresh:
                return
            try:
                with Session(self._engine) as session:
                    row = session.scalars(select(DevClock).where(DevClock.id == _ROW)).first()
            except SQLAlchemyError:
                # The database is away (or not migrated yet): keep the time last read.
                log.warning("dev clock unreadable; keeping the last value")
                self._read_at = time.monotonic()
                return
            if row is not None:
                self._fixed = row.fixed_at
            self._read_at = time.monotonic()

    def _write(self, fixed_at: dt.datetime | None) -> None:
        values = {"fixed_at": fixed_at, "set_at": self._wall.now()}
        move = update(DevClock).where(DevClock.id == _ROW).values(**values)
        with Session(self._engine) as session, session.begin():
            if not session.execute(move).rowcount:  # type: ignore[attr-defined]
                first = insert_ignoring_duplicates(session, DevClock.__table__)
                if not session.execute(first.values(id=_ROW, **values)).rowcount:  # type: ignore[attr-defined]
                    session.execute(move)  # another process made the row meanwhile
        with self._lock:
            self._fixed = fixed_at
            self._read_at = time.monotonic()
