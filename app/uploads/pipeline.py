"""One pass through an uploaded file: read it in batches, check each batch, and hand it to a
writer (a dry run's or a staged apply's `StagingWriter`, or a streamed apply), in threads, so
that Python and the database work at the same time. Then the whole-file checks.

A thread reads and checks the batch after next (polars releases the GIL), a second looks up
the next batch's numbers on a connection of its own, and the calling thread writes the
current batch (a streamed apply prepares it there and a fourth thread sends it).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import polars as pl
import structlog
from sqlalchemy import Connection, delete
from sqlalchemy.orm import Session

from app.core.clock import moscow_today
from app.core.personal_data import PersonalDataVault
from app.core.runtime import Runtime
from app.db.units import commit_batch
from app.uploads import checkpoints
from app.uploads.applying.batches import staged_frame
from app.uploads.applying.staged import stage_batch
from app.uploads.checking.batch import Examined, examine
from app.uploads.checking.full_names import FullNameColumn
from app.uploads.checking.header import check_header
from app.uploads.checking.registry import check_registry
from app.uploads.checking.whole_file import SeenRows, late_refusals
from app.uploads.models import Upload, UploadMode, UploadRejection, UploadStatus
from app.uploads.reading.columns import Column, header_names
from app.uploads.reading.opening import open_table
from app.uploads.reading.table import RowBatch, Table
from app.uploads.reading.xlsx_bounds import XlsxLimits
from app.uploads.repository import numbers_of, registered_of, registry_reader

log = structlog.get_logger("simreg.uploads")

ProgressCallback = Callable[[int, int], None]

_T = TypeVar("_T")
_R = TypeVar("_R")

# A batch after the registry's checks: accepted rows, their people's registered counts, the
# rows to stage (apply only) and the refused rows.
_Checked = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None, list[dict[str, Any]]]


@dataclass(frozen=True)
class Run:
    """One attempt at one upload: what its stages share."""

    runtime: Runtime
    upload_id: int
    progress: ProgressCallback | None = None

    @property
    def vault(self) -> PersonalDataVault:
        """The personal data vault that seals and hashes."""
        return self.runtime.vault

    @property
    def lease(self) -> dt.timedelta:
        """How long a worker holds the upload after each sign of life."""
        return dt.timedelta(seconds=self.runtime.settings.upload_lease_seconds)

    def now(self) -> dt.datetime:
        """The current time, from the runtime's clock."""
        return self.runtime.clock.now()


# What the whole-file checks refuse once the pass is over: the accepted rows they refuse,
# with the problem of each, and the numbers found more than once.
LateRefusals = tuple[dict[int, dict[str, Any]], pl.DataFrame]


class BatchWriter(Protocol):
    """Where a pass puts each checked batch."""

    preset: dict[int, list[dict[str, str]]]

    def outcomes(
        self, reader: Connection, staged: pl.DataFrame, good: pl.DataFrame
    ) -> pl.DataFrame:
        """The rows to stage as the writer needs them (run in the look-up thread)."""

    def write(
        self,
        session: Session,
        upload: Upload,
        batch: RowBatch,
        accepted: int,
        staged: pl.DataFrame | None,
        rejections: list[dict[str, Any]],
    ) -> None:
        """Write one checked batch."""

    def flush(self) -> None:
        """Wait until every batch handed over is written."""


class StagingWriter:
    """A dry run's and a staged apply's writer: each batch's refused rows (and an apply's
    staged rows) are committed with the point to resume after."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.preset: dict[int, list[dict[str, str]]] = {}

    def outcomes(
        self, reader: Connection, staged: pl.DataFrame, good: pl.DataFrame
    ) -> pl.DataFrame:
        """Staged rows are applied later, as they are."""
        return staged

    def write(
        self,
        session: Session,
        upload: Upload,
        batch: RowBatch,
        accepted: int,
        staged: pl.DataFrame | None,
        rejections: list[dict[str, Any]],
    ) -> None:
        """Stage and refuse one batch's rows and commit it with the point to resume after."""
        stage_batch(session, self.run.vault, upload, batch, accepted, staged, rejections)
        upload.lease_until = self.run.now() + self.run.lease
        commit_batch(session)
        checkpoints.reach("validate.batch_committed")
        if self.run.progress:
            self.run.progress(upload.rows_read, upload.rows_total)

    def flush(self) -> None:
        """Every batch is committed as it is written."""


def open_file(run: Run, upload: Upload) -> Table:
    """The upload's file opened as a table, its header checked."""
    settings = run.runtime.settings
    table = open_table(
        Path(upload.stored_path),
        filename=upload.filename,
        xlsx_limits=XlsxLimits(
            max_unpacked_bytes=settings.xlsx_max_unpacked_bytes,
            max_cells=settings.xlsx_max_cells,
            max_columns=settings.xlsx_max_columns,
        ),
    )
    check_header(table)
    return table


