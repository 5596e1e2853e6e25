"""Writes of confirmation requests by the batch, where the engines differ."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

import orjson
from sqlalchemy import Table, bindparam, text, update
from sqlalchemy.orm import Session

from app.db.arrays import array_literal
from app.db.base import UtcDateTime
from app.db.session import insert_ignoring_duplicates, is_postgres
from app.portal.models import ConfirmationRequest, RequestStatus, SandboxDelivery

_MARK_SENT_PG = text(
    "UPDATE confirmation_requests SET status = :sent, portal_request_id = given.pid,"
    " sent_at = :now, expires_at = :expires_at, attempts = attempts + 1,"
    " next_attempt_at = NULL, last_error = NULL"
    " FROM unnest(CAST(:ids AS BIGINT[]), CAST(:pids AS TEXT[])) AS given(id, pid)"
    " WHERE confirmation_requests.id = given.id"
).bindparams(bindparam("now", type_=UtcDateTime()), bindparam("expires_at", type_=UtcDateTime()))


def mark_sent(
    session: Session,
    accepted: Sequence[tuple[int, str]],
    *,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> None:
    """The portal took these requests: (request id, the portal's id of it)."""
    if not accepted:
        return
    if is_postgres(session):
        ids, pids = zip(*accepted, strict=True)
        session.execute(
            _MARK_SENT_PG,
            {
                "sent": RequestStatus.SENT.value,
                "now": now,
                "expires_at": expires_at,
                "ids": array_literal(ids),
                "pids": array_literal(pids),
            },
        )
        return
    table = cast(Table, ConfirmationRequest.__table__)
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("request_id"))
        .values(
            status=RequestStatus.SENT.value,
            portal_request_id=bindparam("pid"),
            sent_at=now,
            expires_at=expires_at,
            attempts=table.c.attempts + 1,
            next_attempt_at=None,
            last_error=None,
        ),
        [{"request_id": request_id, "pid": pid} for request_id, pid in accepted],
    )


def cancel_requests(session: Session, request_ids: Sequence[int], *, now: dt.datetime) -> None:
    """Requests whose registration ended before they went out: nobody is to be asked."""
    if not request_ids:
        return
    session.execute(
        update(ConfirmationRequest)
        .where(ConfirmationRequest.id.in_(list(request_ids)))
        .values(
            status=RequestStatus.CANCELLED,
            matched_at=now,
            last_error="the registration ended before the request was sent",
        )
        .execution_options(synchronize_session=False)
    )


_LATE = (
    "SELECT q.operator_id, count(*) FROM ("
    " SELECT operator_id, number_id,"
    " row_number() OVER (PARTITION BY operator_id ORDER BY id) AS place"
    " FROM confirmation_requests WHERE status = 'queued') AS q"
    " JOIN numbers ON numbers.id = q.number_id"
    " WHERE numbers.deadline_at IS NOT NULL AND {seconds_left} * :rate < q.place"
    " GROUP BY q.operator_id"
)
_SECONDS_LEFT = {
    "postgresql": "EXTRACT(EPOCH FROM (numbers.deadline_at - :now))",
    # SQLite keeps UTC times as text that julianday() reads.
    "sqlite": "(julianday(numbers.deadline_at) - julianday(:now)) * 86400.0",
}


def late_numbers_by_operator(session: Session, *, rate: float, now: dt.datetime) -> dict[int, int]:
    """Per operator, the numbers whose deadline comes before their queued request's turn to be
    sent at `rate` (a request's turn: its place in the operator's queue / rate)."""
    dialect = session.get_bind().dialect.name
    statement = text(_LATE.format(seconds_left=_SECONDS_LEFT[dialect])).bindparams(
        bindparam("now", type_=UtcDateTime())
    )
    return {
        int(operator_id): int(count)
        for operator_id, count in session.execute(statement, {"now": now, "rate": rate})
    }


_DELIVER_PG = text(
    "INSERT INTO sandbox_portal_deliveries"
    " (portal_request_id, request_id, doc_hash, payload, state, delivered_at)"
    " SELECT given.pid, given.rid, given.dh, CAST(given.payload AS JSON), :state, :at"
    " FROM unnest(CAST(:pids AS TEXT[]), CAST(:rids AS TEXT[]), CAST(:dhs AS TEXT[]),"
    " CAST(:payloads AS TEXT[])) AS given(pid, rid, dh, payload)"
    " ON CONFLICT DO NOTHING RETURNING request_id, portal_request_id"
).bindparams(bindparam("at", type_=UtcDateTime()))


def insert_deliveries(
    session: Session, rows: Sequence[dict[str, Any]], *, state: str, at: dt.datetime
) -> dict[str, str]:
    """The sandbox portal's new deliveries (portal_request_id, request_id, doc_hash, payload);
    a request id delivered before is left as it was. Returns request id → portal id of the rows
    written."""
    if not rows:
        return {}
    if is_postgres(session):
        written = session.execute(
            _DELIVER_PG,
            {
                "state": state,
                "at": at,
                "pids": array_literal([r["portal_request_id"] for r in rows]),
                "rids": array_literal([r["request_id"] for r in rows]),
                "dhs": array_literal([r["doc_hash"] for r in rows]),
                "payloads": array_literal([orjson.dumps(r["payload"]).decode() for r in rows]),
            },
        )
    else:
        written = session.execute(
            insert_ignoring_duplicates(session, SandboxDelivery.__table__).returning(
                SandboxDelivery.request_id, SandboxDelivery.portal_request_id
            ),
            [{**r, "state": state, "delivered_at": at} for r in rows],
        )
    return {row.request_id: row.portal_request_id for row in written}
