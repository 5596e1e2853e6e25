"""Writing to the outbox: in the caller's transaction, once per cause (`dedupe_key`)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy.orm import Session

from app.db.session import insert_ignoring_duplicates
from app.notifications.models import Audience, Notification, NotificationStatus


def enqueue_many(session: Session, rows: list[dict[str, Any]], *, now: dt.datetime) -> None:
    """Queue messages (dicts of Notification columns); a `dedupe_key` already queued is
    skipped, so writing the same cause twice delivers it once. The caller commits."""
    if not rows:
        return
    defaults = {
        "number_id": None,
        "msisdn": None,
        "threshold": None,
        "deadline_at": None,
        "payload": None,
        "status": NotificationStatus.PENDING,
        "channel": None,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "last_error": None,
        "created_at": now,
        "sent_at": None,
    }
    prepared = []
    for row in rows:
        item = {**defaults, **row}
        if isinstance(item["payload"], dict):
            item["payload"] = json.dumps(item["payload"], ensure_ascii=False, sort_keys=True)
        prepared.append(item)
    session.execute(
        insert_ignoring_duplicates(session, Notification.__table__),
        prepared,
    )


def digest_row(*, subscriber_id: int, run_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A company's one digest of a deadline run."""
    return {
        "dedupe_key": f"digest:{subscriber_id}:{run_id}",
        "audience": Audience.COMPANY,
        "event": "digest",
        "subscriber_id": subscriber_id,
        "payload": payload,
    }


__all__ = ["digest_row", "enqueue_many"]
