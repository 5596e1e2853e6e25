"""What a number becomes when it is given a new user: one rule for a single registration and
for the bulk paths of an upload.

A user is the same as the current one when every compared field is equal, and then nothing
changes. Otherwise the current registration ends (superseded) and a new one starts; an
employee waits for the person's confirmation (`pending_confirmation`); a device waits for
the operator's matching step, counting as unregistered until then. A suspended number stays
suspended until the new user is confirmed. A change of user (not a first one) opens a grace
period from that Moscow day (DOMAIN.md, flow C).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from app.core.clock import MOSCOW
from app.numbers.models import NamedUser, NumberStatus, SimKind

# The columns of `NamedUser`, in order: what a new registration takes from whoever names the
# user (with the number's id, and the source, submitter and time of the act).
USER_COLUMNS: tuple[str, ...] = tuple(NamedUser.__annotations__)

# The fields that decide whether a user is the same as the current one.
COMPARED = (
    "kind", "name_key", "doc_type", "doc_hash", "birth_date_hash", "snils_hash",
    "device_type", "device_model", "device_id", "install_address",
)  # fmt: skip

# Terminated and transferred numbers have left the registry: they take no new user.
FINAL = (NumberStatus.TERMINATED, NumberStatus.TRANSFERRED)


@dataclass(frozen=True)
class Move:
    """Where a new user of one kind takes a number: its status, why, and from which statuses
    (a suspended number, and one already there, keep theirs)."""

    target: NumberStatus
    reason: str
    sources: tuple[NumberStatus, ...]


def _move_to(target: NumberStatus, reason: str) -> Move:
    stays = (target, NumberStatus.SUSPENDED, *FINAL)
    return Move(target, reason, tuple(s for s in NumberStatus if s not in stays))


MOVES: dict[str, Move] = {
    SimKind.EMPLOYEE.value: _move_to(
        NumberStatus.PENDING_CONFIRMATION,
        "employee named; waiting for the person's confirmation",
    ),
    SimKind.DEVICE.value: _move_to(
        NumberStatus.UNREGISTERED,
        "device named; waiting for the operator's matching step",
    ),
}


def same_user(current: Any, row: dict[str, object]) -> bool:
    """Whether `row` names the user of the registration `current` again."""
    return all(getattr(current, key) == row.get(key) for key in COMPARED)


def end_reason(note: str | None = None) -> str:
    """Why a registration ended: a new user was named (by `note`, when given: an upload)."""
    return "superseded by a new user" + (f" ({note})" if note else "")


def number_values(kind: str, *, superseded: bool, now: dt.datetime) -> dict[str, object]:
    """What a number takes with a new user besides its status: the user's kind, and for a
    change of user the day its grace period counts from (DOMAIN.md: a change of user opens
    a grace period, counted from this day)."""
    values: dict[str, object] = {"sim_kind": kind}
    if superseded:
        values["user_changed_on"] = now.astimezone(MOSCOW).date()
    return values
