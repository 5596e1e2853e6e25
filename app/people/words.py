"""What a number's state means for the employee who uses it, and their next step, in their
own words: from the number's status and the latest confirmation request of its current
registration (not sent yet, waiting for them, answered, or did not match and why)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from app.core.clock import moscow_day, moscow_moment
from app.core.messages import DEFAULT, Language, say
from app.numbers.models import NumberStatus

S = NumberStatus


@dataclass(frozen=True)
class RequestState:
    """The latest confirmation request of a registration, as far as the person is concerned."""

    status: str | None = None  # queued, sent, answered, matched, expired, cancelled
    outcome: str | None = None  # active, mismatch, declined, expired
    mismatch_fields: str | None = None  # "birth_date,full_name": names, never values

    @classmethod
    def packed(cls, value: str | None) -> RequestState:
        """Read the 'status|outcome|fields' text the status read selects in one column."""
        if not value:
            return cls()
        status, outcome, fields = [*value.split("|"), "", ""][:3]
        return cls(status or None, outcome or None, fields or None)


def field_names(fields: str | None, language: Language = DEFAULT) -> str:
    """'birth_date,full_name' → 'дата рождения, ФИО'."""
    names = [say(f"field.{name}", language) for name in (fields or "").split(",") if name]
    return ", ".join(names)


def _by(deadline_at: dt.datetime | None, language: Language) -> str:
    return say("me.deadline", language, date=moscow_day(deadline_at)) if deadline_at else ""


def _pending(
    request: RequestState, values: dict[str, object], language: Language
) -> tuple[str, str]:
    if request.status == "sent":
        return say("me.status.pending.sent", language, **values), say(
            "me.next.pending.sent", language, **values
        )
    if request.status == "answered":
        return say("me.status.pending.answered", language), say("me.next.nothing", language)
    return say("me.status.pending.queued", language, **values), say(
        "me.next.pending.queued", language, **values
    )


def _suspended_next(request: RequestState, values: dict[str, object], language: Language) -> str:
    if request.status == "sent":
        return say("me.next.suspended.sent", language)
    if request.outcome == "mismatch":
        return say("me.next.suspended.mismatch", language, **values)
    return say("me.next.suspended.company", language)


def person_words(
    status: NumberStatus,
    request: RequestState,
    *,
    company: str,
    deadline_at: dt.datetime | None,
    language: Language = DEFAULT,
) -> tuple[str, str]:
    """(what the number's state means for the person, their next step)."""
    values: dict[str, object] = {
        "company": company,
        "deadline": _by(deadline_at, language),
        "fields": field_names(request.mismatch_fields, language),
    }
    if status is S.PENDING_CONFIRMATION:
        return _pending(request, values, language)
    if status is S.SUSPENDED:
        return say("me.status.suspended", language), _suspended_next(request, values, language)
    nothing = say("me.next.nothing", language)
    words = {
        S.UNREGISTERED: ("me.status.unregistered", "me.next.unregistered"),
        S.ACTIVE: ("me.status.active", None),
        S.MISMATCH: ("me.status.mismatch", "me.next.mismatch"),
        S.DECLINED: ("me.status.declined", "me.next.declined"),
        S.EXPIRED: ("me.status.expired", "me.next.expired"),
        S.TERMINATED: ("me.status.terminated", "me.next.terminated"),
        S.TRANSFERRED: ("me.status.transferred", None),
    }
    meaning, step = words[status]
    return say(meaning, language, **values), say(step, language, **values) if step else nothing


def request_words(
    request: RequestState,
    *,
    expires_at: dt.datetime,
    eta: dt.datetime | None,
    language: Language = DEFAULT,
) -> str:
    """What became of one confirmation request, for the person it named."""
    fields = field_names(request.mismatch_fields, language)
    if request.status == "queued":
        return say("request.queued", language, eta=moscow_moment(eta) if eta else "—")
    if request.status == "sent":
        return say("request.sent", language, date=moscow_day(expires_at))
    if request.status == "answered":
        return say("request.answered", language)
    if request.status == "cancelled":
        return say("request.cancelled", language)
    return say(f"request.{request.outcome or 'expired'}", language, fields=fields)
