"""HTTP endpoints of notifications: where a company's messages go, and the outbox."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query

from app.auth.dependencies import PrincipalDep, ensure_company_visible, require
from app.auth.service import Principal, Role
from app.companies.models import CorporateSubscriber
from app.companies.service import get_subscriber
from app.config import Environment, Settings
from app.core.deps import ClockDep, CursorDep, RuntimeDep, SessionDep
from app.core.integers import RowId
from app.core.pagination import CursorCodec
from app.notifications import service
from app.notifications.channels import company_channel_name
from app.notifications.models import Notification, NotificationStatus
from app.notifications.schemas import (
    Backlog,
    NotificationBoard,
    NotificationOut,
    NotificationPage,
    NotificationSettingsIn,
    NotificationSettingsOut,
)

router = APIRouter(prefix="/api/v1", tags=["notifications"])
log = structlog.get_logger("simreg.notifications")

Staff = Annotated[Principal, require(Role.OPERATOR_STAFF)]
StatusFilter = Annotated[
    NotificationStatus | None, Query(alias="status", description="pending, sent or dead")
]
Limit = Annotated[int, Query(ge=1, le=500)]


def visible_company(company_id: RowId, principal: PrincipalDep) -> int:
    """The company in the path, when the caller may see it (checked before the body is read,
    so a caller without access learns nothing from validation errors)."""
    ensure_company_visible(principal, company_id)
    return company_id


CompanyId = Annotated[int, Depends(visible_company)]


def _settings_out(subscriber: CorporateSubscriber, settings: Settings) -> NotificationSettingsOut:
    return NotificationSettingsOut(
        company_id=subscriber.id,
        notify_email=subscriber.notify_email,
        notify_webhook_url=subscriber.notify_webhook_url,
        webhook_secret_set=bool(subscriber.webhook_secret),
        channel=company_channel_name(
            notify_webhook_url=subscriber.notify_webhook_url,
            notify_email=subscriber.notify_email,
            smtp_host=settings.smtp_host,
        ),
    )


@router.get("/companies/{company_id}/notification-settings", response_model=NotificationSettingsOut)
def get_notification_settings(
    company_id: CompanyId, session: SessionDep, runtime: RuntimeDep
) -> NotificationSettingsOut:
    """Where the company's notifications go; the webhook secret is never shown."""
    subscriber = service.get_notification_settings(session, subscriber_id=company_id)
    return _settings_out(subscriber, runtime.settings)


@router.put("/companies/{company_id}/notification-settings", response_model=NotificationSettingsOut)
def put_notification_settings(
    company_id: CompanyId,
    body: NotificationSettingsIn,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
) -> NotificationSettingsOut:
    """Set the company's notification e-mail and webhook (with its signing secret)."""
    subscriber = service.update_notification_settings(
        session,
        subscriber_id=company_id,
        notify_email=body.notify_email,
        notify_webhook_url=body.notify_webhook_url,
        webhook_secret=body.webhook_secret,
        secret_given="webhook_secret" in body.model_fields_set,
        production=runtime.settings.env is Environment.PRODUCTION,
        allow_loopback=runtime.settings.webhook_allow_loopback,
    )
    # Contacts and the secret stay out of the log; what changed is enough to trace it.
    log.info(
        "notification settings changed",
        company_id=company_id,
        by=principal.role.value,
        email=subscriber.notify_email is not None,
        webhook=subscriber.notify_webhook_url is not None,
        secret_changed="webhook_secret" in body.model_fields_set,
    )
    return _settings_out(subscriber, runtime.settings)


def _page(
    rows: list[Notification], *, limit: int, cursors: CursorCodec, scope: dict[str, object]
) -> tuple[list[NotificationOut], str | None]:
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode({"before": rows[-1].id, "scope": scope}) if more else None
    return [NotificationOut.model_validate(r) for r in rows], next_cursor


def _before(cursors: CursorCodec, cursor: str | None, scope: dict[str, object]) -> int | None:
    return int(cursors.decode(cursor, scope=scope)["before"]) if cursor else None


@router.get("/companies/{company_id}/notifications", response_model=NotificationPage)
def list_company_notifications(
    company_id: CompanyId,
    session: SessionDep,
    cursors: CursorDep,
    status_: StatusFilter = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> NotificationPage:
    """The company's outbox, newest first, a page at a time."""
    get_subscriber(session, subscriber_id=company_id)
    scope: dict[str, object] = {"list": "notifications", "s": company_id}
    rows = service.list_notifications(
        session,
        subscriber_id=company_id,
        status=status_,
        before_id=_before(cursors, cursor, scope),
        limit=limit + 1,
    )
    items, next_cursor = _page(rows, limit=limit, cursors=cursors, scope=scope)
    return NotificationPage(items=items, next_cursor=next_cursor)


@router.get("/notifications", response_model=NotificationBoard)
def list_all_notifications(
    session: SessionDep,
    cursors: CursorDep,
    clock: ClockDep,
    _: Staff,
    status_: StatusFilter = None,
    company_id: RowId | None = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> NotificationBoard:
    """Every company's outbox (or one company's), newest first, with the backlog counts."""
    scope: dict[str, object] = {"list": "notifications", "s": company_id}
    rows = service.list_notifications(
        session,
        subscriber_id=company_id,
        status=status_,
        before_id=_before(cursors, cursor, scope),
        limit=limit + 1,
    )
    items, next_cursor = _page(rows, limit=limit, cursors=cursors, scope=scope)
    backlog = service.outbox_backlog(session, now=clock.now(), subscriber_id=company_id)
    return NotificationBoard(
        items=items,
        next_cursor=next_cursor,
        backlog=Backlog(
            pending=backlog.pending,
            due=backlog.due,
            failing=backlog.failing,
            dead=backlog.dead,
            oldest_pending_at=backlog.oldest_pending_at,
        ),
    )
