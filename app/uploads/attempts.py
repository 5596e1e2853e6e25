"""Attempts at an upload. Each is counted, and committed, before any of its work starts, so an
attempt whose worker dies (killed by the file it reads, stopped for taking too long, or gone
with its process) still counts; once MAX_ATTEMPTS are used up the upload fails with a reason
instead of running again, and killing its worker again."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import structlog
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from app.core.runtime import Runtime
from app.uploads import files
from app.uploads.models import StagedRow, Upload, UploadStatus
from app.uploads.reading.refusals import Words, say_words, words

log = structlog.get_logger("simreg.uploads")

MAX_ATTEMPTS = 2
_FINISHED = (UploadStatus.DONE, UploadStatus.FAILED)

WORKER_STOPPED = "upload.worker_stopped"
TIMED_OUT = "upload.timed_out"


def claim(session: Session, *, upload_id: int, now: dt.datetime, lease: dt.timedelta) -> int | None:
    """Take an unfinished upload for one more attempt unless a live worker holds it: the
    attempt's number, counted and committed. None when it is finished or held."""
    result = session.execute(
        update(Upload)
        .where(
            Upload.id == upload_id,
            Upload.status.not_in(_FINISHED),
            or_(Upload.lease_until.is_(None), Upload.lease_until < now),
        )
        .values(lease_until=now + lease, attempts=Upload.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return session.scalar(select(Upload.attempts).where(Upload.id == upload_id))


def begin(runtime: Runtime, upload_id: int) -> Literal["run", "held", "failed"]:
    """Claim the upload for an attempt: "run" it; "held" by a live worker (or finished); or
    "failed" here, unrun, because its attempts are used up (its workers died)."""
    lease = dt.timedelta(seconds=runtime.settings.upload_lease_seconds)
    with runtime.sessions() as session:
        attempt = claim(session, upload_id=upload_id, now=runtime.clock.now(), lease=lease)
    if attempt is None:
        return "held"
    if attempt > MAX_ATTEMPTS:
        log.warning("upload attempts used up", upload_id=upload_id, attempts=attempt - 1)
        fail(runtime, upload_id, code=WORKER_STOPPED, reason=words("upload.worker_stopped"))
        return "failed"
    return "run"


def keep(runtime: Runtime, upload_id: int) -> None:
    """Renew the lease of an attempt whose worker is alive (its watcher knows it is)."""
    lease = dt.timedelta(seconds=runtime.settings.upload_lease_seconds)
    with runtime.sessions() as session:
        session.execute(
            update(Upload)
            .where(Upload.id == upload_id, Upload.status.not_in(_FINISHED))
            .values(lease_until=runtime.clock.now() + lease)
        )
        session.commit()


def stopped(runtime: Runtime, upload_id: int, *, timed_out: bool) -> bool:
    """After an attempt's worker died or was stopped: whether to try again. When its attempts
    are used up the upload fails, with the reason; otherwise it is released at once."""
    with runtime.sessions() as session:
        upload = session.get(Upload, upload_id)
        if upload is None or upload.status in _FINISHED:
            return False  # it finished before its worker went
        if upload.attempts < MAX_ATTEMPTS:
            upload.lease_until = None
            session.commit()
            return True
    if timed_out:
        minutes = runtime.settings.upload_worker_timeout_seconds / 60
        fail(
            runtime,
            upload_id,
            code=TIMED_OUT,
            reason=words("upload.timed_out", minutes=f"{minutes:g}"),
        )
    else:
        fail(runtime, upload_id, code=WORKER_STOPPED, reason=words("upload.worker_stopped"))
    return False


def fail(runtime: Runtime, upload_id: int, *, code: str, reason: Words) -> None:
    """Mark the upload failed with the reason (kept as words, said in the reader's language;
    in Russian too, for readers of the stored text); its staged rows and its file go."""
    with runtime.sessions() as session:
        stored = session.scalar(select(Upload.stored_path).where(Upload.id == upload_id))
        session.execute(delete(StagedRow).where(StagedRow.upload_id == upload_id))
        session.execute(
            update(Upload)
            .where(Upload.id == upload_id)
            .values(
                status=UploadStatus.FAILED,
                failure_code=code,
                failure_message=say_words(reason),
                failure_text=reason,
                finished_at=runtime.clock.now(),
                lease_until=None,
            )
        )
        session.commit()
    if stored is not None:
        files.discard(stored)
    log.info("upload failed", upload_id=upload_id, code=code)
