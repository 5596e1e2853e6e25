"""Every feature's tables, imported in one place so Alembic sees one metadata."""

from app.claims.models import Claim
from app.companies.models import Contract, CorporateSubscriber, Operator
from app.core.dev_clock import DevClock
from app.db.base import Base
from app.deadlines.models import (
    CalendarDay,
    DeadlineChange,
    DeadlineDay,
    DeadlineNotice,
    DeadlineRecompute,
    DeadlineRule,
    DeadlineRun,
)
from app.notifications.models import Notification
from app.numbers.models import PhoneNumber, Registration, StatusEvent
from app.people.models import Person, PersonalDataRead
from app.portal.models import ConfirmationRequest, PortalSendAllowance, SandboxDelivery
from app.scheduler.models import JobClaim
from app.uploads.models import StagedRow, Upload, UploadRejection
from app.work.models import WorkItem

__all__ = [
    "Base",
    "CalendarDay",
    "Claim",
    "ConfirmationRequest",
    "Contract",
    "CorporateSubscriber",
    "DeadlineChange",
    "DeadlineDay",
    "DeadlineNotice",
    "DeadlineRecompute",
    "DeadlineRule",
    "DeadlineRun",
    "DevClock",
    "JobClaim",
    "Notification",
    "Operator",
    "Person",
    "PersonalDataRead",
    "PhoneNumber",
    "PortalSendAllowance",
    "Registration",
    "SandboxDelivery",
    "StagedRow",
    "StatusEvent",
    "Upload",
    "UploadRejection",
    "WorkItem",
]
