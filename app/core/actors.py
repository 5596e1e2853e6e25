"""Who causes a change in the registry, as the event logs record it.

Every feature names its actor (a job, a person, an admin, operator staff or an operator system)
the same way, so the kinds live in the kernel rather than in the feature that logs most."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ActorKind(enum.StrEnum):
    """Who made a change, for the event log."""

    SYSTEM = "system"
    OPERATOR_JOB = "operator_job"
    OPERATOR_SYSTEM = "operator_system"
    OPERATOR_STAFF = "operator_staff"
    COMPANY_ADMIN = "company_admin"
    PERSON = "person"


@dataclass(frozen=True)
class Actor:
    """Who causes a change: a job, a person, an admin, operator staff or an operator system."""

    kind: ActorKind
    id: str
