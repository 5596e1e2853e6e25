"""The uploads' face to the API and the command line: receive a file (or replay the earlier
upload of the same Idempotency-Key), list and show uploads, and report what they refused.

Only the key decides a replay, for 24 hours, as Stripe's keys do. The same file sent again
with a new key, or with none, is checked again against the registry as it is now: the
registry changes (the operator adds a number, a person confirms), and so may the verdicts.
Such an upload says it was seen before, and when (`seen_before`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.companies.models import CorporateSubscriber, SubscriberStatus
from app.core.actors import Actor
from app.core.errors import Conflict, NotFound
from app.core.messages import DEFAULT, Language, Text
from app.core.metrics import UPLOAD_ROWS_PROCESSED, UPLOAD_ROWS_REJECTED
from app.core.personal_data import PersonalDataVault
from app.uploads.models import Upload, UploadMode, UploadRejection, UploadStatus
from app.uploads.problems import word_problem
from app.uploads.spreadsheets import ReportRow

FIRST_ERRORS = 50
# How long an Idempotency-Key replays its upload; after that it starts a new one.
KEY_LIFETIME = dt.timedelta(hours=24)


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
        raise NotFound(Text("upload.company_not_found", company_id=subscriber_id))
    if idempotency_key:
        earlier = _replayed(
            session,
            subscriber_id=subscriber_id,
            received=received,
            mode=mode,
            idempotency_key=idempotency_key,
            now=now,
        )
        if earlier is not None:
            return earlier, False
    if company.status is SubscriberStatus.LIQUIDATED:
        raise Conflict(Text("upload.company_liquidated", company_id=subscriber_id))
    upload_dir.mkdir(parents=True, exist_ok=True)
    # A file of its own for each upload: it is deleted when its upload ends, whatever other
    # uploads of the same content are doing.
    stored = upload_dir / f"{subscriber_id}-{received.sha256[:16]}-{secrets.token_hex(8)}"
    shutil.move(str(received.path), stored)
    upload = _new_upload(
        subscriber_id=subscriber_id,
        received=received,
        mode=mode,
        idempotency_key=idempotency_key,
        stored=stored,
        actor=actor,
        now=now,
    )
    session.add(upload)
    session.flush()
    return upload, True


def _new_upload(
    *,
    subscriber_id: int,
    received: ReceivedFile,
    mode: UploadMode,
    idempotency_key: str | None,
    stored: Path,
    actor: Actor,
    now: dt.datetime,
) -> Upload:
    """A new upload of a file stored at `stored`, received and not yet read."""
    return Upload(
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


def _replayed(
    session: Session,
    *,
    subscriber_id: int,
    received: ReceivedFile,
    mode: UploadMode,
    idempotency_key: str,
    now: dt.datetime,
) -> Upload | None:
    """The company's upload of the same key within its lifetime (Conflict when its file or
    mode differs). A key past its lifetime is released from its upload for the new one."""
    earlier = session.scalars(
        select(Upload).where(
            Upload.subscriber_id == subscriber_id, Upload.idempotency_key == idempotency_key
        )
    ).one_or_none()
    if earlier is None:
        return None
    if earlier.created_at <= now - KEY_LIFETIME:
        earlier.idempotency_key = None
        session.flush()
        return None
    if earlier.content_sha256 != received.sha256 or earlier.mode is not mode:
        raise Conflict(Text("upload.key_reused"), upload_id=earlier.id)
    return earlier


def seen_before(session: Session, upload: Upload) -> Upload | None:
    """The company's latest earlier upload of the same file, in either mode (a failed one
    too: it was seen), or None."""
    return session.scalars(
        select(Upload)
        .where(
            Upload.subscriber_id == upload.subscriber_id,
            Upload.content_sha256 == upload.content_sha256,
            Upload.id < upload.id,
        )
        .order_by(Upload.id.desc())
        .limit(1)
    ).first()


def get_upload(session: Session, *, subscriber_id: int, upload_id: int) -> Upload:
    """One upload of a company, or NotFound."""
    upload = session.scalars(
        select(Upload).where(Upload.id == upload_id, Upload.subscriber_id == subscriber_id)
    ).one_or_none()
    if upload is None:
        raise NotFound(Text("upload.not_found", upload_id=upload_id))
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
    session: Session,
    *,
    upload: Upload,
    language: Language = DEFAULT,
    limit: int = FIRST_ERRORS,
) -> list[dict[str, Any]]:
    """The first problems of an upload, row by row: the row, the column (its stable name,
    and its header as the file wrote it), the code and the words in `language`."""
    rows = session.scalars(
        select(UploadRejection)
        .where(UploadRejection.upload_id == upload.id)
        .order_by(UploadRejection.row_no)
        .limit(limit)
    )
    headers = upload.header_names or {}
    found: list[dict[str, Any]] = []
    for rejection in rows:
        for problem in rejection.problems:
            column = problem["column"]
            found.append(
                {
                    "row": rejection.row_no,
                    "column": column,
                    "header": headers.get(column),
                    "code": problem["code"],
                    "message": word_problem(problem, language, headers),
                }
            )
            if len(found) >= limit:
                return found
    return found


def rejected_rows(
    session: Session, *, vault: PersonalDataVault, upload: Upload, language: Language = DEFAULT
) -> Iterable[ReportRow]:
    """Refused rows as written (their cells opened), with their problems in words of
    `language` and their codes, in row order (streamed). For the error report only: the
    cells may hold personal data."""
    query = (
        select(UploadRejection.row_no, UploadRejection.cells_sealed, UploadRejection.problems)
        .where(UploadRejection.upload_id == upload.id)
        .order_by(UploadRejection.row_no)
        .execution_options(yield_per=2_000)
    )
    headers = upload.header_names or {}
    # Most rows share their problems word for word: each is worded once (a catalog look-up
    # costs about 50 µs, a tenth of the time of a 100,000-row report).
    worded: dict[bytes, str] = {}

    def said_of(problem: dict[str, Any]) -> str:
        key = orjson.dumps(problem, option=orjson.OPT_SORT_KEYS)
        if key not in worded:
            worded[key] = word_problem(problem, language, headers)
        return worded[key]

    for row_no, sealed, problems in session.execute(query):
        said = "; ".join(said_of(p) for p in problems)
        codes = "; ".join(dict.fromkeys(p["code"] for p in problems))
        yield ReportRow(row_no, vault.open(sealed)["cells"], said, codes)


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


def count_rows(upload: Upload) -> None:
    """Add a finished upload's rows to the metrics (once: only after its final commit)."""
    UPLOAD_ROWS_PROCESSED.labels(mode=upload.mode.value).inc(upload.rows_read)
    UPLOAD_ROWS_REJECTED.labels(mode=upload.mode.value).inc(upload.rejected)
