"""Where an upload runs: leasing it, running each attempt (in a worker process of its own,
watched from outside it), and resuming it after a worker that died.

Reading and checking a file runs code the file can push to its limits: the XLSX reader is
native code, and a failed allocation aborts the whole process it runs in. In a worker of its
own, such a file takes down that worker only: the API (or the scheduler) keeps answering, the
attempt was counted before the worker started, and after two the upload fails with the reason
(app/uploads/attempts.py). The watcher renews the attempt's lease while the worker lives, and
stops a worker that runs past SIMREG_UPLOAD_WORKER_TIMEOUT_SECONDS; the worker's address space
is capped at SIMREG_UPLOAD_WORKER_MEMORY_MB.

Workers are forked from a small server process that multiprocessing starts once ("forkserver")
with the upload code imported, so one starts in tens of milliseconds; never from the API
process itself, whose threads a fork would not carry over.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import gc
import multiprocessing
import resource
import threading
import time
from collections.abc import Iterator

import structlog
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.clock import FixedClock
from app.core.logging import configure_logging
from app.core.runtime import Runtime
from app.uploads import attempts, checkpoints, files
from app.uploads.applying.staged import Counts, apply_staged
from app.uploads.applying.streamed import apply_streamed
from app.uploads.checking.whole_file import refuse_late
from app.uploads.intake import count_rows
from app.uploads.models import Upload, UploadMode, UploadStatus
from app.uploads.pipeline import (
    ProgressCallback,
    Run,
    StagingWriter,
    begin,
    open_file,
    read_through,
    start_over,
)
from app.uploads.reading.refusals import UploadRejected, words
from app.uploads.repository import in_memory, page_cache, streams_applies

log = structlog.get_logger("simreg.uploads")

_PROCESSES = multiprocessing.get_context("forkserver")
_PROCESSES.set_forkserver_preload([__name__])


class _Ended(enum.Enum):
    """How an attempt's worker ended."""

    FINISHED = "finished"  # on its own: the upload is done, failed, or left to the next attempt
    DIED = "died"
    TIMED_OUT = "timed_out"


def run_upload(runtime: Runtime, upload_id: int) -> Upload | None:
    """Run (or resume) one upload to its end, each attempt in a worker process. The upload as
    it ended; None when another worker holds it."""
    if not _forks(runtime):
        return process_upload(runtime, upload_id)
    finished = False
    while True:
        taken = attempts.begin(runtime, upload_id)
        if taken == "held":
            return None
        if taken == "failed":
            break
        ended = _attempt(runtime, upload_id)
        if ended is _Ended.FINISHED:
            finished = True
            break
        if not attempts.stopped(runtime, upload_id, timed_out=ended is _Ended.TIMED_OUT):
            break
    with runtime.sessions() as session:
        upload = session.get(Upload, upload_id)
    if finished and upload is not None and upload.status is UploadStatus.DONE:
        count_rows(upload)  # the worker's own metrics went with it
    return upload


def _forks(runtime: Runtime) -> bool:
    """Whether a worker process can reach the database: an in-memory SQLite database exists
    in this process alone."""
    return not in_memory(runtime.engine)


def _attempt(runtime: Runtime, upload_id: int) -> _Ended:
    """One attempt, claimed already, in a worker process: wait for it, renewing its lease,
    and stop it when it runs too long."""
    settings = runtime.settings
    # A clock that stands still (tests, the demo) is handed over at its time; any other is
    # the worker's own, from the settings (the wall clock, or the dev clock in the database).
    now = runtime.clock.now() if isinstance(runtime.clock, FixedClock) else None
    process = _PROCESSES.Process(
        target=_work, args=(settings, now, upload_id), name=f"upload-{upload_id}", daemon=True
    )
    process.start()
    deadline = time.monotonic() + settings.upload_worker_timeout_seconds
    renew = settings.upload_lease_seconds / 3
    while True:
        process.join(max(min(renew, deadline - time.monotonic()), 0))
        if process.exitcode is not None:
            break
        if time.monotonic() >= deadline:
            process.kill()
            process.join()
            process.close()
            log.warning(
                "upload worker stopped: it ran too long",
                upload_id=upload_id,
                seconds=settings.upload_worker_timeout_seconds,
            )
            return _Ended.TIMED_OUT
        attempts.keep(runtime, upload_id)
    code = process.exitcode
    process.close()
    if code == 0:
        return _Ended.FINISHED
    log.error("upload worker died", upload_id=upload_id, exit_code=code)
    return _Ended.DIED


def _work(settings: Settings, now: dt.datetime | None, upload_id: int) -> None:
    """In the worker process: the claimed attempt, with the address space capped."""
    if settings.upload_worker_memory_mb:
        limit = settings.upload_worker_memory_mb * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    configure_logging(settings.log_level)
    runtime = Runtime.build(settings, clock=FixedClock(now) if now is not None else None)
    try:
        run_claimed(runtime, upload_id)
    except Exception as exc:
        # The type only: a message may quote what it failed on, personal data included.
        log.error("upload worker failed", upload_id=upload_id, error=type(exc).__name__)
        raise SystemExit(1) from None
    finally:
        runtime.engine.dispose()


def process_upload(
    runtime: Runtime, upload_id: int, *, progress: ProgressCallback | None = None
) -> Upload | None:
    """Run (or resume) one upload to `done` or `failed`, in this process (`run_upload` runs
    each attempt in a worker process). None when another worker holds it."""
    taken = attempts.begin(runtime, upload_id)
    if taken == "held":
        return None
    if taken == "run":
        run_claimed(runtime, upload_id, progress=progress)
    with runtime.sessions() as session:
        return session.get(Upload, upload_id)


