"""The streamed apply (PostgreSQL): each batch is applied as soon as it is checked, while the
server writes one batch and this process checks the next, all in ONE transaction of the
worker's session, committed with the upload `done`. A crash rolls it all back, and the rerun
starts over; nothing is half-applied, and no reader sees new registrations beside their
numbers' old statuses.

Rows the whole-file checks refuse at the end (a number twice in the file, a person over the
cap) were applied with their batch: then the transaction is rolled back and the file goes
through again with those rows refused from the start.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import polars as pl
import structlog
from sqlalchemy import Connection, update
from sqlalchemy.orm import Session

from app.core.errors import Conflict
from app.core.messages import Text
from app.db.bulk import copy_csv
from app.db.units import commit_batch
from app.deadlines.settle import settle_new_users
from app.numbers import lifecycle
from app.numbers.models import PhoneNumber, Registration
from app.uploads import checkpoints, pipeline
from app.uploads.applying.batches import PreparedBatch, prepare_batch, with_outcomes
from app.uploads.applying.staged import Counts
from app.uploads.checking.whole_file import add_repetition
from app.uploads.models import Upload, UploadStatus
from app.uploads.reading.table import RowBatch
from app.uploads.repository import (
    current_of,
    ids_among,
    set_new_iccids,
    settle_for_stream,
    write_rejections,
)

log = structlog.get_logger("simreg.uploads")

# A streamed apply goes through the file at most this many times (see the module's note).
_PASSES = 3


def apply_streamed(
    run: pipeline.Run, session: Session, upload: Upload
) -> tuple[Counts, dt.datetime]:
    """Check and apply every row of `upload` in the session's transaction, left open for the
    caller to commit with the upload `done`. The rows per outcome, and the time the applied
    rows carry."""
    preset: dict[int, list[dict[str, str]]] = {}
    for _ in range(_PASSES):
        with _Stream(run, run.now(), preset) as stream:
            late, repeated = _one_pass(run, session, upload, stream)
            if not late:
                session.refresh(upload)  # the progress its own connection committed
                if not repeated.is_empty():
                    add_repetition(session, upload.id, repeated)
                upload.rows_read = stream.rows_read
                upload.accepted = stream.accepted
                upload.rejected = stream.rejected
                return stream.counts, stream.now
            session.rollback()
        for row_no, problem in late.items():
            preset.setdefault(row_no, []).append(problem)
        log.info("upload goes through again", upload_id=upload.id, refused=len(preset))
    raise RuntimeError(f"the whole-file checks kept refusing new rows of upload {upload.id}")


def _one_pass(
    run: pipeline.Run, session: Session, upload: Upload, stream: _Stream
) -> pipeline.LateRefusals:
    """One pass through the file, from the first row: what an earlier pass or attempt showed
    of its progress is dropped first."""
    table = pipeline.open_file(run, upload)
    pipeline.begin(session, upload, table, now=run.now())
    if upload.rows_read:
        pipeline.start_over(session, upload)
    if upload.status is not UploadStatus.APPLYING:
        upload.status = UploadStatus.APPLYING
        commit_batch(session)
    return pipeline.read_through(run, session, upload, table, stream)


@dataclass(frozen=True)
class _Progress:
    """Where a streamed apply stands after a batch (plain values: the sending thread must
    not read the upload, which belongs to the session)."""

    upload_id: int
    rows_total: int
    rows_read: int
    accepted: int
    rejected: int


class _Stream:
    """One pass of a streamed apply. Each checked batch is made ready to send in the calling
    thread and applied by a thread of its own, one batch at a time, while the calling
    thread prepares the next: the server does not wait on Python. The progress goes on a
    connection of its own, which commits at once (the session writes the upload's row only
    at the end, so neither waits on the other)."""

    def __init__(
        self, run: pipeline.Run, now: dt.datetime, preset: dict[int, list[dict[str, str]]]
    ) -> None:
        self.run = run
        self.now = now
        self.preset = preset
        self.rows_read = self.accepted = self.rejected = 0
        self.counts: Counts = {}
        self._progress = run.runtime.engine.connect()
        self._ready = False
        self._applied = pl.Series("applied", [], pl.Boolean)
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-writer")
        self._sending: Future[None] | None = None

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            # The writer belongs to its thread until its batch is done, whatever went wrong
            # here: wait for it before anyone rolls back.
            self._sender.shutdown(wait=True, cancel_futures=True)
        finally:
            self._progress.close()

    def outcomes(
        self, reader: Connection, staged: pl.DataFrame, good: pl.DataFrame
    ) -> pl.DataFrame:
        """The batch's rows with their outcomes against the current registrations."""
        return with_outcomes(staged, good, current_of(reader, good["number_id"]))

    def write(
        self,
        session: Session,
        upload: Upload,
        batch: RowBatch,
        accepted: int,
        staged: pl.DataFrame | None,
        rejections: list[dict[str, Any]],
    ) -> None:
        """Prepare one batch's accepted rows, then hand them and its refused rows to the
        writing thread once it is done with the batch before (whose failure is raised
        here)."""
        prepared = None
        if staged is not None and not staged.is_empty():
            rows = self._first_of_each_number(staged)
            for kind, outcome, n in rows.group_by("kind", "outcome").len().rows():
                self.counts[(kind, outcome)] = self.counts.get((kind, outcome), 0) + n
            prepared = prepare_batch(upload, rows, now=self.now)
        self.rows_read += batch.size
        self.accepted += accepted
        self.rejected += len(rejections)
        progress = _Progress(
            upload.id, upload.rows_total, self.rows_read, self.accepted, self.rejected
        )
        self.flush()
        if not self._ready:
            # At the first batch, not on entry: the pass commits the upload's status first,
            # and SET LOCAL lasts only to the end of a transaction.
            settle_for_stream(session)
            self._ready = True
        self._sending = self._sender.submit(self._send, session, prepared, rejections, progress)

    def _first_of_each_number(self, staged: pl.DataFrame) -> pl.DataFrame:
        """A number named twice is refused at the end (see the module's note); only one user
        per number can be current meanwhile, so only its first row is applied. The numbers
        applied so far are kept as one bit per number id."""
        rows = staged.filter(~pl.col("number_id").is_duplicated())
        ids = rows["number_id"]
        if len(self._applied) <= ids.max():  # type: ignore[operator]
            grown = max(int(ids.max()) + 1, 2 * len(self._applied))  # type: ignore[arg-type]
            self._applied.append(
                pl.repeat(False, grown - len(self._applied), eager=True, dtype=pl.Boolean)
            )
        rows = rows.filter(~self._applied.gather(ids))
        self._applied.scatter(rows["number_id"], True)
        return rows

    def flush(self) -> None:
        """Wait until the writing thread has applied the batch it holds; raise a failure."""
        sending, self._sending = self._sending, None
        if sending is not None:
            sending.result()

    def _send(
        self,
        session: Session,
        prepared: PreparedBatch | None,
        rejections: list[dict[str, Any]],
        progress: _Progress,
    ) -> None:
        """In the sending thread: apply a prepared batch, uncommitted, then report progress
        once all of it is written."""
        write_rejections(session, self.run.vault, progress.upload_id, rejections)
        if prepared is not None:
            _apply_registrations(session, prepared)
            _apply_moves(session, prepared)
        self._progress.execute(
            update(Upload)
            .where(Upload.id == progress.upload_id)
            .values(
                rows_read=progress.rows_read,
                accepted=progress.accepted,
                rejected=progress.rejected,
                lease_until=self.run.now() + self.run.lease,
            )
        )
        commit_batch(self._progress)
        checkpoints.reach("stream.batch_applied")
        if self.run.progress:
            self.run.progress(progress.rows_read, progress.rows_total)


