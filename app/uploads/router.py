"""HTTP endpoints for uploads, their error reports, and the templates to fill in."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    BackgroundTasks,
    File,
    Form,
    Header,
    Query,
    Request,
    UploadFile,
    status,
)
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from app.auth.dependencies import ensure_company_visible, require
from app.auth.service import Principal, Role
from app.core.deps import CursorDep, RuntimeDep, SessionDep
from app.core.downloads import attachment
from app.core.errors import FieldProblem, InvalidInput
from app.core.integers import RowId
from app.core.messages import DEFAULT, Language, LanguageDep, Text, say
from app.core.runtime import Runtime
from app.people.service import log_personal_data_read
from app.uploads import intake
from app.uploads.models import Upload, UploadMode
from app.uploads.reading.refusals import say_words
from app.uploads.schemas import Counts, Progress, RowError, SeenBefore, UploadOut, UploadPage
from app.uploads.spreadsheets import (
    error_report_csv,
    error_report_xlsx,
    template_csv,
    template_xlsx,
)
from app.uploads.worker import run_upload

router = APIRouter(prefix="/api/v1", tags=["uploads"])

Admin = Annotated[Principal, require(Role.COMPANY_ADMIN)]
Reader = Annotated[Principal, require(Role.COMPANY_ADMIN, Role.OPERATOR_STAFF)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload_view(session: Session, upload: Upload, language: Language = DEFAULT) -> UploadOut:
    """An upload as the API shows it, its words in `language`."""
    total = max(upload.rows_total, upload.rows_read)
    base = f"/api/v1/companies/{upload.subscriber_id}/uploads/{upload.id}"
    has_errors = upload.rejected > 0
    return UploadOut(
        id=upload.id,
        company_id=upload.subscriber_id,
        mode=upload.mode,
        status=upload.status,
        status_text=say(f"upload.status.{upload.status.value}", language),
        filename=upload.filename,
        size_bytes=upload.size_bytes,
        file_format=upload.file_format,
        encoding=upload.encoding,
        delimiter=upload.delimiter,
        progress=Progress(
            rows_read=upload.rows_read,
            rows_total=total,
            percent=round(100 * upload.rows_read / total, 1) if total else 0.0,
        ),
        counts=Counts(
            accepted=upload.accepted,
            rejected=upload.rejected,
            created=upload.created,
            unchanged=upload.unchanged,
            superseded=upload.superseded,
        ),
        first_errors=[
            RowError(**e) for e in intake.first_errors(session, upload=upload, language=language)
        ],
        failure_code=upload.failure_code,
        failure_message=(
            say_words(upload.failure_text, language)
            if upload.failure_text
            else upload.failure_message
        ),
        created_at=upload.created_at,
        started_at=upload.started_at,
        finished_at=upload.finished_at,
        errors_csv=f"{base}/errors.csv" if has_errors else None,
        errors_xlsx=f"{base}/errors.xlsx" if has_errors else None,
        seen_before=_seen_before(session, upload),
    )


def _seen_before(session: Session, upload: Upload) -> SeenBefore | None:
    earlier = intake.seen_before(session, upload)
    if earlier is None:
        return None
    return SeenBefore(upload_id=earlier.id, mode=earlier.mode, created_at=earlier.created_at)


async def _spool(file: UploadFile, directory: Path) -> intake.ReceivedFile:
    """Copy the upload to a file of our own, hashing it on the way."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=directory, prefix="incoming-", delete=False) as out:
        try:
            while chunk := await file.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        except BaseException:
            Path(out.name).unlink(missing_ok=True)  # a disconnect, a full disk
            raise
    return intake.ReceivedFile(
        path=Path(out.name),
        filename=file.filename or "upload",
        size=size,
        sha256=digest.hexdigest(),
    )


def _run_in_background(runtime: Runtime, upload_id: int) -> None:
    run_upload(runtime, upload_id)  # in a worker process: a file cannot take the API down


