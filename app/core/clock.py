"""The registry's clock: real time in production, movable in dev and test."""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo

MOSCOW = ZoneInfo("Europe/Moscow")


class Clock(Protocol):
    """Source of the current time; services never call datetime.now() themselves."""

    def now(self) -> dt.datetime: ...

    @property
    def fixed(self) -> bool:
        """Whether the clock stands at a set moment (dev and test): its time passes only when
        someone moves it, and a move stands for time that passed."""
        ...


class SystemClock:
    """Wall-clock time in UTC."""

    fixed = False

    def now(self) -> dt.datetime:
        """Current UTC time."""
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that stands still until moved; for tests and the demo."""

    fixed = True

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        """The time the clock was set to."""
        return self._at

    def set(self, at: dt.datetime) -> None:
        """Move to an absolute time."""
        self._at = at.astimezone(dt.UTC)

    def advance(self, delta: dt.timedelta) -> None:
        """Move forward (or back, with a negative delta)."""
        self._at += delta


def moscow_today(clock: Clock) -> dt.date:
    """Today's date in Moscow, the date the law counts deadlines in."""
    return clock.now().astimezone(MOSCOW).date()


def moscow_day(moment: dt.datetime) -> str:
    """A moment's day as people in Russia write it, in Moscow time: 19.12.2026."""
    return moment.astimezone(MOSCOW).strftime("%d.%m.%Y")


def moscow_moment(moment: dt.datetime) -> str:
    """A moment as people in Russia write it, in Moscow time: 19.12.2026 14:30."""
    return moment.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M")