def begin(session: Session, upload: Upload, table: Table, *, now: dt.datetime) -> None:
    """A received upload starts validating, with what its file is like, shown at once."""
    if upload.status is not UploadStatus.RECEIVED:
        return
    upload.status = UploadStatus.VALIDATING
    upload.started_at = now
    upload.file_format = table.format
    upload.encoding = table.encoding
    upload.delimiter = table.delimiter
    upload.header = table.header
    upload.header_names = header_names(table.header, table.columns)
    upload.rows_total = table.total_rows
    commit_batch(session)


def start_over(session: Session, upload: Upload) -> None:
    """A dry run keeps its accepted rows in memory only, and a streamed apply commits nothing
    before its end: when either was cut short, it starts over from the first row (refused rows
    so far are dropped and found again)."""
    session.execute(delete(UploadRejection).where(UploadRejection.upload_id == upload.id))
    upload.resume_after_row = 0
    upload.rows_read = 0
    upload.accepted = 0
    upload.rejected = 0
    commit_batch(session)
    log.info("upload starts over", upload_id=upload.id)


def read_through(
    run: Run, session: Session, upload: Upload, table: Table, writer: BatchWriter
) -> LateRefusals:
    """Check every row after the point to resume after, hand each batch to `writer`, then
    run the whole-file checks over every row seen."""
    seal = upload.mode is UploadMode.APPLY
    positions = [(i, c) for i, c in enumerate(table.columns) if c is not None]
    resume_after = upload.resume_after_row
    batches = (
        batch.after(resume_after) for batch in table.row_batches(batch_rows(run.runtime, seal=seal))
    )
    seen = SeenRows()
    if resume_after:
        seen.reload(session, upload.id)
    today = moscow_today(run.runtime.clock)
    digest = run.vault.raw_hash

    full_name = FullNameColumn.of(positions, width=len(table.header))

    def examined(batch: RowBatch) -> Examined:
        if full_name is not None:
            return full_name.examine(batch, today=today, digest=digest)
        return examine(batch, positions, today=today, digest=digest)

    with registry_reader(run.runtime.engine, session) as reader:
        checked = _registry_checks(run, reader, upload, positions, writer, seal=seal)
        # In a dry run two batches are checked at once: most of the checks run in polars,
        # outside the GIL. An apply's batches carry sealed personal data, and its writer
        # is the slower stage: one at a time keeps its memory within bounds.
        examined_batches = ahead((b for b in batches if b.size), examined, workers=1 if seal else 2)
        for (fresh, found), (good, registered, staged, rejections) in ahead(
            examined_batches, checked
        ):
            del found  # the checks are done: only the rows to write are needed
            seen.add(good, registered, rejections)
            writer.write(session, upload, fresh, len(good), staged, rejections)
            # Let this batch go before the next arrives: three are in flight already.
            del fresh, good, registered, staged, rejections
        writer.flush()
        cap = run.runtime.settings.max_numbers_per_person
        return late_refusals(reader, upload, seen, cap=cap)


def _registry_checks(
    run: Run,
    reader: Connection,
    upload: Upload,
    positions: list[tuple[int, Column]],
    writer: BatchWriter,
    *,
    seal: bool,
) -> Callable[[tuple[RowBatch, Examined]], _Checked]:
    """The work of the look-up thread on an examined batch: the registry's checks, and the
    rows to stage (an apply only; a dry run's whole-file checks work from what is seen)."""

    def checked(item: tuple[RowBatch, Examined]) -> _Checked:
        fresh, found = item
        clean = found[2]
        numbers = numbers_of(reader, upload.subscriber_id, clean["msisdn"])
        registered = registered_of(reader, clean["doc_hash"])
        good, rejections = check_registry(fresh, found, numbers, positions, writer.preset)
        staged = None
        if seal:
            staged = writer.outcomes(reader, staged_frame(upload.id, good, run.vault), good)
        return good, registered, staged, rejections

    return checked


def batch_rows(runtime: Runtime, *, seal: bool) -> int:
    """Rows per batch: the setting in a dry run; two thirds of it in an apply, whose batches
    carry sealed personal data (at a million rows that keeps the peak about 30 MB lower, at
    the same speed, while a dry run's larger batches save it a tenth of its time)."""
    rows = runtime.settings.upload_batch_rows
    return max(1, rows * 2 // 3) if seal else rows


def ahead(
    items: Iterator[_T], work: Callable[[_T], _R], *, workers: int = 1
) -> Iterator[tuple[_T, _R]]:
    """Each item with `work` done on it, in order, the work of the next `workers` items
    already under way in threads while the caller handles this one. The items are taken in
    the caller's thread. An error of the reader or of `work` is raised here, in its place;
    the work in flight is dropped when the caller stops early."""
    pending: deque[tuple[_T, Future[_R]]] = deque()
    failure: list[Exception] = []

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upload-pipeline") as pool:

        def fill() -> None:
            while not failure and len(pending) < workers:
                try:
                    item = next(items)
                except StopIteration:
                    return
                except Exception as exc:  # raised in its place, below
                    failure.append(exc)
                    return
                pending.append((item, pool.submit(work, item)))

        try:
            fill()
            while pending:
                item, future = pending.popleft()
                result = future.result()
                fill()
                yield item, result
                del item, result  # not kept alive while the next one is awaited
            if failure:
                raise failure[0]
        finally:
            for _, future in pending:
                future.cancel()
