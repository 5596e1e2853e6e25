"""Delivering the outbox: lease due messages, send each outside any transaction, record it.

Delivery is at least once. A message is marked sent only after its receiver took it, so a
deliverer that dies in between sends nothing twice on purpose, yet the message goes again once
its lease ends; receivers drop repeats by the notification id. A failed message is tried again
after base × 2^(attempts-1) seconds (at most SIMREG_NOTIFY_RETRY_MAX_SECONDS) and is marked
dead after SIMREG_NOTIFY_MAX_ATTEMPTS tries, kept for staff to look at.

Leasing is a short transaction of its own. On PostgreSQL the due rows are taken with
`FOR UPDATE SKIP LOCKED`, so deliverers running at once take disjoint rows; SQLite has one
writer at a time, and takes the rows in a single UPDATE … RETURNING. A result is recorded only
while the lease that sent it is still the row's lease: a deliverer that outlived its lease
leaves the row to whoever took it next.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

import structlog
from prometheus_client import Counter
from sqlalchemy import ColumnElement, CursorResult, Table, or_, select, update
from sqlalchemy.orm import Session

from app.companies.models import CorporateSubscriber
from app.config import Settings
from app.core.runtime import Runtime
from app.db.units import commit_batch
from app.notifications import repository
from app.notifications.channels import ChannelRouter, DeliveryFailed, OutgoingMessage
from app.notifications.models import Audience, Notification, NotificationStatus

log = structlog.get_logger("simreg.notifications")

DELIVERED = Counter(
    "simreg_notifications_delivered_total", "Notifications delivered, by channel.", ["channel"]
)
FAILED = Counter(
    "simreg_notifications_failed_total",
    "Failed notification delivery attempts, by channel ('none' when no channel could be chosen).",
    ["channel"],
)
DEAD = Counter("simreg_notifications_dead_total", "Notifications given up after the last attempt.")

_TABLE = cast(Table, Notification.__table__)
_ERROR_WIDTH = 200
# A batch starts sends for at most this long; its lease adds room for the last send to finish
# (an SMTP exchange is a few round trips, each with its own timeout). What is left unsent when
# the window closes is handed back at once rather than waiting for the lease to end.
_SEND_WINDOW_SECONDS = 120.0
_TIMEOUTS_PER_SEND = 3


@dataclass
class DeliveryReport:
    """What one delivery call did."""

    picked: int = 0  # leased and handled (sent, or failed and recorded)
    sent: int = 0
    retried: int = 0  # failed; waiting for the next attempt
    dead: int = 0  # failed for the last time

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return asdict(self)

    def add(self, other: DeliveryReport) -> None:
        """Sum another report into this one."""
        self.picked += other.picked
        self.sent += other.sent
        self.retried += other.retried
        self.dead += other.dead


def retry_delay(attempts: int, *, base: float, cap: float) -> float:
    """Seconds before the next try after `attempts` failed tries: base × 2^(attempts-1), at
    most `cap`."""
    exponent = min(max(attempts - 1, 0), 60)
    return float(min(base * 2.0**exponent, cap))


def lease_duration(settings: Settings) -> dt.timedelta:
    """How long a deliverer holds the messages of one batch."""
    seconds = _SEND_WINDOW_SECONDS + _TIMEOUTS_PER_SEND * settings.notify_timeout_seconds
    return dt.timedelta(seconds=seconds)


def due_now(now: dt.datetime) -> list[ColumnElement[bool]]:
    """Conditions of a message the next delivery run may take."""
    return [
        _TABLE.c.status == NotificationStatus.PENDING,
        _TABLE.c.next_attempt_at <= now,
        # A lease that has ended belongs to a deliverer that died or stalled.
        or_(_TABLE.c.lease_until.is_(None), _TABLE.c.lease_until <= now),
    ]


def lease_due(
    session: Session, *, count: int, now: dt.datetime, lease_until: dt.datetime
) -> list[OutgoingMessage]:
    """Lease up to `count` due messages until `lease_until`, oldest due first, and read what
    sending them needs. The caller commits."""
    picked = (
        select(_TABLE.c.id)
        .where(*due_now(now))
        .order_by(_TABLE.c.next_attempt_at, _TABLE.c.id)
        .limit(count)
    )
    ids = repository.lease_picked(session, _TABLE, picked, lease_until=lease_until)
    if not ids:
        return []
    rows = session.execute(
        select(
            _TABLE,
            CorporateSubscriber.name,
            CorporateSubscriber.inn,
            CorporateSubscriber.notify_email,
            CorporateSubscriber.notify_webhook_url,
            CorporateSubscriber.webhook_secret,
        )
        .join(CorporateSubscriber, CorporateSubscriber.id == _TABLE.c.subscriber_id)
        .where(_TABLE.c.id.in_(ids))
        .order_by(_TABLE.c.next_attempt_at, _TABLE.c.id)
    ).all()
    return [
        OutgoingMessage(
            id=row.id,
            audience=Audience(row.audience),
            event=row.event,
            subscriber_id=row.subscriber_id,
            number_id=row.number_id,
            threshold=row.threshold,
            deadline_at=row.deadline_at,
            created_at=row.created_at,
            attempts=row.attempts,
            lease_until=lease_until,
            msisdn=row.msisdn,
            payload_json=row.payload,
            company_name=row.name,
            company_inn=row.inn,
            notify_email=row.notify_email,
            notify_webhook_url=row.notify_webhook_url,
            webhook_secret=row.webhook_secret,
        )
        for row in rows
    ]


def _ours(message: OutgoingMessage) -> list[ColumnElement[bool]]:
    return [
        _TABLE.c.id == message.id,
        _TABLE.c.status == NotificationStatus.PENDING,
        _TABLE.c.lease_until == message.lease_until,
    ]


def _changed(session: Session, statement: Any) -> bool:
    result = cast(CursorResult[Any], session.execute(statement))
    # Each result is kept at once: a deliverer that dies next must not send it again.
    commit_batch(session)
    return result.rowcount == 1


def _record_sent(
    session: Session, message: OutgoingMessage, *, channel: str, now: dt.datetime
) -> bool:
    return _changed(
        session,
        update(_TABLE)
        .where(*_ours(message))
        .values(
            status=NotificationStatus.SENT,
            channel=channel,
            sent_at=now,
            attempts=message.attempts + 1,
            lease_until=None,
            last_error=None,
        ),
    )


def _record_failure(
    session: Session, message: OutgoingMessage, *, reason: str, settings: Settings, now: dt.datetime
) -> NotificationStatus | None:
    """Store a failed attempt; the status the message is left in (None: the lease was lost)."""
    attempts = message.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_error": reason[:_ERROR_WIDTH],
        "lease_until": None,
    }
    if attempts >= settings.notify_max_attempts:
        status = NotificationStatus.DEAD
        values["status"] = status
    else:
        status = NotificationStatus.PENDING
        delay = retry_delay(
            attempts,
            base=settings.notify_retry_base_seconds,
            cap=settings.notify_retry_max_seconds,
        )
        values["next_attempt_at"] = now + dt.timedelta(seconds=delay)
    if not _changed(session, update(_TABLE).where(*_ours(message)).values(**values)):
        return None
    return status


def _release(session: Session, messages: Sequence[OutgoingMessage]) -> None:
    """Hand back leased messages that were not tried: due again at once."""
    session.execute(
        update(_TABLE)
        .where(
            _TABLE.c.id.in_([m.id for m in messages]),
            _TABLE.c.status == NotificationStatus.PENDING,
            # One batch, one lease.
            _TABLE.c.lease_until == messages[0].lease_until,
        )
        .values(lease_until=None)
    )
    commit_batch(session)


def _send_one(
    message: OutgoingMessage, router: ChannelRouter, down: dict[str, str]
) -> tuple[str | None, DeliveryFailed | None]:
    """Send one message: (the channel's name, None) when delivered, (name, why) when not.
    `down` holds the receivers that failed earlier in the batch, with the reason."""
    try:
        channel = router.channel_for(message)
    except DeliveryFailed as exc:
        return None, exc
    earlier = down.get(channel.destination)
    if earlier is not None:
        # The receiver failed a moment ago: not worth another timeout in this batch.
        return channel.name, DeliveryFailed(earlier, receiver_down=True)
    try:
        channel.send(message)
    except DeliveryFailed as exc:
        if exc.receiver_down:
            down[channel.destination] = exc.reason
        return channel.name, exc
    except Exception as exc:
        # A fault of ours must not stop the batch; the message waits like any failed one.
        log.error(
            "notification channel error",
            notification_id=message.id,
            channel=channel.name,
            error=type(exc).__name__,
        )
        return channel.name, DeliveryFailed(f"internal error: {type(exc).__name__}")
    return channel.name, None


def _send_batch(
    session: Session,
    runtime: Runtime,
    router: ChannelRouter,
    batch: Sequence[OutgoingMessage],
    report: DeliveryReport,
    *,
    started: float,
) -> int:
    """Send a leased batch, recording each result as it comes; returns how many were tried."""
    settings = runtime.settings
    down: dict[str, str] = {}
    for index, message in enumerate(batch):
        if time.monotonic() - started > _SEND_WINDOW_SECONDS:
            _release(session, batch[index:])
            log.info("notification batch handed back", released=len(batch) - index)
            return index
        channel, failure = _send_one(message, router, down)
        _record(
            session,
            message,
            channel,
            failure,
            settings=settings,
            now=runtime.clock.now(),
            report=report,
        )
    return len(batch)


def _record(
    session: Session,
    message: OutgoingMessage,
    channel: str | None,
    failure: DeliveryFailed | None,
    *,
    settings: Settings,
    now: dt.datetime,
    report: DeliveryReport,
) -> None:
    """Record what became of one message: sent, to be tried again, or dead."""
    if failure is None:
        if _record_sent(session, message, channel=str(channel), now=now):
            report.sent += 1
            DELIVERED.labels(channel=str(channel)).inc()
        else:
            _lease_lost(message)
        return
    FAILED.labels(channel=channel or "none").inc()
    status = _record_failure(session, message, reason=failure.reason, settings=settings, now=now)
    if status is None:
        _lease_lost(message)
    elif status is NotificationStatus.DEAD:
        report.dead += 1
        DEAD.inc()
        log.error(
            "notification dead",
            notification_id=message.id,
            channel=channel,
            attempts=message.attempts + 1,
            error=failure.reason,
        )
    else:
        report.retried += 1
        log.warning(
            "notification delivery failed",
            notification_id=message.id,
            channel=channel,
            attempts=message.attempts + 1,
            error=failure.reason,
        )


def _lease_lost(message: OutgoingMessage) -> None:
    log.warning(
        "notification lease lost; its result is left to the deliverer that holds it now",
        notification_id=message.id,
    )


def deliver_due(
    runtime: Runtime, *, limit: int | None = None, router: ChannelRouter | None = None
) -> DeliveryReport:
    """Deliver up to `limit` due messages (SIMREG_NOTIFY_BATCH by default), leased in batches
    of SIMREG_NOTIFY_BATCH; each result is committed as soon as it is known."""
    settings = runtime.settings
    wanted = settings.notify_batch if limit is None else max(limit, 0)
    report = DeliveryReport()
    channels = router or ChannelRouter(settings, runtime.clock)
    try:
        with runtime.sessions() as session:
            while report.picked < wanted:
                count = min(settings.notify_batch, wanted - report.picked)
                now = runtime.clock.now()
                batch = lease_due(
                    session, count=count, now=now, lease_until=now + lease_duration(settings)
                )
                # The lease is seen by other deliverers before any message goes out.
                commit_batch(session)
                started = time.monotonic()
                if not batch:
                    break
                tried = _send_batch(session, runtime, channels, batch, report, started=started)
                report.picked += tried
                if tried < len(batch) or len(batch) < count:
                    break
    finally:
        if router is None:
            channels.close()
    if report.picked:
        log.info("notifications delivery", **report.as_dict())
    return report


__all__ = ["DeliveryReport", "deliver_due", "due_now", "lease_due", "lease_duration", "retry_delay"]