def run_claimed(
    runtime: Runtime, upload_id: int, *, progress: ProgressCallback | None = None
) -> None:
    """One attempt, already claimed and counted: the upload ends `done` or `failed`, or is
    left to the next attempt."""
    checkpoints.reach("attempt.started")
    try:
        _run(Run(runtime, upload_id, progress))
    except UploadRejected as exc:
        attempts.fail(runtime, upload_id, code=exc.code, reason=exc.reason)
    except Exception:
        # Nothing is half-applied (apply is one transaction): let a later attempt resume,
        # unless this upload keeps failing, which a retry will not cure.
        log.exception("upload processing stopped", upload_id=upload_id)
        with runtime.sessions() as session:
            tried = session.get_one(Upload, upload_id).attempts
            session.execute(update(Upload).where(Upload.id == upload_id).values(lease_until=None))
            session.commit()
        if tried >= attempts.MAX_ATTEMPTS:
            attempts.fail(
                runtime,
                upload_id,
                code="upload.internal_error",
                reason=words("upload.internal_error"),
            )
    with runtime.sessions() as session:
        upload = session.get_one(Upload, upload_id)
        if upload.status is UploadStatus.DONE:
            files.discard(upload.stored_path)  # a failed one's went with the failure


def _run(run: Run) -> None:
    """Carry the upload through its stages from where it stands: a streamed apply in one
    go; otherwise the check of every row, then (an apply) the staged rows applied. The
    attempt owns the session's transaction: each stage's end is committed here."""
    with _collector_paused(), run.runtime.sessions() as session:
        upload = session.get_one(Upload, run.upload_id)
        if _streams(session, upload):
            counts, applied_at = apply_streamed(run, session, upload)
            _finish(session, upload, counts, now=applied_at)
            return
        if upload.status in (UploadStatus.RECEIVED, UploadStatus.VALIDATING):
            _check(run, session, upload)
        if upload.status is UploadStatus.APPLYING:
            with page_cache(session):
                now = run.now()
                counts = apply_staged(session, upload, now=now)
                _finish(session, upload, counts, now=now)


def _streams(session: Session, upload: Upload) -> bool:
    """Whether this upload is applied as a stream: an apply on PostgreSQL that has staged
    nothing. (SQLite has one writer: a transaction held for the whole file would keep even
    the progress from view; there an apply stages its rows, then applies them at once.)"""
    return (
        streams_applies(session)
        and upload.mode is UploadMode.APPLY
        and upload.status in (UploadStatus.RECEIVED, UploadStatus.VALIDATING, UploadStatus.APPLYING)
        and not upload.resume_after_row
    )


def _check(run: Run, session: Session, upload: Upload) -> None:
    """Check every row. A dry run keeps nothing but the refused rows and is done; an apply
    stages the accepted rows batch by batch and is left `applying`."""
    table = open_file(run, upload)
    begin(session, upload, table, now=run.now())
    if upload.mode is UploadMode.VALIDATE and upload.resume_after_row:
        start_over(session, upload)
    late, repeated = read_through(run, session, upload, table, StagingWriter(run))
    batch_rows = run.runtime.settings.upload_batch_rows
    refuse_late(session, run.vault, upload, table, late, repeated, batch_rows=batch_rows)
    if upload.mode is UploadMode.VALIDATE:
        upload.status = UploadStatus.DONE
        upload.finished_at = run.now()
        upload.lease_until = None
    else:
        upload.status = UploadStatus.APPLYING
    session.commit()
    if upload.status is UploadStatus.DONE:
        count_rows(upload)


def _finish(session: Session, upload: Upload, counts: Counts, *, now: dt.datetime) -> None:
    """Mark an applied upload done, with its outcomes, and commit the apply."""
    outcomes: dict[str | None, int] = {}
    for (_, outcome), n in counts.items():
        outcomes[outcome] = outcomes.get(outcome, 0) + n
    upload.created = int(outcomes.get(None, 0))
    upload.superseded = int(outcomes.get("superseded", 0))
    upload.unchanged = int(outcomes.get("unchanged", 0))
    upload.status = UploadStatus.DONE
    upload.finished_at = now
    upload.lease_until = None
    checkpoints.reach("apply.before_commit")
    session.commit()
    count_rows(upload)
    log.info(
        "upload applied",
        upload_id=upload.id,
        created=upload.created,
        superseded=upload.superseded,
        unchanged=upload.unchanged,
        rejected=upload.rejected,
    )


_paused_lock = threading.Lock()
_paused_count = 0


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while an upload is processed.

    Checking a batch makes hundreds of thousands of short-lived lists that hold no reference
    cycles; the collector nevertheless rescans every live object each time they pile up,
    which took a third of the time of a validation. Reference counting still frees them.
    Several uploads may run side by side (threads of the API process): the last one out
    turns the collector back on."""
    global _paused_count
    with _paused_lock:
        if _paused_count == 0 and not gc.isenabled():
            # Someone else turned it off; leave it to them.
            leave_alone = True
        else:
            leave_alone = False
            _paused_count += 1
            gc.disable()
    try:
        yield
    finally:
        if not leave_alone:
            with _paused_lock:
                _paused_count -= 1
                if _paused_count == 0:
                    gc.enable()
