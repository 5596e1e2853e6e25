"""Uploaded files on disk. A list holds the personal data of everyone on it, so its file lives
only while its upload is processed: it is deleted when the upload ends, done or failed (the
refused rows keep their cells, sealed, for the error report). What is left behind anyway, the
file of a worker that died between its last commit and the deletion, or a request's spooled
file when the API stopped mid-request, is swept by the daily housekeeping job."""

from __future__ import annotations

import time
from pathlib import Path

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.uploads.models import Upload, UploadStatus

log = structlog.get_logger("simreg.uploads")

INCOMING = "incoming"
# Files younger than this are never swept: a new upload's file is moved in before its row is
# committed, and a request spools its body before that.
SWEEP_AFTER_SECONDS = 3600


def discard(path: str | Path) -> None:
    """Delete an upload's file; already gone is fine."""
    try:
        Path(path).unlink(missing_ok=True)
    except OSError as exc:  # the sweep tries again
        log.warning("upload file not deleted", error=type(exc).__name__)


def sweep(session: Session, *, upload_dir: Path) -> int:
    """Delete the files in `upload_dir` (and its incoming spool) that no unfinished upload
    needs, once they are older than SWEEP_AFTER_SECONDS; how many were deleted.

    File ages are wall-clock times, so they are measured on the wall clock, not on the
    registry's clock (which dev and test move)."""
    if not upload_dir.is_dir():
        return 0
    needed = {
        Path(path).resolve()
        for path in session.scalars(
            select(Upload.stored_path).where(
                Upload.status.not_in([UploadStatus.DONE, UploadStatus.FAILED])
            )
        )
    }
    cutoff = time.time() - SWEEP_AFTER_SECONDS
    deleted = 0
    for directory in (upload_dir, upload_dir / INCOMING):
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            try:
                if not path.is_file() or path.stat().st_mtime > cutoff:
                    continue
            except OSError:
                continue  # deleted meanwhile
            if path.resolve() in needed:
                continue
            discard(path)
            deleted += 1
    if deleted:
        log.info("upload files swept", deleted=deleted)
    return deleted