def _apply_registrations(session: Session, batch: PreparedBatch) -> None:
    """The registrations of one prepared batch: superseded ones end, new ones are copied
    in, and numbers without an ICCID take the one given. Every statement finds its rows by
    id, so each batch costs the same however many the transaction has written before it. A
    registration ended meanwhile raises, and the apply is rolled back; a new current
    registration made meanwhile breaks the unique index, the same way."""
    if batch.ended:
        result = session.execute(
            update(Registration)
            .where(Registration.id.in_(batch.ended), Registration.ended_at.is_(None))
            .values(ended_at=batch.now, end_reason=batch.end_reason)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != len(batch.ended):  # type: ignore[attr-defined]
            raise Conflict(Text("upload.registrations_ended", upload_id=batch.upload_id))
    checkpoints.reach("apply.superseded_ended")
    columns, slices = batch.registrations
    copy_csv(session, "registrations", columns, slices)
    checkpoints.reach("apply.registrations_inserted")
    if batch.sims is not None:
        set_new_iccids(session, *batch.sims)


def _apply_moves(session: Session, batch: PreparedBatch) -> None:
    """The numbers of one prepared batch move to their new statuses, each with an event (a
    number moved meanwhile raises: `lifecycle.transition_read`), and the deadlines their new
    users may move are settled."""
    for move in batch.moves:
        lifecycle.transition_read(
            session,
            move.ids,
            move.read_statuses,
            move.target,
            actor=batch.actor,
            reason=move.reason,
            at=batch.now,
            only_from=move.sources,
            also_set=move.also_set,
        )
    if batch.settle is not None:
        settle_new_users(
            session,
            scope=[ids_among(PhoneNumber.id, batch.settle)],
            actor=batch.actor,
            now=batch.now,
        )
