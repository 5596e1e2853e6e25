"""Where an upload runs: each attempt in a worker process of its own, watched from outside it.

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

import datetime as dt
import enum
import multiprocessing
import resource
import time

import structlog

from app.config import Settings
from app.core.clock import FixedClock
from app.core.logging import configure_logging
from app.core.runtime import Runtime
from app.uploads import attempts, service
from app.uploads.models import Upload, UploadStatus

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
        return service.process_upload(runtime, upload_id)
    finished = False
    while True:
        service.settle_prepared(runtime.engine)  # what a worker that died mid-commit left
        taken = attempts.begin(runtime, upload_id)
        if taken == "held":
            return None
        if taken == "failed":
            break
        ended = _attempt(runtime, upload_id)
        if ended is _Ended.FINISHED:
            finished = True
            break
        service.settle_prepared(runtime.engine)
        if not attempts.stopped(runtime, upload_id, timed_out=ended is _Ended.TIMED_OUT):
            break
    with runtime.sessions() as session:
        upload = session.get(Upload, upload_id)
    if finished and upload is not None and upload.status is UploadStatus.DONE:
        service.count_rows(upload)  # the worker's own metrics went with it
    return upload


def _forks(runtime: Runtime) -> bool:
    """Whether a worker process can reach the database: an in-memory SQLite database exists
    in this process alone."""
    url = runtime.engine.url
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


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
        service.run_claimed(runtime, upload_id)
    except Exception as exc:
        # The type only: a message may quote what it failed on, personal data included.
        log.error("upload worker failed", upload_id=upload_id, error=type(exc).__name__)
        raise SystemExit(1) from None
    finally:
        runtime.engine.dispose()
