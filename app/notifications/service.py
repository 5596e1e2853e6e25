"""The rules of notification settings and the outbox's listings. The caller commits."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from app.companies.models import CorporateSubscriber
from app.companies.service import get_subscriber
from app.core.errors import FieldProblem, InvalidInput
from app.core.messages import Text
from app.notifications import targets
from app.notifications.delivery import due_now
from app.notifications.models import Notification, NotificationStatus

# RFC 5321 limits; the local part in the dot-atom form every mail system accepts.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_LOCAL_MAX = 64
_DOMAIN_MAX = 253


def check_notify_email(value: str) -> FieldProblem | None:
    """None for a deliverable address (a Cyrillic domain such as почта.рф is fine), else what
    is wrong with it."""

    def bad(why: str) -> FieldProblem:
        return FieldProblem("notify_email", "notify_email.invalid", Text(f"notify_email.{why}"))

    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return bad("no_at")
    if len(local) > _LOCAL_MAX or not _LOCAL_PART.fullmatch(local):
        return bad("local_part")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return bad("domain")
    labels = ascii_domain.split(".")
    if (
        len(ascii_domain) > _DOMAIN_MAX
        or len(labels) < 2
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        return bad("domain")
    return None


def check_webhook_url(
    value: str, *, production: bool, allow_loopback: bool = False
) -> FieldProblem | None:
    """None for a URL notifications may be posted to, else what is wrong with it. The host is
    not looked up here (see app.notifications.targets); each delivery checks its addresses."""
    field = "notify_webhook_url"
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return FieldProblem(field, f"{field}.invalid", Text("webhook_url.spaces"))
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return FieldProblem(field, f"{field}.invalid", Text("webhook_url.not_url"))
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        return FieldProblem(field, f"{field}.scheme", Text("webhook_url.scheme"))
    if parts.username is not None or parts.password is not None:
        return FieldProblem(
            field,
            f"{field}.credentials",
            Text("webhook_url.credentials"),
        )
    if port == 0:
        return FieldProblem(field, f"{field}.invalid", Text("webhook_url.port_zero"))
    host = parts.hostname
    allow_loopback = allow_loopback and not production
    if scheme == "http" and not (allow_loopback and targets.is_loopback_host(host)):
        insecure = "webhook_url.insecure" + (".production" if production else "")
        return FieldProblem(field, f"{field}.insecure", Text(insecure))
    if targets.host_refusal(host, allow_loopback=allow_loopback) is not None:
        return FieldProblem(
            field,
            f"{field}.address",
            Text("webhook_url.address"),
        )
    return None


def get_notification_settings(session: Session, *, subscriber_id: int) -> CorporateSubscriber:
    """The company whose settings are asked for; NotFound when there is none."""
    return get_subscriber(session, subscriber_id=subscriber_id)


def update_notification_settings(
    session: Session,
    *,
    subscriber_id: int,
    notify_email: str | None,
    notify_webhook_url: str | None,
    webhook_secret: str | None,
    secret_given: bool,
    production: bool,
    allow_loopback: bool = False,
) -> CorporateSubscriber:
    """Replace where a company's notifications go. The secret changes only when given
    (`secret_given`; None removes it); a webhook needs a secret, given now or kept."""
    notify_email = notify_email or None
    notify_webhook_url = notify_webhook_url or None
    problems: list[FieldProblem] = []
    if notify_email is not None and (problem := check_notify_email(notify_email)):
        problems.append(problem)
    if notify_webhook_url is not None and (
        problem := check_webhook_url(
            notify_webhook_url, production=production, allow_loopback=allow_loopback
        )
    ):
        problems.append(problem)
    subscriber = get_subscriber(session, subscriber_id=subscriber_id)
    secret = webhook_secret if secret_given else subscriber.webhook_secret
    if notify_webhook_url is not None and not secret:
        problems.append(
            FieldProblem(
                "webhook_secret",
                "webhook_secret.required",
                Text("webhook_secret.required"),
            )
        )
    if problems:
        raise InvalidInput(
            Text("problem.invalid-input.detail", count=len(problems)),
            errors=problems,
        )
    subscriber.notify_email = notify_email
    subscriber.notify_webhook_url = notify_webhook_url
    subscriber.webhook_secret = secret
    session.flush()
    return subscriber


def list_notifications(
    session: Session,
    *,
    subscriber_id: int | None,
    status: NotificationStatus | None,
    before_id: int | None,
    limit: int,
) -> list[Notification]:
    """A page of the outbox, newest first (keyset on id), of one company or of all."""
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if subscriber_id is not None:
        query = query.where(Notification.subscriber_id == subscriber_id)
    if status is not None:
        query = query.where(Notification.status == status)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class OutboxBacklog:
    """How much of the outbox waits, and how much was given up."""

    pending: int
    due: int
    failing: int
    dead: int
    oldest_pending_at: dt.datetime | None


def outbox_backlog(
    session: Session, *, now: dt.datetime, subscriber_id: int | None = None
) -> OutboxBacklog:
    """Counts of waiting and dead messages, of one company or of all, in one query."""
    pending = Notification.status == NotificationStatus.PENDING
    query = select(
        func.count().filter(pending),
        func.count().filter(and_(*due_now(now))),
        func.count().filter(pending, Notification.attempts > 0),
        func.count().filter(Notification.status == NotificationStatus.DEAD),
        func.min(Notification.created_at).filter(pending),
    ).where(Notification.status.in_((NotificationStatus.PENDING, NotificationStatus.DEAD)))
    if subscriber_id is not None:
        query = query.where(Notification.subscriber_id == subscriber_id)
    row = session.execute(query).one()
    oldest = row[4]
    if isinstance(oldest, dt.datetime) and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return OutboxBacklog(
        pending=int(row[0] or 0),
        due=int(row[1] or 0),
        failing=int(row[2] or 0),
        dead=int(row[3] or 0),
        oldest_pending_at=oldest if isinstance(oldest, dt.datetime) else None,
    )
