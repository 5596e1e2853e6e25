"""The registry gauges the `metrics` job keeps: numbers by status and the notification backlog.

The gauges are declared in `app.core.metrics` with every other metric; counting them reads the
numbers' and notifications' tables, which is the scheduler's business, not the kernel's."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from app.core.metrics import GAUGES_REFRESHED, NOTIFICATION_BACKLOG, NUMBERS_BY_STATUS
from app.core.runtime import Runtime
from app.notifications.models import Notification, NotificationStatus
from app.numbers.models import NumberStatus, PhoneNumber


def refresh_gauges(runtime: Runtime) -> dict[str, Any]:
    """Recount numbers by status and the notification backlog: one GROUP BY per table."""
    with runtime.sessions() as session:
        numbers: dict[str, int] = {
            str(status): int(count)
            for status, count in session.execute(
                select(PhoneNumber.status, func.count()).group_by(PhoneNumber.status)
            )
        }
        notifications: dict[str, int] = {
            str(status): int(count)
            for status, count in session.execute(
                select(Notification.status, func.count()).group_by(Notification.status)
            )
        }
    # Every known status is set, so one that empties falls to zero instead of keeping its count.
    for status in NumberStatus:
        NUMBERS_BY_STATUS.labels(status=status.value).set(numbers.get(status.value, 0))
    backlog = notifications.get(NotificationStatus.PENDING.value, 0)
    NOTIFICATION_BACKLOG.set(backlog)
    GAUGES_REFRESHED.set(time.time())
    return {"numbers": sum(numbers.values()), "notifications_backlog": backlog}
