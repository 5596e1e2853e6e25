"""Uploads of user lists: receive a file, check every row, apply the good ones at once.

Validation reads the file in batches and checks each row. A dry run commits the refused rows
batch by batch. An apply on PostgreSQL applies each batch as soon as it is checked, with two
writers whose transactions commit in two phases, the upload's done deciding
(`_UploadWorker.stream`; one writer and ONE transaction on a server without prepared
transactions). On SQLite, whose one
writer would hide even the progress for that long, an apply stages the good rows batch by
batch, so a restarted worker resumes after the last committed batch, and then turns them into
registrations and status changes in ONE transaction. Either way a crash before the commit
leaves nothing applied, and a rerun applies it all.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import io
import itertools
import re
import secrets
import shutil
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
import polars as pl
import structlog
from sqlalchemy import (
    Connection,
    Engine,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import Table as SqlTable
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.companies.models import CorporateSubscriber, SubscriberStatus
from app.core.actors import Actor, ActorKind
from app.core.clock import MOSCOW, moscow_today
from app.core.errors import Conflict, NotFound
from app.core.metrics import UPLOAD_ROWS_PROCESSED, UPLOAD_ROWS_REJECTED
from app.core.personal_data import PersonalDataVault
from app.core.runtime import Runtime
from app.db.arrays import array_literal
from app.db.base import UtcDateTime
from app.db.session import is_postgres
from app.deadlines.recompute import settle_stale_deadlines
from app.numbers import lifecycle
from app.numbers.models import NumberStatus, PhoneNumber, Registration
from app.uploads import attempts, files
from app.uploads.checking.batch import RowProblem, validate_batch
from app.uploads.models import StagedRow, Upload, UploadMode, UploadRejection, UploadStatus
from app.uploads.reading.columns import (
    DEVICE_MARKERS,
    DEVICE_REQUIRED,
    EMPLOYEE_MARKERS,
    EMPLOYEE_REQUIRED,
    Column,
    header_for,
)
from app.uploads.reading.opening import open_table
from app.uploads.reading.refusals import UploadRejected
from app.uploads.reading.table import RowBatch, Table
from app.uploads.reading.xlsx_bounds import XlsxLimits

log = structlog.get_logger("simreg.uploads")

FIRST_ERRORS = 50
_FINAL = (NumberStatus.TERMINATED.value, NumberStatus.TRANSFERRED.value)
_IN_CHUNK = 5_000
_COPY_SLICE = 4_000
# Registration fields that decide whether a row names the same user as the current one.
_COMPARED = (
    "kind", "name_key", "doc_type", "doc_hash", "birth_date_hash", "snils_hash",
    "device_type", "device_model", "device_id", "install_address",
)  # fmt: skip
_STAGED_COLUMNS = (
    "upload_id", "row_no", "number_id", "msisdn", "kind", "last_name", "first_name",
    "patronymic", "name_key", "doc_type", "pd_sealed", "pd_key_id", "doc_hash",
    "birth_date_hash", "snils_hash", "device_type", "device_model", "device_id",
    "device_id_kind", "install_address", "iccid",
)  # fmt: skip
# A staged row's columns a registration takes.
_NEW_COLUMNS = (
    "number_id", "kind", "last_name", "first_name", "patronymic", "name_key", "doc_type",
    "pd_sealed", "pd_key_id", "doc_hash", "birth_date_hash", "snils_hash", "device_type",
    "device_model", "device_id", "device_id_kind", "install_address",
)  # fmt: skip

# Longest values the registry stores, by column of the checked rows.
_MAX_LENGTHS = {
    "last_name": 200, "first_name": 200, "patronymic": 200, "doc_issuer": 500,
    "device_model": 200, "device_id": 64, "install_address": 1000,
}  # fmt: skip

ProgressCallback = Callable[[int, int], None]

# A transition that moved this many numbers leaves PostgreSQL's statistics of them stale.
_REANALYZE_AFTER = 50_000

# What an applied row does to its number, by kind: the status it moves to, why, and from where.
_TARGETS: dict[str, tuple[NumberStatus, str, list[NumberStatus]]] = {
    "employee": (
        NumberStatus.PENDING_CONFIRMATION,
        "employee named; waiting for the person's confirmation",
        [
            NumberStatus.UNREGISTERED,
            NumberStatus.ACTIVE,
            NumberStatus.MISMATCH,
            NumberStatus.DECLINED,
            NumberStatus.EXPIRED,
        ],
    ),
    "device": (
        NumberStatus.UNREGISTERED,
        "device named; waiting for the operator's matching step",
        [
            NumberStatus.ACTIVE,
            NumberStatus.PENDING_CONFIRMATION,
            NumberStatus.MISMATCH,
            NumberStatus.DECLINED,
            NumberStatus.EXPIRED,
        ],
    ),
}


@dataclass(frozen=True)
class ReceivedFile:
    """An uploaded file already on disk, with what the API learned while receiving it."""

    path: Path
    filename: str
    size: int
    sha256: str


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def receive_upload(
    session: Session,
    *,
    subscriber_id: int,
    received: ReceivedFile,
    mode: UploadMode,
    idempotency_key: str | None,
    actor: Actor,
    upload_dir: Path,
    now: dt.datetime,
) -> tuple[Upload, bool]:
    """Record an upload, or return the earlier one for the same key or the same file.

    Returns (upload, created). The file is moved into `upload_dir` only for a new upload;
    otherwise (a replay or a refusal) the caller still has it to delete."""
    company = session.get(CorporateSubscriber, subscriber_id)
    if company is None:
        raise NotFound(f"Company {subscriber_id} was not found.")
    if idempotency_key:
        earlier = session.scalars(
            select(Upload).where(
                Upload.subscriber_id == subscriber_id, Upload.idempotency_key == idempotency_key
            )
        ).one_or_none()
        if earlier is not None:
            if earlier.content_sha256 != received.sha256 or earlier.mode is not mode:
                raise Conflict(
                    "This Idempotency-Key was used for another file or mode; "
                    "send a new key for a new upload.",
                    upload_id=earlier.id,
                )
            return earlier, False
    same_file = session.scalars(
        select(Upload)
        .where(
            Upload.subscriber_id == subscriber_id,
            Upload.content_sha256 == received.sha256,
            Upload.mode == mode,
            Upload.status != UploadStatus.FAILED,
        )
        .order_by(Upload.id)
        .limit(1)
    ).first()
    if same_file is not None:
        return same_file, False
    if company.status is SubscriberStatus.LIQUIDATED:
        raise Conflict(
            f"Company {subscriber_id} is liquidated; its numbers left the registry and "
            "take no new users."
        )
    upload_dir.mkdir(parents=True, exist_ok=True)
    # A file of its own for each upload: it is deleted when its upload ends, whatever other
    # uploads of the same content are doing.
    stored = upload_dir / f"{subscriber_id}-{received.sha256[:16]}-{secrets.token_hex(8)}"
    shutil.move(str(received.path), stored)
    upload = Upload(
        subscriber_id=subscriber_id,
        mode=mode,
        status=UploadStatus.RECEIVED,
        filename=received.filename[:300],
        content_sha256=received.sha256,
        idempotency_key=idempotency_key,
        size_bytes=received.size,
        stored_path=str(stored),
        created_by=actor.id,
        created_at=now,
        rows_total=0,
        rows_read=0,
        accepted=0,
        rejected=0,
        created=0,
        unchanged=0,
        superseded=0,
        resume_after_row=0,
        attempts=0,
    )
    session.add(upload)
    session.flush()
    return upload, True


def get_upload(session: Session, *, subscriber_id: int, upload_id: int) -> Upload:
    """One upload of a company, or NotFound."""
    upload = session.scalars(
        select(Upload).where(Upload.id == upload_id, Upload.subscriber_id == subscriber_id)
    ).one_or_none()
    if upload is None:
        raise NotFound(f"Upload {upload_id} was not found.")
    return upload


def list_uploads(
    session: Session, *, subscriber_id: int, before_id: int | None, limit: int
) -> list[Upload]:
    """A company's uploads, newest first."""
    query = (
        select(Upload)
        .where(Upload.subscriber_id == subscriber_id)
        .order_by(Upload.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(Upload.id < before_id)
    return list(session.scalars(query))


def first_errors(
    session: Session, *, upload_id: int, limit: int = FIRST_ERRORS
) -> list[dict[str, Any]]:
    """The first problems of an upload, row by row, as (row, column, code, message)."""
    rows = session.scalars(
        select(UploadRejection)
        .where(UploadRejection.upload_id == upload_id)
        .order_by(UploadRejection.row_no)
        .limit(limit)
    )
    found: list[dict[str, Any]] = []
    for rejection in rows:
        for problem in rejection.problems:
            found.append({"row": rejection.row_no, **problem})
            if len(found) >= limit:
                return found
    return found


def rejected_rows(
    session: Session, *, vault: PersonalDataVault, upload_id: int
) -> Iterable[tuple[int, list[str], str]]:
    """Refused rows as written (their cells opened), with their problems in words, in row
    order (streamed). For the error report only: the cells may hold personal data."""
    query = (
        select(UploadRejection.row_no, UploadRejection.cells_sealed, UploadRejection.problems)
        .where(UploadRejection.upload_id == upload_id)
        .order_by(UploadRejection.row_no)
        .execution_options(yield_per=2_000)
    )
    for row_no, sealed, problems in session.execute(query):
        text = "; ".join(f"{p['column']}: {p['message']}" for p in problems)
        yield row_no, vault.open(sealed)["cells"], text


# ---------------------------------------------------------------------------------------------
# Processing


def stale_uploads(session: Session, *, now: dt.datetime) -> list[int]:
    """Uploads that are unfinished and held by nobody (their worker died, or never started)."""
    return list(
        session.scalars(
            select(Upload.id)
            .where(
                Upload.status.not_in([UploadStatus.DONE, UploadStatus.FAILED]),
                or_(Upload.lease_until.is_(None), Upload.lease_until < now),
            )
            .order_by(Upload.id)
        )
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


# SQLite's page cache while an upload is applied (its default is 2 MB).
_APPLY_CACHE_KIB = 64 * 1024


@contextlib.contextmanager
def _page_cache(session: Session) -> Iterator[None]:
    """A larger SQLite page cache for the apply transaction, then the connection's own again.

    Apply writes a million rows into tables and indexes in one transaction; with the default
    cache most pages are spilled to the WAL and read back several times over."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    # The driver's connection: apply commits, which hands the session's Connection back.
    raw = session.connection().connection.driver_connection
    assert raw is not None
    (before,) = raw.execute("PRAGMA cache_size").fetchone()
    raw.execute(f"PRAGMA cache_size = -{_APPLY_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(before)}")


class _Checkpoint:
    """Named points in processing where a test may stop the process, as a crash would."""

    hook: Callable[[str], None] | None = None

    @classmethod
    def reach(cls, name: str) -> None:
        if cls.hook is not None:
            cls.hook(name)


checkpoints = _Checkpoint


def process_upload(
    runtime: Runtime, upload_id: int, *, progress: ProgressCallback | None = None
) -> Upload | None:
    """Run (or resume) one upload to `done` or `failed`, in this process (the API runs each in
    a worker process: app/uploads/worker.py). None when another worker holds it."""
    settle_prepared(runtime.engine)  # an earlier attempt that died mid-commit
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
    worker = _UploadWorker(runtime, upload_id, progress=progress)
    try:
        worker.run()
    except UploadRejected as exc:
        worker.fail(exc.code, exc.message)
    except Exception:
        # Nothing is half-applied (apply is one transaction): let a later attempt resume,
        # unless this upload keeps failing, which a retry will not cure.
        log.exception("upload processing stopped", upload_id=upload_id)
        with runtime.sessions() as session:
            tried = session.get_one(Upload, upload_id).attempts
            session.execute(update(Upload).where(Upload.id == upload_id).values(lease_until=None))
            session.commit()
        if tried >= attempts.MAX_ATTEMPTS:
            worker.fail(
                "upload.internal_error",
                "Processing stopped on an internal error and nothing was applied; "
                "upload the file again, or contact support if it happens again.",
            )
    with runtime.sessions() as session:
        upload = session.get_one(Upload, upload_id)
        if upload.status is UploadStatus.DONE:
            files.discard(upload.stored_path)  # a failed one's went with the failure


class _UploadWorker:
    """Carries one upload through validation and apply."""

    def __init__(self, runtime: Runtime, upload_id: int, *, progress: ProgressCallback | None):
        self.runtime = runtime
        self.upload_id = upload_id
        self.progress = progress
        self.vault: PersonalDataVault = runtime.vault
        self.lease = dt.timedelta(seconds=runtime.settings.upload_lease_seconds)

    def now(self) -> dt.datetime:
        return self.runtime.clock.now()

    def run(self) -> None:
        with _collector_paused(), self.runtime.sessions() as session:
            upload = session.get_one(Upload, self.upload_id)
            if _streams(session, upload):
                self.stream(session, upload)
                return
            if upload.status in (UploadStatus.RECEIVED, UploadStatus.VALIDATING):
                self.validate(session, upload)
            if upload.status is UploadStatus.APPLYING:
                with _page_cache(session):
                    self.apply(session, upload)

    def fail(self, code: str, message: str) -> None:
        attempts.fail(self.runtime, self.upload_id, code=code, message=message)

    # -- validation -----------------------------------------------------------------------

    def validate(self, session: Session, upload: Upload, stream: _Stream | None = None) -> None:
        """Check every row. A dry run keeps nothing but the refused rows; an apply stages the
        accepted rows batch by batch, or with `stream` applies them batch by batch."""
        settings = self.runtime.settings
        table = open_table(
            Path(upload.stored_path),
            filename=upload.filename,
            xlsx_limits=XlsxLimits(
                max_unpacked_bytes=settings.xlsx_max_unpacked_bytes,
                max_cells=settings.xlsx_max_cells,
                max_columns=settings.xlsx_max_columns,
            ),
        )
        _check_header(table)
        if upload.status is UploadStatus.RECEIVED:
            upload.status = UploadStatus.VALIDATING
            upload.started_at = self.now()
            upload.file_format = table.format
            upload.encoding = table.encoding
            upload.delimiter = table.delimiter
            upload.header = table.header
            upload.rows_total = table.total_rows
            session.commit()
        seal = upload.mode is UploadMode.APPLY
        if (not seal and upload.resume_after_row) or (stream is not None and upload.rows_read):
            _start_over(session, upload)
        if stream is not None and upload.status is not UploadStatus.APPLYING:
            upload.status = UploadStatus.APPLYING
            session.commit()
        preset = stream.preset if stream is not None else {}
        today = moscow_today(self.runtime.clock)
        positions = [(i, c) for i, c in enumerate(table.columns) if c is not None]
        resume_after = upload.resume_after_row
        batches = (
            batch.after(resume_after)
            for batch in table.row_batches(_batch_rows(self.runtime, seal))
        )
        seen = _SeenRows()
        if resume_after:
            seen.reload(session, upload.id)
        digest = self.vault.raw_hash

        def examine(batch: RowBatch) -> _Examined:
            return _examine(batch, positions, today=today, digest=digest)

        # A pipeline: a thread reads and checks the batch after next (polars releases the
        # GIL), a second looks up the next batch's numbers on a connection of its own, and
        # this one writes the current batch (a streamed apply prepares it here and a fourth
        # thread sends it): Python and the database work at the same time.
        with self._registry_reader(session) as reader:

            def check(item: tuple[RowBatch, _Examined]) -> _Checked:
                fresh, examined = item
                clean = examined[2]
                numbers = _numbers_of(reader, upload.subscriber_id, clean["msisdn"])
                registered = _registered_of(reader, clean["doc_hash"])
                good, rejections = self._check_registry(fresh, examined, numbers, positions, preset)
                # A dry run stages nothing: its whole-file checks work from `seen`.
                staged = self._staged_frame(good) if seal else None
                if stream is not None and staged is not None:
                    staged = _with_outcomes(staged, good, _current_of(reader, good["number_id"]))
                return good, registered, staged, rejections

            # In a dry run two batches are checked at once: most of the checks run in polars,
            # outside the GIL. An apply's batches carry sealed personal data, and its writer
            # is the slower stage: one at a time keeps its memory within bounds.
            examined_batches = _ahead(
                (b for b in batches if b.size), examine, workers=1 if seal else 2
            )
            for (fresh, examined), (good, registered, staged, rejections) in _ahead(
                examined_batches, check
            ):
                del examined  # the checks are done: only the rows to write are needed
                seen.add(good, registered, rejections)
                if stream is not None:
                    stream.write(session, upload, fresh, len(good), staged, rejections)
                else:
                    self._write_batch(session, upload, fresh, len(good), staged, rejections)
                # Let this batch go before the next arrives: three are in flight already.
                del fresh, good, registered, staged, rejections
            if stream is not None:
                stream.flush()
            late, repeated = self._late_refusals(reader, upload, seen)
        if stream is not None:
            stream.late, stream.repeated = late, repeated
            return
        self._cross_row_refusals(session, upload, table, late, repeated)

        if upload.mode is UploadMode.VALIDATE:
            upload.status = UploadStatus.DONE
            upload.finished_at = self.now()
            upload.lease_until = None
        else:
            upload.status = UploadStatus.APPLYING
        session.commit()
        if upload.status is UploadStatus.DONE:
            count_rows(upload)

    def _write_batch(
        self,
        session: Session,
        upload: Upload,
        batch: RowBatch,
        accepted: int,
        staged: pl.DataFrame | None,
        rejections: list[dict[str, Any]],
    ) -> None:
        """Stage and refuse one batch's rows and commit it with the point to resume after."""
        if staged is not None:
            _bulk_write(session, staged)
        _write_rejections(session, self.vault, upload.id, rejections)
        upload.resume_after_row = batch.last_row_no
        upload.rows_read += batch.size
        upload.accepted += accepted
        upload.rejected += len(rejections)
        upload.lease_until = self.now() + self.lease
        session.commit()
        checkpoints.reach("validate.batch_committed")
        if self.progress:
            self.progress(upload.rows_read, upload.rows_total)

    @contextlib.contextmanager
    def _registry_reader(self, session: Session) -> Iterator[Connection]:
        """A connection of its own for the look-ups of numbers, which run in a thread while
        the session writes. An in-memory SQLite database exists once per connection, so
        there the look-ups share the session's connection (the pipeline then waits on it)."""
        url = self.runtime.engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            yield session.connection()
            return
        with self.runtime.engine.connect() as reader:
            if reader.dialect.name == "postgresql":
                # A batch asks for 15,000 numbers: 1.5% of a company of a million, which the
                # planner reckons cheaper to find by a parallel scan of all of them. That took
                # three processes 60 ms a batch, CPU the checks of the next batch needed;
                # the index finds them in one process at half the time. For this
                # connection's one transaction only.
                reader.exec_driver_sql("SET LOCAL enable_seqscan = off")
                reader.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
            yield reader

    def _check_registry(
        self,
        batch: RowBatch,
        examined: _Examined,
        numbers: pl.DataFrame,
        positions: list[tuple[int, Column]],
        preset: dict[int, list[dict[str, str]]],
    ) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
        """The batch's rows the registry takes (its numbers joined), and every refused row.
        `preset` refuses rows known to fail the whole-file checks (a streamed apply's
        second pass)."""
        problems, cells_of, clean = examined
        if preset:
            for row_no in clean["row_no"].to_list():
                if row_no in preset:
                    problems[row_no].extend(preset[row_no])
        # The registry's view: the number must be the company's own and still in the registry.
        joined = clean.join(numbers, on="msisdn", how="left")
        not_owned = pl.col("number_id").is_null()
        closed = pl.col("status").is_in(list(_FINAL)).fill_null(False)
        other_sim = (
            pl.col("iccid").is_not_null()
            & pl.col("number_iccid").is_not_null()
            & (pl.col("iccid") != pl.col("number_iccid"))
        ).fill_null(False)
        # Only the few refused rows reach Python one by one.
        refused = joined.filter(not_owned | closed | other_sim).select(
            "row_no", "msisdn", "status", not_owned.alias("_not_owned"), closed.alias("_closed")
        )
        for row_no, msisdn, status, is_not_owned, is_closed in refused.rows():
            if is_not_owned:
                refusal = {
                    "column": Column.MSISDN.value,
                    "code": "number.not_owned",
                    "message": f"{msisdn} is not a number of your company; check the "
                    "number, or ask your operator to add it to your contract",
                }
            elif is_closed:
                refusal = {
                    "column": Column.MSISDN.value,
                    "code": "number.closed",
                    "message": f"{msisdn} is {status}: it has left the registry and "
                    "takes no new user; remove the row",
                }
            else:
                refusal = {
                    "column": Column.ICCID.value,
                    "code": "iccid.mismatch",
                    "message": f"the SIM of {msisdn} has another ICCID; check the "
                    "ICCID printed on the card",
                }
            problems[row_no].append(refusal)
        good = joined.filter(~pl.col("row_no").is_in(list(problems)))
        # Only the refused rows' cells become Python lists, for the error report.
        missing = [row_no for row_no in problems if row_no not in cells_of]
        cells_of.update(batch.written(missing))
        rejections = [
            _rejection(row_no, cells_of[row_no], found, positions)
            for row_no, found in sorted(problems.items())
        ]
        return good, rejections

    def _staged_frame(self, good: pl.DataFrame) -> pl.DataFrame:
        """Rows for the staging table, with keyed hashes, and sealed personal data to apply.

        The columns are built in polars; only hashing and encryption run once per value, in
        plain loops over a column (no row objects). The document's hash came with the checks."""
        employee = pl.col("kind") == "employee"
        upload_id = pl.lit(self.upload_id, pl.Int64).alias("upload_id")
        digest = self.vault.raw_hash
        keyed = good.with_columns(
            _birth=pl.when(employee).then(pl.lit("birth:") + pl.col("birth_date").cast(pl.String)),
            _snils=pl.when(pl.col("snils").is_not_null()).then(pl.lit("snils:") + pl.col("snils")),
            # The same document as `CleanEmployee.sealed_payload`, its keys in sorted order.
            _payload=pl.when(employee).then(
                pl.struct(
                    birth_date=pl.col("birth_date").cast(pl.String),
                    doc_number=pl.col("doc_number"),
                    doc_series=pl.col("doc_series").fill_null(""),
                    issued_on=pl.col("doc_issued_on").cast(pl.String),
                    issuer=pl.col("doc_issuer"),
                    issuer_code=pl.col("doc_issuer_code"),
                    snils=pl.col("snils"),
                ).struct.json_encode()
            ),
        )
        payloads = keyed["_payload"].to_list()
        sealed = iter(self.vault.seal_many([p.encode() for p in payloads if p is not None]))
        return keyed.with_columns(
            upload_id,
            pd_sealed=pl.Series(
                [next(sealed) if p is not None else None for p in payloads], dtype=pl.Binary
            ),
            pd_key_id=pl.when(employee).then(pl.lit(self.vault.active_key_id)),
            birth_date_hash=_hashed(digest, keyed["_birth"]),
            snils_hash=_hashed(digest, keyed["_snils"]),
        ).select(_STAGED_COLUMNS)

    def _late_refusals(
        self, reader: Connection, upload: Upload, seen: _SeenRows
    ) -> tuple[dict[int, dict[str, str]], pl.Series]:
        """The whole-file checks: the same number twice in the file (every such row refused),
        and people over the cap. The accepted rows they refuse, with the problem of each, and
        the numbers found more than once.

        Both work from the rows kept in `seen`, in memory: only people who might be over the
        cap are looked up again, on `reader`, which sees the registry as committed."""
        accepted, refused_digits = seen.frames()
        repeated = _repeated(pl.concat([accepted["digits"], refused_digits], rechunk=False))
        if repeated.is_empty():
            twice, kept = accepted.clear(), accepted
        else:
            twice = accepted.filter(pl.col("digits").is_in(repeated.implode()))
            kept = accepted.filter(~pl.col("digits").is_in(repeated.implode()))
        del accepted
        cap = self.runtime.settings.max_numbers_per_person
        over = _over_cap(reader, upload.subscriber_id, kept, cap)
        refusals: dict[int, dict[str, str]] = dict.fromkeys(twice["row_no"].to_list(), _REPEATED)
        if not over.is_empty():
            over_cap = {
                "column": "passport",
                "code": "person.over_cap",
                "message": f"this person would use more than {cap} numbers across all "
                "companies, the most the rules allow; remove the rows of extra numbers",
            }
            rows = kept.filter(pl.col("person").is_in(over.implode()))["row_no"].to_list()
            refusals.update(dict.fromkeys(rows, over_cap))
        return refusals, repeated

    def _cross_row_refusals(
        self,
        session: Session,
        upload: Upload,
        table: Table,
        refusals: dict[int, dict[str, str]],
        repeated: pl.Series,
    ) -> None:
        """Refuse the accepted rows the whole-file checks refused, and add the repetition of
        their number to rows refused for other reasons."""
        if refusals:
            self._refuse_accepted(session, upload, table, refusals)
        if not repeated.is_empty():
            _add_repetition(session, upload.id, repeated)
        upload.accepted -= len(refusals)
        upload.rejected += len(refusals)
        session.flush()

    def _refuse_accepted(
        self,
        session: Session,
        upload: Upload,
        table: Table,
        refusals: dict[int, dict[str, str]],
    ) -> None:
        """Refuse rows that passed their own checks: the cells as written are not kept, so
        those rows are read again from the file; in an apply, they leave the staging table."""
        positions = [(i, c) for i, c in enumerate(table.columns) if c is not None]
        wanted = list(refusals)
        found: list[dict[str, Any]] = []
        for batch in table.row_batches(self.runtime.settings.upload_batch_rows):
            for row_no, cells in batch.written(wanted):
                found.append(_rejection(row_no, cells, [refusals[row_no]], positions))
        if upload.mode is UploadMode.APPLY:
            for start in range(0, len(wanted), _IN_CHUNK):
                session.execute(
                    delete(StagedRow).where(
                        StagedRow.upload_id == upload.id,
                        StagedRow.row_no.in_(wanted[start : start + _IN_CHUNK]),
                    )
                )
        _write_rejections(session, self.vault, upload.id, found)

    # -- apply ----------------------------------------------------------------------------

    def stream(self, session: Session, upload: Upload) -> None:
        """An apply on PostgreSQL: each batch is applied as soon as it is checked, while the
        server writes one batch and this process checks the next. A crash rolls it all back,
        and the rerun starts over; nothing is half-applied.

        With prepared transactions available (`max_prepared_transactions` > 0) the work has
        two writers, each a server process of its own: the session writes the registrations
        and the moves connection moves the numbers. The moves are prepared first (PREPARE
        TRANSACTION); then the session commits, with the upload `done`, which decides the
        apply; then the prepared moves commit. Between those two commits, a few milliseconds,
        a reader may see the new registrations with the numbers' old statuses; if the worker
        dies there, `settle_prepared` commits the moves (the upload is done) or rolls them
        back (it is not). Without prepared transactions, the session does both, in one.

        Rows the whole-file checks refuse at the end (a number twice in the file, a person
        over the cap) were applied with their batch: then the transaction is rolled back and
        the file goes through again with those rows refused from the start."""
        preset: dict[int, list[dict[str, str]]] = {}
        for _ in range(_STREAM_PASSES):
            with _Stream(self.runtime, upload.id, self.now(), preset, self.progress) as stream:
                self.validate(session, upload, stream)
                if not stream.late:
                    stream.settle_deadlines(session, upload)
                    stream.prepare()
                    session.refresh(upload)  # the progress its own connection committed
                    if not stream.repeated.is_empty():
                        _add_repetition(session, upload.id, stream.repeated)
                    upload.rows_read = stream.rows_read
                    upload.accepted = stream.accepted
                    upload.rejected = stream.rejected
                    self._finish(session, upload, stream.counts, now=stream.now)
                    checkpoints.reach("stream.upload_done")
                    stream.commit()
                    return
                session.rollback()  # and leaving the stream rolls its moves back
            for row_no, problem in stream.late.items():
                preset.setdefault(row_no, []).append(problem)
            log.info("upload goes through again", upload_id=upload.id, refused=len(preset))
        raise RuntimeError(f"the whole-file checks kept refusing new rows of upload {upload.id}")

    def apply(self, session: Session, upload: Upload) -> None:
        """Everything staged becomes registrations and status changes in one transaction."""
        now = self.now()
        staged = cast(SqlTable, StagedRow.__table__)
        postgres = is_postgres(session)
        if postgres:
            # Fresh staging rows have no statistics; without them the planner guesses badly.
            session.execute(text("ANALYZE upload_staged_rows"))
        staged_counts = _apply_staged(session, upload, staged, now=now)
        _clear_staging(session, upload.id, postgres=postgres)
        _settle_deadlines(session, upload, now=now)
        self._finish(session, upload, staged_counts, now=now)

    def _finish(
        self,
        session: Session,
        upload: Upload,
        staged_counts: dict[tuple[str, str | None], int],
        *,
        now: dt.datetime,
    ) -> None:
        """Mark an applied upload done, with its outcomes, and commit the apply."""
        counts: dict[str | None, int] = {}
        for (_, outcome), n in staged_counts.items():
            counts[outcome] = counts.get(outcome, 0) + n
        upload.created = int(counts.get(None, 0))
        upload.superseded = int(counts.get("superseded", 0))
        upload.unchanged = int(counts.get("unchanged", 0))
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


# A streamed apply goes through the file at most this many times (see `stream`).
_STREAM_PASSES = 3


def _streams(session: Session, upload: Upload) -> bool:
    """Whether this upload is applied as a stream: an apply on PostgreSQL that has staged
    nothing. (SQLite has one writer: a transaction held for the whole file would keep even
    the progress from view; there an apply stages its rows, then applies them at once.)"""
    return (
        is_postgres(session)
        and upload.mode is UploadMode.APPLY
        and upload.status in (UploadStatus.RECEIVED, UploadStatus.VALIDATING, UploadStatus.APPLYING)
        and not upload.resume_after_row
    )


class _Stream:
    """One pass of a streamed apply. Each checked batch is made ready to send in the calling
    thread and applied by threads of their own, one batch at a time, while the calling
    thread prepares the next: the server does not wait on Python. The registrations go in
    the session's transaction; the numbers' moves go in a prepared transaction of their own
    when the server allows it (see `_UploadWorker.stream`), else in the session's too. The
    progress goes on a connection of its own, which commits at once. (The writers never
    write the upload's row before the end, so none of them waits on another.)"""

    def __init__(
        self,
        runtime: Runtime,
        upload_id: int,
        now: dt.datetime,
        preset: dict[int, list[dict[str, str]]],
        progress: ProgressCallback | None,
    ) -> None:
        self.now = now
        self.preset = preset
        self.rows_read = self.accepted = self.rejected = 0
        self.counts: dict[tuple[str, str | None], int] = {}
        self.late: dict[int, dict[str, str]] = {}
        self.repeated = pl.Series("digits", [], pl.Int64)
        self._upload_id = upload_id
        self._lease = dt.timedelta(seconds=runtime.settings.upload_lease_seconds)
        self._clock = runtime.clock
        self._vault = runtime.vault
        self._callback = progress
        self._engine = runtime.engine
        self._progress = runtime.engine.connect()
        self._ready = False
        self._applied = pl.Series("applied", [], pl.Boolean)
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-writer")
        self._mover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upload-mover")
        self._sending: Future[None] | None = None
        self._moves: Connection | None = None  # the second writer, when there is one
        self._moves_name = f"{_PREPARED_PREFIX}{upload_id}-{secrets.token_hex(4)}"
        self._locked = self._prepared = self._committed = False

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            # The writers belong to their threads until their batch is done, whatever went
            # wrong here: wait for them before anyone rolls back.
            self._sender.shutdown(wait=True, cancel_futures=True)
            self._mover.shutdown(wait=True, cancel_futures=True)
        finally:
            try:
                if self._moves is not None:
                    self._moves.rollback()  # once prepared, there is nothing left to undo here
                    self._moves.close()
            finally:
                if self._locked:
                    self._progress.execute(
                        text("SELECT pg_advisory_unlock(:space, :id)"),
                        {"space": _PREPARED_LOCKS, "id": self._upload_id},
                    )
                    self._progress.commit()
                self._progress.close()
        if self._prepared and not self._committed:
            # Stopped mid-commit: the upload's row says whether the session committed.
            settle_prepared(self._engine)

    def _begin(self, session: Session) -> None:
        # Called at the first batch, not on entry: `validate` commits the upload's status
        # first, and SET LOCAL lasts only to the end of a transaction.
        if _prepared_transactions(session):
            # Held while this worker lives: `settle_prepared` leaves its moves alone.
            self._progress.execute(
                text("SELECT pg_advisory_lock(:space, :id)"),
                {"space": _PREPARED_LOCKS, "id": self._upload_id},
            )
            self._progress.commit()
            self._locked = True
            self._moves = self._engine.connect()
        # Each batch's statements find its few thousand rows by index. The statistics of the
        # registry go stale as the transaction moves a million numbers, and PostgreSQL would
        # then rather scan them all, or compile each plan (JIT) at the price of a batch.
        writers: list[Session | Connection] = [session]
        if self._moves is not None:
            writers.append(self._moves)
        for writer in writers:
            for setting in _STREAM_SETTINGS:
                writer.execute(text(f"SET LOCAL {setting}"))
        self._ready = True

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
        writing threads once they are done with the batch before (whose failure is raised
        here)."""
        prepared = None
        if staged is not None and not staged.is_empty():
            # A number named twice is refused at the end (see `stream`); only one user per
            # number can be current meanwhile, so only its first row is applied. The numbers
            # applied so far are kept as one bit per number id.
            rows = staged.filter(~pl.col("number_id").is_duplicated())
            ids = rows["number_id"]
            if len(self._applied) <= ids.max():  # type: ignore[operator]
                grown = max(int(ids.max()) + 1, 2 * len(self._applied))  # type: ignore[arg-type]
                self._applied.append(
                    pl.repeat(False, grown - len(self._applied), eager=True, dtype=pl.Boolean)
                )
            rows = rows.filter(~self._applied.gather(ids))
            self._applied.scatter(rows["number_id"], True)
            for kind, outcome, n in rows.group_by("kind", "outcome").len().rows():
                self.counts[(kind, outcome)] = self.counts.get((kind, outcome), 0) + n
            prepared = _prepare_batch(upload, rows, now=self.now)
        self.rows_read += batch.size
        self.accepted += accepted
        self.rejected += len(rejections)
        progress = _Progress(
            upload.id, upload.rows_total, self.rows_read, self.accepted, self.rejected
        )
        self.flush()
        if not self._ready:
            self._begin(session)
        moving = None
        if prepared is not None and self._moves is not None:
            moving = self._mover.submit(_apply_moves, self._moves, prepared)
        self._sending = self._sender.submit(
            self._send, session, prepared, moving, rejections, progress
        )

    def flush(self) -> None:
        """Wait until the writing threads have applied the batch they hold; raise a failure."""
        sending, self._sending = self._sending, None
        if sending is not None:
            sending.result()

    def _send(
        self,
        session: Session,
        prepared: _PreparedBatch | None,
        moving: Future[None] | None,
        rejections: list[dict[str, Any]],
        progress: _Progress,
    ) -> None:
        """In the sending thread: apply a prepared batch, uncommitted (its moves too, unless
        the moves connection has them), then report progress once all of it is written."""
        _write_rejections(session, self._vault, progress.upload_id, rejections)
        if prepared is not None:
            _apply_registrations(session, prepared)
            if moving is None:
                _apply_moves(session, prepared)
        if moving is not None:
            moving.result()
        self._progress.execute(
            update(Upload)
            .where(Upload.id == progress.upload_id)
            .values(
                rows_read=progress.rows_read,
                accepted=progress.accepted,
                rejected=progress.rejected,
                lease_until=self._clock.now() + self._lease,
            )
        )
        self._progress.commit()
        checkpoints.reach("stream.batch_applied")
        if self._callback:
            self._callback(progress.rows_read, progress.rows_total)

    def settle_deadlines(self, session: Session, upload: Upload) -> None:
        """The deadlines of the numbers this apply gave new users, by the writer that moved
        them, in its transaction (see `_settle_deadlines`)."""
        self.flush()
        if self._moves is None:
            _settle_deadlines(session, upload, now=self.now)
            return
        with Session(bind=self._moves) as mover:  # joins the moves' open transaction
            _settle_deadlines(mover, upload, now=self.now)

    def prepare(self) -> None:
        """First step of the commit: the moves, all written, are prepared (PREPARE
        TRANSACTION): from here they survive a crash, until committed or rolled back."""
        self.flush()
        if self._moves is not None:
            # The name is made of the prefix, digits and hex (see _PREPARED_NAME).
            self._moves.exec_driver_sql(f"PREPARE TRANSACTION '{self._moves_name}'")
            self._moves.rollback()  # the connection's side: its transaction is gone
            self._prepared = True
            checkpoints.reach("stream.moves_prepared")

    def commit(self) -> None:
        """Last step, once the session has committed the upload `done`: commit the moves."""
        if self._prepared:
            _end_prepared(self._engine, self._moves_name, "COMMIT")
            self._committed = True


# Advisory locks (two-key form: this space and an upload id) held by a streaming worker, and
# the name of its prepared transaction: the upload's id follows the prefix.
_PREPARED_LOCKS = 0x5E6_0001
_PREPARED_PREFIX = "simreg-upload-"
_PREPARED_NAME = re.compile(r"simreg-upload-(\d+)-[0-9a-f]{8}")
# The settings of a streamed apply's writers (see `_Stream._begin`). The lock timeout: a
# transaction that waits on one writer while holding what the other needs is a deadlock that
# PostgreSQL cannot see (the two writers' tie is in this process); it ends in an error after
# this long instead of never, the apply rolls back and a later attempt runs it again.
_STREAM_SETTINGS = (
    "enable_seqscan = off",
    "max_parallel_workers_per_gather = 0",
    "jit = off",
    "lock_timeout = '60s'",
)


def _prepared_transactions(session: Session) -> bool:
    """Whether this PostgreSQL server lets a transaction be prepared for a later commit."""
    return int(session.scalar(text("SHOW max_prepared_transactions")) or 0) > 0


def settle_prepared(engine: Engine) -> int:
    """Finish the moves that a worker which died mid-commit left prepared: commit them when
    the session committed the upload `done` (that commit decided the apply), roll them back
    when it did not. A worker alive holds its advisory lock, and its moves are left to it.
    Returns how many were settled. (SQLite, and servers without prepared transactions, have
    none.)"""
    if engine.dialect.name != "postgresql":
        return 0
    settled = 0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        names = connection.scalars(
            text(
                "SELECT gid FROM pg_prepared_xacts"
                " WHERE database = current_database() AND gid LIKE :prefix"
            ),
            {"prefix": f"{_PREPARED_PREFIX}%"},
        ).all()
        for name in names:
            found = _PREPARED_NAME.fullmatch(name)
            if found is None:
                continue
            upload_id = int(found.group(1))
            lock = {"space": _PREPARED_LOCKS, "id": upload_id}
            if not connection.scalar(text("SELECT pg_try_advisory_lock(:space, :id)"), lock):
                continue  # its worker is alive and commits or rolls back itself
            try:
                status = connection.scalar(select(Upload.status).where(Upload.id == upload_id))
                verb = "COMMIT" if status is UploadStatus.DONE else "ROLLBACK"
                if _end_prepared(engine, name, verb):
                    settled += 1
                    log.info("prepared moves settled", upload_id=upload_id, outcome=verb.lower())
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:space, :id)"), lock)
    return settled


def _end_prepared(engine: Engine, name: str, verb: str) -> bool:
    """COMMIT or ROLLBACK the prepared transaction `name` (which must match _PREPARED_NAME),
    outside any transaction block as PostgreSQL requires. False when it no longer exists:
    another process settled it."""
    if _PREPARED_NAME.fullmatch(name) is None or verb not in ("COMMIT", "ROLLBACK"):
        raise ValueError(f"not a prepared apply: {name!r}")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        try:
            connection.exec_driver_sql(f"{verb} PREPARED '{name}'")
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == "42704":  # undefined_object
                return False
            raise
    return True


@dataclass(frozen=True)
class _Progress:
    """Where a streamed apply stands after a batch (plain values: the sending thread must
    not read the upload, which belongs to the session)."""

    upload_id: int
    rows_total: int
    rows_read: int
    accepted: int
    rejected: int


_T = TypeVar("_T")
_R = TypeVar("_R")
_Examined = tuple[dict[int, list[dict[str, str]]], dict[int, list[str]], pl.DataFrame]
# A batch after the registry's checks: accepted rows, their people's registered counts, the
# rows to stage (apply only) and the refused rows.
_Checked = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None, list[dict[str, Any]]]


def _apply_staged(
    session: Session, upload: Upload, staged: SqlTable, *, now: dt.datetime
) -> dict[tuple[str, str | None], int]:
    """Turn the upload's rows in the staging table into registrations and status changes,
    in the session's transaction; the rows per (kind, outcome): outcome None for a number's
    first user, "superseded", "unchanged"."""
    actor = Actor(ActorKind.COMPANY_ADMIN, upload.created_by)
    reason = f"upload {upload.id}"
    mine = staged.c.upload_id == upload.id
    postgres = is_postgres(session)
    # Only rows whose number already has a user are written here (one join, UPDATE … FROM);
    # a row left without an outcome gives its number its first user ("created"), so a first
    # upload of a list does not rewrite every staged row.
    session.execute(
        update(staged)
        .where(
            mine,
            Registration.number_id == staged.c.number_id,
            Registration.ended_at.is_(None),
        )
        .values(
            prev_registration_id=Registration.id,
            outcome=case(
                (
                    and_(
                        *[
                            getattr(Registration, name).is_not_distinct_from(staged.c[name])
                            for name in _COMPARED
                        ]
                    ),
                    "unchanged",
                ),
                else_="superseded",
            ),
        )
    )
    created = staged.c.outcome.is_(None)
    superseded = staged.c.outcome == "superseded"
    changed = and_(mine, or_(created, superseded))
    session.execute(
        update(Registration)
        .where(Registration.id.in_(select(staged.c.prev_registration_id).where(mine, superseded)))
        .values(ended_at=now, end_reason=_end_reason(upload))
        .execution_options(synchronize_session=False)
    )
    checkpoints.reach("apply.superseded_ended")
    session.execute(
        insert(Registration).from_select(
            [*_NEW_COLUMNS, "source", "submitted_by", "created_at"],
            select(
                *[staged.c[name] for name in _NEW_COLUMNS],
                _literal("upload"),
                _literal(upload.created_by),
                _literal_time(now),
            ).where(changed),
        )
    )
    checkpoints.reach("apply.registrations_inserted")
    iccid_of = (
        select(staged.c.iccid)
        .where(mine, staged.c.number_id == PhoneNumber.id, staged.c.iccid.is_not(None))
        .scalar_subquery()
    )
    session.execute(
        update(PhoneNumber)
        .where(
            PhoneNumber.iccid.is_(None),
            PhoneNumber.id.in_(select(staged.c.number_id).where(mine, staged.c.iccid.is_not(None))),
        )
        .values(iccid=iccid_of)
        .execution_options(synchronize_session=False)
    )
    staged_counts = {
        (kind, outcome): int(n)
        for kind, outcome, n in session.execute(
            select(staged.c.kind, staged.c.outcome, func.count())
            .where(mine)
            .group_by(staged.c.kind, staged.c.outcome)
        )
    }
    outcomes = ((None, created), ("superseded", superseded))
    for kind, (outcome, of_outcome) in itertools.product(_TARGETS, outcomes):
        rows = staged_counts.get((kind, outcome), 0)
        if not rows:
            continue  # nothing to move: skip the statements, and their scans of numbers
        target, why, sources = _TARGETS[kind]
        numbers = select(staged.c.number_id).where(mine, of_outcome, staged.c.kind == kind)
        # The numbers that change status take the new values in the same row write (each
        # write of a number touches every one of its indexes once the status changes).
        new_values = _new_user_values(kind, outcome, now)
        moved = lifecycle.transition_selected(
            session,
            numbers,
            target,
            actor=actor,
            reason=f"{why} ({reason})",
            at=now,
            only_from=sources,
            also_set=new_values,
        )
        if postgres and moved >= _REANALYZE_AFTER:
            # The statistics still describe the numbers before this transaction moved them;
            # the next statements' plans would walk every moved number to find a few.
            session.execute(text("ANALYZE numbers"))
        if moved == rows:
            continue  # every number moved, and took the new values with its move
        # The rest keep their status (a device stays unregistered, a suspended number stays
        # suspended) and only take the new values, if they do not hold them already.
        session.execute(
            update(PhoneNumber)
            .where(
                PhoneNumber.id.in_(numbers),
                or_(
                    *[
                        getattr(PhoneNumber, name).is_distinct_from(value)
                        for name, value in new_values.items()
                    ]
                ),
            )
            .values(new_values)
            .execution_options(synchronize_session=False)
        )
    return staged_counts


@dataclass(frozen=True)
class _NumberMove:
    """One `lifecycle.transition_read` of a prepared batch: the numbers of one kind and outcome."""

    ids: pl.Series
    read_statuses: pl.Series
    target: NumberStatus
    reason: str
    sources: list[NumberStatus]
    also_set: dict[str, object]


@dataclass(frozen=True)
class _PreparedBatch:
    """A batch of a streamed apply made ready to send (`_prepare_batch`): everything Python
    works out, so that the thread that sends it (`_apply_prepared`) only waits on the
    database, and the server is not idle while Python formats."""

    upload_id: int
    actor: Actor
    now: dt.datetime
    ended: list[int]
    end_reason: str
    registrations: tuple[str, list[bytes]]  # COPY's columns, and the CSV in slices
    sims: tuple[str, str] | None  # array literals: number ids, and their new ICCIDs
    moves: list[_NumberMove]


def _prepare_batch(upload: Upload, rows: pl.DataFrame, *, now: dt.datetime) -> _PreparedBatch:
    """PostgreSQL: what `_apply_staged` does in SQL, worked out in polars for one batch whose
    outcomes and numbers' statuses were read with its checks (`_with_outcomes`)."""
    reason = f"upload {upload.id}"
    changed = rows.filter(pl.col("outcome").ne_missing("unchanged"))
    registrations = changed.select(_NEW_COLUMNS).with_columns(
        source=pl.lit("upload"),
        submitted_by=pl.lit(upload.created_by),
        created_at=pl.lit(now.isoformat()),
    )
    sims = rows.filter(pl.col("iccid").is_not_null() & pl.col("number_iccid").is_null())
    moves = []
    for (kind, outcome), group in changed.group_by("kind", "outcome", maintain_order=True):
        target, why, sources = _TARGETS[str(kind)]
        moves.append(
            _NumberMove(
                ids=group["number_id"],
                read_statuses=group["old_status"],
                target=target,
                reason=f"{why} ({reason})",
                sources=sources,
                also_set=_new_user_values(str(kind), outcome, now),
            )
        )
    return _PreparedBatch(
        upload_id=upload.id,
        actor=Actor(ActorKind.COMPANY_ADMIN, upload.created_by),
        now=now,
        ended=rows.filter(pl.col("outcome") == "superseded")["prev_registration_id"].to_list(),
        end_reason=_end_reason(upload),
        registrations=(", ".join(registrations.columns), _csv_slices(registrations)),
        sims=(
            None
            if sims.is_empty()
            else (array_literal(sims["number_id"]), array_literal(sims["iccid"]))
        ),
        moves=moves,
    )


def _apply_registrations(session: Session, batch: _PreparedBatch) -> None:
    """PostgreSQL: the registrations of one prepared batch: superseded ones end, new ones are
    copied in, and numbers without an ICCID take the one given. Every statement finds its
    rows by id, so each batch costs the same however many the transaction has written before
    it. A registration ended meanwhile raises, and the apply is rolled back; a new current
    registration made meanwhile breaks the unique index, the same way."""
    if batch.ended:
        result = session.execute(
            update(Registration)
            .where(Registration.id.in_(batch.ended), Registration.ended_at.is_(None))
            .values(ended_at=batch.now, end_reason=batch.end_reason)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != len(batch.ended):  # type: ignore[attr-defined]
            raise Conflict(f"registrations of upload {batch.upload_id} ended meanwhile; try again")
    checkpoints.reach("apply.superseded_ended")
    columns, slices = batch.registrations
    _copy_in(session, "registrations", columns, slices)
    checkpoints.reach("apply.registrations_inserted")
    if batch.sims is not None:
        ids, iccids = batch.sims
        session.execute(
            text(
                "UPDATE numbers SET iccid = given.iccid FROM unnest(CAST(:ids AS BIGINT[]),"
                " CAST(:iccids AS TEXT[])) AS given(id, iccid)"
                " WHERE numbers.id = given.id AND numbers.iccid IS NULL"
            ),
            {"ids": ids, "iccids": iccids},
        )


def _apply_moves(writer: Session | Connection, batch: _PreparedBatch) -> None:
    """PostgreSQL: the numbers of one prepared batch move to their new statuses, each with an
    event. A number moved meanwhile raises (`lifecycle.transition_read`)."""
    for move in batch.moves:
        lifecycle.transition_read(
            writer,
            move.ids,
            move.read_statuses,
            move.target,
            actor=batch.actor,
            reason=move.reason,
            at=batch.now,
            only_from=move.sources,
            also_set=move.also_set,
        )


def _settle_deadlines(session: Session, upload: Upload, *, now: dt.datetime) -> None:
    """An applied upload's numbers know their deadlines when the upload is done: those it gave
    a new user (marked stale) are worked out set-based, in the apply's transaction."""
    settle_stale_deadlines(
        session,
        scope=[PhoneNumber.subscriber_id == upload.subscriber_id],
        actor=Actor(ActorKind.COMPANY_ADMIN, upload.created_by),
        now=now,
    )


def _end_reason(upload: Upload) -> str:
    """Why a registration ended: the upload that named a new user for its number."""
    return f"superseded by a new user (upload {upload.id})"


def _new_user_values(kind: str, outcome: str | None, now: dt.datetime) -> dict[str, object]:
    """What a number takes with a new user (outcome None: its first). A new user moves the
    deadline: a grace period from today for a change of user, and the rules of the new
    user's kind; the next deadline run recomputes these numbers."""
    values: dict[str, object] = {"sim_kind": kind, "deadline_stale": True}
    if outcome is not None:
        values["user_changed_on"] = now.astimezone(MOSCOW).date()
    return values


_CURRENT_COLUMNS = {"number_id": pl.Int64, "prev_registration_id": pl.Int64} | {
    f"{name}_now": pl.String for name in _COMPARED
}


def _current_of(connection: Connection, number_ids: pl.Series) -> pl.DataFrame:
    """The current registrations of a batch's numbers, with the fields a row is compared on."""
    return _batch_query(
        connection,
        number_ids,
        _CURRENT_COLUMNS,
        postgres=f"SELECT number_id, id, {', '.join(_COMPARED)} FROM registrations"  # noqa: S608
        " WHERE number_id = ANY(CAST(%s AS BIGINT[])) AND ended_at IS NULL",
        sqlite="",  # a streamed apply runs on PostgreSQL only
    )


def _with_outcomes(staged: pl.DataFrame, good: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """A batch's staged rows with what `_apply_staged` works out in SQL: the outcome of each
    row against its number's current registration (None when it has none), and that
    registration; and, for `_prepare_batch`, the number's status and ICCID as read."""
    same = pl.all_horizontal(pl.col(name).eq_missing(pl.col(f"{name}_now")) for name in _COMPARED)
    return (
        staged.with_columns(old_status=good["status"], number_iccid=good["number_iccid"])
        .join(current, on="number_id", how="left", maintain_order="left")
        .with_columns(
            outcome=pl.when(pl.col("prev_registration_id").is_null())
            .then(pl.lit(None, pl.String))
            .when(same)
            .then(pl.lit("unchanged"))
            .otherwise(pl.lit("superseded"))
        )
        .drop(f"{name}_now" for name in _COMPARED)
    )


def _examine(
    batch: RowBatch,
    positions: list[tuple[int, Column]],
    *,
    today: dt.date,
    digest: Callable[[str], str],
) -> _Examined:
    """The checks of one batch that need nothing but its rows: the problems found per row,
    the cells of the rows the reader could not split, and the clean rows with the keyed hash
    of each person's document (`doc_hash`, which the whole-file checks count)."""
    problems: dict[int, list[dict[str, str]]] = defaultdict(list)
    cells_of: dict[int, list[str]] = {}
    for row in batch.odd:
        assert row.problem is not None
        code, message = row.problem
        problems[row.row_no].append({"column": "row", "code": code, "message": message})
        cells_of[row.row_no] = row.cells
    frame = batch.cells.select(
        "row_no", *(pl.col(str(i)).alias(column.value) for i, column in positions)
    )
    clean, row_problems = validate_batch(frame, today=today)
    for problem in row_problems:
        problems[problem.row_no].append(_problem_dict(problem))
    for column, limit in _MAX_LENGTHS.items():
        too_long = clean.filter(pl.col(column).str.len_chars() > limit).select("row_no")
        for (row_no,) in too_long.rows():
            problems[row_no].append(
                {
                    "column": column,
                    "code": "value.too_long",
                    "message": f"the value is longer than {limit} characters; shorten it",
                }
            )
    doc_key = pl.when(pl.col("kind") == "employee").then(
        pl.concat_str(
            [
                pl.lit("doc:"),
                pl.col("doc_type"),
                pl.lit(":"),
                pl.col("doc_series").fill_null(""),
                pl.col("doc_number"),
            ]
        )
    )
    clean = clean.with_columns(doc_hash=_hashed(digest, clean.select(doc_key).to_series()))
    return problems, cells_of, clean


def _hashed(digest: Callable[[str], str], keys: pl.Series) -> pl.Series:
    """Keyed hashes of 'kind:value' strings; null stays null."""
    return pl.Series(
        [digest(key) if key is not None else None for key in keys.to_list()], dtype=pl.String
    )


_REPEATED = {
    "column": Column.MSISDN.value,
    "code": "msisdn.repeated_in_file",
    "message": "this number appears more than once in the file; keep one row",
}


_STAGED_KEYS = {"row_no": pl.Int64, "msisdn": pl.String, "doc_hash": pl.String}


class _SeenRows:
    """What the whole-file checks need of every row seen so far, kept compact in memory:
    for each accepted row its number (as 10 digits), the person's document hash and how many
    numbers the registry already gives that person; for each refused row the digits of its
    number, if it has any. 30 bytes a row."""

    def __init__(self) -> None:
        self._accepted: list[pl.DataFrame] = []
        self._refused: list[pl.Series] = []

    def add(
        self, good: pl.DataFrame, registered: pl.DataFrame, rejections: list[dict[str, Any]]
    ) -> None:
        """Keep a batch's accepted rows (with their people's registered counts) and the
        digits of its refused rows."""
        self._accepted.append(
            good.select("row_no", "msisdn", "doc_hash")
            .join(registered, on="doc_hash", how="left")
            .select(
                pl.col("row_no").cast(pl.Int32),
                _digits_of("msisdn").alias("digits"),
                _person_of("doc_hash").alias("person"),
                pl.col("registered").fill_null(0).clip(upper_bound=65_535).cast(pl.UInt16),
            )
        )
        self._add_refused(r["msisdn_digits"] for r in rejections)

    def _add_refused(self, digits: Iterable[str | None]) -> None:
        kept = [d for d in digits if d is not None]
        if kept:
            self._refused.append(pl.Series("digits", kept, dtype=pl.String).cast(pl.Int64))

    def reload(self, session: Session, upload_id: int) -> None:
        """Rebuild what the committed batches of a resumed apply left: their staged rows and
        the digits of their refused rows."""
        connection = session.connection()
        staged = select(StagedRow.row_no, StagedRow.msisdn, StagedRow.doc_hash)
        result = connection.execute(
            staged.where(StagedRow.upload_id == upload_id).execution_options(yield_per=50_000)
        )
        for part in result.partitions():
            good = pl.DataFrame(part, schema=_STAGED_KEYS, orient="row")
            self.add(good, _registered_of(connection, good["doc_hash"]), [])
        self._add_refused(
            session.scalars(
                select(UploadRejection.msisdn_digits).where(
                    UploadRejection.upload_id == upload_id,
                    UploadRejection.msisdn_digits.is_not(None),
                )
            )
        )

    def frames(self) -> tuple[pl.DataFrame, pl.Series]:
        """All accepted rows, and the digits of all refused rows (the batches' frames are
        taken as they are, not copied into one)."""
        accepted = (
            pl.concat(self._accepted, rechunk=False)
            if self._accepted
            else pl.DataFrame(
                schema={
                    "row_no": pl.Int32,
                    "digits": pl.Int64,
                    "person": pl.UInt128,
                    "registered": pl.UInt16,
                }
            )
        )
        refused = (
            pl.concat(self._refused, rechunk=False)
            if self._refused
            else pl.Series("digits", [], pl.Int64)
        )
        self._accepted, self._refused = [], []
        return accepted, refused


def _start_over(session: Session, upload: Upload) -> None:
    """A dry run keeps its accepted rows in memory only, and a streamed apply commits nothing
    before its end: when either was cut short, it starts over from the first row (refused rows
    so far are dropped and found again)."""
    session.execute(delete(UploadRejection).where(UploadRejection.upload_id == upload.id))
    upload.resume_after_row = 0
    upload.rows_read = 0
    upload.accepted = 0
    upload.rejected = 0
    session.commit()
    log.info("upload starts over", upload_id=upload.id)


def _digits_of(msisdn: str) -> pl.Expr:
    """A number's last ten digits as one integer (what `_phone_digits` gives as text)."""
    return pl.col(msisdn).str.slice(-10).cast(pl.Int64)


def _person_of(doc_hash: str) -> pl.Expr:
    """The 32 hex digits of a document's hash as one 128-bit number: 16 bytes a person."""
    return pl.col(doc_hash).str.to_integer(base=16, dtype=pl.UInt128)


def _repeated(values: pl.Series) -> pl.Series:
    """The values that occur more than once, each once. Found by sorting: a hash table of a
    million values (`is_duplicated`) takes about ten times the memory."""
    ordered = values.sort()
    return ordered.filter(ordered == ordered.shift(1)).unique()


def _over_cap(
    connection: Connection, subscriber_id: int, kept: pl.DataFrame, cap: int
) -> pl.Series:
    """The people (document hashes as numbers) the file would take over the cap: their rows
    here plus their current registrations on numbers the file does not give a user (other
    companies' numbers, and the company's numbers not among the rows kept).

    A person named once is over only if the registry already gives them `cap` numbers, so
    only people named twice or already registered are counted; their registered counts bound
    the numbers elsewhere from above, so only those who might be over are looked up again,
    for the numbers of their registrations."""
    named = kept.select("person", "registered").filter(pl.col("person").is_not_null())
    twice = _repeated(named["person"]).implode()
    maybe = (
        named.filter(pl.col("person").is_in(twice) | (pl.col("registered") >= cap))
        .group_by("person")
        .agg(pl.len().alias("n"), pl.col("registered").max().cast(pl.Int64))
        .filter(pl.col("n") + pl.col("registered") > cap)
    )
    del named
    if maybe.is_empty():
        return pl.Series("person", [], pl.UInt128)
    hashes = [f"{person:032x}" for person in maybe["person"].to_list()]
    theirs: list[tuple[str | None, int, str]] = []
    for start in range(0, len(hashes), _IN_CHUNK):
        theirs += [
            (doc_hash, holder, msisdn)
            for doc_hash, holder, msisdn in connection.execute(
                select(Registration.doc_hash, PhoneNumber.subscriber_id, PhoneNumber.msisdn)
                .join(PhoneNumber, PhoneNumber.id == Registration.number_id)
                .where(
                    Registration.doc_hash.in_(hashes[start : start + _IN_CHUNK]),
                    Registration.ended_at.is_(None),
                )
            )
        ]
    named_again = (pl.col("holder") == subscriber_id) & _digits_of("msisdn").is_in(
        kept["digits"].implode()
    )
    elsewhere = (
        pl.DataFrame(
            theirs,
            schema={"doc_hash": pl.String, "holder": pl.Int64, "msisdn": pl.String},
            orient="row",
        )
        .filter(~named_again)
        .group_by(_person_of("doc_hash").alias("person"))
        .agg(pl.len().alias("elsewhere"))
    )
    over = maybe.join(elsewhere, on="person", how="left").filter(
        pl.col("n") + pl.col("elsewhere").fill_null(0) > cap
    )
    return over["person"]


def _add_repetition(session: Session, upload_id: int, repeated: pl.Series) -> None:
    """Rows refused for other reasons get the repetition of their number added too."""
    digits = [f"{d:010d}" for d in repeated.to_list()]
    for start in range(0, len(digits), _IN_CHUNK):
        for rejection in session.scalars(
            select(UploadRejection).where(
                UploadRejection.upload_id == upload_id,
                UploadRejection.msisdn_digits.in_(digits[start : start + _IN_CHUNK]),
            )
        ):
            if all(p["code"] != _REPEATED["code"] for p in rejection.problems):
                rejection.problems = [*rejection.problems, _REPEATED]


def _ahead(
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


def _batch_rows(runtime: Runtime, seal: bool) -> int:
    """Rows per batch: the setting in a dry run; two thirds of it in an apply, whose batches
    carry sealed personal data (at a million rows that keeps the peak about 30 MB lower, at
    the same speed, while a dry run's larger batches save it a tenth of its time)."""
    rows = runtime.settings.upload_batch_rows
    return max(1, rows * 2 // 3) if seal else rows


def _clear_staging(session: Session, upload_id: int, *, postgres: bool) -> None:
    """Delete an applied upload's staged rows. On SQLite, when they are the only ones (this
    transaction holds the only write lock), a DELETE without WHERE empties the table at once;
    row by row, a million took 2.5 s."""
    if not postgres:
        low, high = session.execute(
            select(func.min(StagedRow.upload_id), func.max(StagedRow.upload_id))
        ).one()
        if low == high == upload_id:
            session.execute(delete(StagedRow))
            return
    session.execute(delete(StagedRow).where(StagedRow.upload_id == upload_id))


def count_rows(upload: Upload) -> None:
    """Add a finished upload's rows to the metrics (once: only after its final commit)."""
    UPLOAD_ROWS_PROCESSED.labels(mode=upload.mode.value).inc(upload.rows_read)
    UPLOAD_ROWS_REJECTED.labels(mode=upload.mode.value).inc(upload.rejected)


def _literal(value: str) -> Any:
    return literal(value, String())


def _literal_time(value: dt.datetime) -> Any:
    return literal(value, UtcDateTime())


def _problem_dict(problem: RowProblem) -> dict[str, str]:
    return {"column": problem.column, "code": problem.code, "message": problem.message}


def _rejection(
    row_no: int,
    cells: list[str],
    problems: list[dict[str, str]],
    positions: Sequence[tuple[int, Column]],
) -> dict[str, Any]:
    """A refused row as `_write_rejections` takes it."""
    return {
        "row_no": row_no,
        "cells": cells,
        "problems": problems,
        "msisdn_digits": _phone_digits(cells, positions),
    }


def _phone_digits(cells: list[str], positions: Sequence[tuple[int, Column]]) -> str | None:
    for index, column in positions:
        if column is Column.MSISDN and index < len(cells):
            digits = "".join(ch for ch in cells[index] if ch.isdigit())
            return digits[-10:] if len(digits) >= 10 else None
    return None


def _check_header(table: Table) -> None:
    """Refuse a header missing a column its rows need, before any row is read."""
    present = {c for c in table.columns if c is not None}
    employees = any(c in present for c in EMPLOYEE_MARKERS)
    devices = any(c in present for c in DEVICE_MARKERS)
    if not employees and not devices:
        raise UploadRejected(
            "header.no_known_columns",
            "The header names neither a person's columns (Фамилия, Имя, Дата рождения) nor a "
            "device's (Тип устройства, Модель, IMEI); download a template and use its headers.",
        )
    needed: list[Column] = []
    if employees:
        needed += [c for c in EMPLOYEE_REQUIRED if c not in present]
        has_document = (
            Column.PASSPORT in present
            or {
                Column.PASSPORT_SERIES,
                Column.PASSPORT_NUMBER,
            }
            <= present
        )
        if not has_document:
            needed.append(Column.PASSPORT)
    if devices:
        needed += [c for c in DEVICE_REQUIRED if c not in present and c not in needed]
    if needed:
        names = ", ".join(f"'{header_for(c)}'" for c in needed)
        raise UploadRejected(
            "header.missing_column",
            f"The header has no column {names}; add it (see the template) and upload again.",
            column=needed[0].value,
        )


_NUMBER_COLUMNS = {
    "msisdn": pl.String,
    "number_id": pl.Int64,
    "status": pl.String,
    "number_iccid": pl.String,
    "left_registry": pl.Boolean,
}


# CROSS JOIN keeps SQLite to this order, and the unary + keeps it off the subscriber index:
# each wanted number by the (msisdn, operator) index, not all the company's numbers per number.
SQLITE_NUMBERS_OF = (
    "SELECT numbers.msisdn, numbers.id, numbers.status, numbers.iccid, numbers.left_registry"
    " FROM json_each(?) AS wanted CROSS JOIN numbers"
    " ON numbers.msisdn = wanted.value WHERE +numbers.subscriber_id = ?"
)


def _numbers_of(connection: Connection, subscriber_id: int, msisdns: pl.Series) -> pl.DataFrame:
    """The company's numbers among `msisdns` (one batch), by index look-ups.

    A batch asks only for its own numbers, so memory does not grow with the company (a
    million numbers read whole cost 200 MB) and a short list of a big company stays quick.
    A number that left the registry and came back to the company through another operator
    is two rows: the one in the registry is the number."""
    found = _batch_query(
        connection,
        msisdns,
        _NUMBER_COLUMNS,
        postgres="SELECT msisdn, id, status, iccid, left_registry FROM numbers"
        " WHERE msisdn = ANY(CAST(%s AS TEXT[])) AND subscriber_id = %s",
        sqlite=SQLITE_NUMBERS_OF,
        more=(subscriber_id,),
    )
    return (
        found.sort("left_registry", "number_id")
        .unique("msisdn", keep="first", maintain_order=True)
        .drop("left_registry")
    )


_REGISTERED_COLUMNS = {"doc_hash": pl.String, "registered": pl.Int32}

SQLITE_REGISTERED_OF = (
    "SELECT registrations.doc_hash, count(*)"
    " FROM json_each(?) AS wanted CROSS JOIN registrations"
    " ON registrations.doc_hash = wanted.value WHERE registrations.ended_at IS NULL"
    " GROUP BY registrations.doc_hash"
)


def _registered_of(connection: Connection, doc_hashes: pl.Series) -> pl.DataFrame:
    """How many numbers the registry gives now to each person among `doc_hashes` (one
    batch); people with none are left out."""
    return _batch_query(
        connection,
        doc_hashes,
        _REGISTERED_COLUMNS,
        postgres="SELECT doc_hash, count(*) FROM registrations"
        " WHERE doc_hash = ANY(CAST(%s AS TEXT[])) AND ended_at IS NULL GROUP BY doc_hash",
        sqlite=SQLITE_REGISTERED_OF,
    )


def _batch_query(
    connection: Connection,
    values: pl.Series,
    schema: dict[str, Any],
    *,
    postgres: str,
    sqlite: str,
    more: tuple[Any, ...] = (),
) -> pl.DataFrame:
    """The rows a query gives for a batch's distinct `values`, as a frame of `schema`. The
    values travel as the first parameter, `more` after them: an array literal on PostgreSQL
    (the query casts it), a JSON array on SQLite (read with json_each)."""
    wanted = values.drop_nulls().unique()
    if wanted.is_empty():
        return pl.DataFrame(schema=schema)
    cursor = connection.connection.cursor()
    try:
        if connection.dialect.name == "postgresql":
            cursor.execute(postgres, (array_literal(wanted), *more))
        else:
            cursor.execute(sqlite, (orjson.dumps(wanted.to_list()).decode(), *more))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return pl.DataFrame(rows, schema=schema, orient="row")


_REJECTION_COLUMNS = "upload_id, row_no, cells_sealed, pd_key_id, problems, msisdn_digits"


def _write_rejections(
    session: Session, vault: PersonalDataVault, upload_id: int, rows: list[dict[str, Any]]
) -> None:
    """Refused rows with their cells sealed and their problems as JSON, written by the driver:
    through the ORM, the JSON encoding of 20,000 rows held the GIL for a second the checks
    needed."""
    if not rows:
        return
    sealed = vault.seal_many([orjson.dumps({"cells": r["cells"]}) for r in rows])
    values = [
        (
            upload_id,
            r["row_no"],
            cells,
            vault.active_key_id,
            orjson.dumps(r["problems"]).decode(),
            r["msisdn_digits"],
        )
        for r, cells in zip(rows, sealed, strict=True)
    ]
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        copy_sql = f"COPY upload_rejections ({_REJECTION_COLUMNS}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:  # type: ignore[union-attr]
            for value in values:
                copy.write_row(value)
        return
    cursor = connection.connection.cursor()
    try:
        cursor.executemany(
            f"INSERT INTO upload_rejections ({_REJECTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
            values,
        )
    finally:
        cursor.close()


def _bulk_write(session: Session, frame: pl.DataFrame, table: str = "upload_staged_rows") -> None:
    """Bulk-load rows into `table`: PostgreSQL COPY, SQLite executemany (see MEASURED.md).

    On PostgreSQL the frame goes over as CSV written by polars, so no row becomes a Python
    object; SQLite's driver binds Python values, so there the rows are tuples."""
    if frame.is_empty():
        return
    connection = session.connection()
    columns = ", ".join(frame.columns)
    if connection.dialect.name == "postgresql":
        _copy_in(session, table, columns, _csv_slices(frame))
        return
    marks = ", ".join("?" for _ in frame.columns)
    cursor = connection.connection.cursor()
    try:
        # Column names are constants of this module; the values are bound.
        insert_sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        cursor.executemany(insert_sql, frame.rows())
    finally:
        cursor.close()


def _csv_slices(frame: pl.DataFrame) -> list[bytes]:
    """A frame as the CSV that PostgreSQL's COPY reads, in slices of `_COPY_SLICE` rows (the
    CSV of a whole batch of sealed rows would be one buffer of several MB). bytea goes in
    COPY's text form: \\x and hex digits; an empty field is NULL, and "" is ''."""
    text_frame = frame.with_columns(
        (pl.lit("\\x") + pl.col(name).bin.encode("hex")).alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.Binary
    )
    slices = []
    for part in text_frame.iter_slices(_COPY_SLICE):
        buffer = io.BytesIO()
        part.write_csv(buffer, include_header=False)
        slices.append(buffer.getvalue())
    return slices


def _copy_in(session: Session, table: str, columns: str, slices: list[bytes]) -> None:
    """PostgreSQL: COPY the CSV `slices` into `columns` of `table` (constants of this module)."""
    if not slices:
        return
    raw = session.connection().connection.driver_connection
    copy_sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)"
    with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:  # type: ignore[union-attr]
        for part in slices:
            copy.write(part)