@router.post(
    "/companies/{company_id}/uploads",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadOut,
    responses={200: {"description": "The same Idempotency-Key within 24 hours: the first upload"}},
)
async def create_upload(
    company_id: RowId,
    background: BackgroundTasks,
    runtime: RuntimeDep,
    admin: Admin,
    language: LanguageDep,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or Windows-1251) or XLSX")],
    mode: Annotated[UploadMode, Form(description="validate: a dry run; apply: for real")] = (
        UploadMode.VALIDATE
    ),
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Upload a list of who uses which number; the checks run in the background. The same
    Idempotency-Key within 24 hours replays the first upload; the same file sent again
    otherwise is checked again against the registry as it is now (see `seen_before`)."""
    ensure_company_visible(admin, company_id)
    upload_dir = Path(runtime.settings.upload_dir)
    received = await _spool(file, upload_dir / "incoming")
    try:
        upload, created, body = _record(
            runtime, admin, company_id, received, (mode, idempotency_key), language
        )
    finally:
        # Every answer but a new upload leaves the spooled file behind: a replay, a refusal
        # (409, 404, 422), an error. A new upload has moved it already.
        received.path.unlink(missing_ok=True)
    headers = {
        "Location": f"/api/v1/companies/{company_id}/uploads/{upload.id}",
        "Content-Language": language,
        "Vary": "Accept-Language",
    }
    if not created:
        headers["Idempotent-Replayed"] = "true"
        return JSONResponse(body, status_code=200, headers=headers)
    background.add_task(_run_in_background, runtime, upload.id)
    return JSONResponse(body, status_code=202, headers=headers)


def _record(
    runtime: Runtime,
    admin: Principal,
    company_id: int,
    received: intake.ReceivedFile,
    asked: tuple[UploadMode, str | None],
    language: Language,
) -> tuple[Upload, bool, dict[str, Any]]:
    """Record the upload (or replay the one of its key); the upload, whether it is new, its
    view in `language`. `asked` is the mode and the Idempotency-Key."""
    mode, idempotency_key = asked
    if received.size == 0:
        raise InvalidInput(
            Text("upload.request.file_empty"),
            errors=[FieldProblem("file", "file.empty", Text("upload.request.file_empty.field"))],
        )
    upload_dir = Path(runtime.settings.upload_dir)
    with runtime.sessions() as session:
        upload, created = intake.receive_upload(
            session,
            subscriber_id=company_id,
            received=received,
            mode=mode,
            idempotency_key=idempotency_key,
            actor=admin.actor,
            upload_dir=upload_dir,
            now=runtime.clock.now(),
        )
        try:
            session.commit()
        except BaseException:
            if created:  # its file was moved in for it alone
                Path(upload.stored_path).unlink(missing_ok=True)
            raise
        return upload, created, upload_view(session, upload, language).model_dump(mode="json")


@router.get("/companies/{company_id}/uploads/{upload_id}", response_model=UploadOut)
def get_upload(
    company_id: RowId,
    upload_id: RowId,
    session: SessionDep,
    reader: Reader,
    language: LanguageDep,
) -> UploadOut:
    """Status, progress, counts and the first errors of an upload, in the asked language."""
    ensure_company_visible(reader, company_id)
    return upload_view(
        session,
        intake.get_upload(session, subscriber_id=company_id, upload_id=upload_id),
        language,
    )


@router.get("/companies/{company_id}/uploads", response_model=UploadPage)
def list_uploads(
    company_id: RowId,
    session: SessionDep,
    cursors: CursorDep,
    reader: Reader,
    language: LanguageDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> UploadPage:
    """A company's uploads, newest first."""
    ensure_company_visible(reader, company_id)
    scope = {"uploads": company_id}
    before = int(cursors.decode(cursor, scope=scope)["before"]) if cursor else None
    rows = intake.list_uploads(session, subscriber_id=company_id, before_id=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return UploadPage(
        items=[upload_view(session, u, language) for u in rows],
        next_cursor=cursors.encode({"before": rows[-1].id, "scope": scope}) if more else None,
    )


@router.get("/companies/{company_id}/uploads/{upload_id}/errors.{fmt}")
def download_errors(
    company_id: RowId,
    upload_id: RowId,
    fmt: Literal["csv", "xlsx"],
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    reader: Reader,
    language: LanguageDep,
) -> Response:
    """The refused rows as written, with columns of their errors (in the asked language),
    the errors' codes and the row number: fix the cells in Excel and upload the file again,
    as it is (the added columns are ignored). Their cells may hold personal data: a read by
    operator staff is logged."""
    ensure_company_visible(reader, company_id)
    upload = intake.get_upload(session, subscriber_id=company_id, upload_id=upload_id)
    header = upload.header or []
    rows = list(
        intake.rejected_rows(session, vault=runtime.vault, upload=upload, language=language)
    )
    if reader.role is Role.OPERATOR_STAFF and rows:
        log_personal_data_read(
            session,
            staff=reader.subject,
            resource="upload_errors",
            resource_id=upload.id,
            route=request.url.path,
            now=runtime.clock.now(),
        )
    stem = Path(upload.filename).stem or "upload"
    disposition = attachment(f"errors-{stem}.{fmt}", fallback=f"errors-{upload.id}.{fmt}")
    if fmt == "csv":
        return StreamingResponse(
            error_report_csv(header, rows, delimiter=upload.delimiter or ";", language=language),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": disposition, "Content-Language": language},
        )
    return Response(
        error_report_xlsx(header, rows, language=language),
        media_type=XLSX,
        headers={"Content-Disposition": disposition, "Content-Language": language},
    )


@router.get("/upload-templates/{kind}.{fmt}")
def download_template(
    kind: Literal["employees", "devices"], fmt: Literal["csv", "xlsx"]
) -> Response:
    """An empty list with the headers simreg reads (CSV for Russian Excel: UTF-8 BOM, ';')."""
    disposition = attachment(f"simreg-{kind}.{fmt}")
    if fmt == "csv":
        return Response(
            template_csv(kind),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": disposition},
        )
    return Response(
        template_xlsx(kind), media_type=XLSX, headers={"Content-Disposition": disposition}
    )
