"""Working days and the moment a deadline falls on.

A deadline is "by the end of day D" in Moscow (DOMAIN.md: register by 30 November 2021,
suspended from 1 December): 23:59:59 Moscow time of D, stored in UTC. The week is Monday to
Friday; `calendar_days` rows override it (public holidays, decreed working Saturdays).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import MOSCOW
from app.deadlines.models import CalendarDay


class WorkingCalendar:
    """Which days are working days."""

    def __init__(self, overrides: dict[dt.date, bool] | None = None) -> None:
        self._overrides = overrides or {}

    @classmethod
    def load(cls, session: Session) -> WorkingCalendar:
        """The calendar as the registry keeps it."""
        rows = session.execute(select(CalendarDay.day, CalendarDay.is_working)).all()
        return cls({row.day: row.is_working for row in rows})

    def is_working(self, day: dt.date) -> bool:
        """A weekday that is not a holiday, or a weekend day decreed a working day."""
        return self._overrides.get(day, day.weekday() < 5)

    def shift(self, day: dt.date, offset: int, *, working_days: bool) -> dt.date:
        """`day` moved by `offset` calendar days, or by `offset` working days (counting only
        working days on the way: 3 working days before a Monday is the Wednesday before)."""
        if not working_days or offset == 0:
            return day + dt.timedelta(days=offset)
        step = dt.timedelta(days=1 if offset > 0 else -1)
        remaining = abs(offset)
        current = day
        while remaining:
            current += step
            if self.is_working(current):
                remaining -= 1
        return current


def end_of_day(day: dt.date) -> dt.datetime:
    """23:59:59 Moscow time of `day`, in UTC."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), MOSCOW).astimezone(dt.UTC)


def moscow_date(at: dt.datetime) -> dt.date:
    """The Moscow calendar day of an instant."""
    return at.astimezone(MOSCOW).date()
