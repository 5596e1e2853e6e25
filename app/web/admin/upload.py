"""One upload: its state with a live progress bar, its counts, the refused rows with their
problems in words, and the error files to fix and send back."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.core.deps import RuntimeDep, SessionDep
from app.core.integers import RowId
from app.core.messages import Language, LanguageDep, say
from app.uploads.models import UploadStatus
from app.uploads.problems import column_name
from app.uploads.router import download_errors, get_upload
from app.uploads.schemas import RowError, UploadOut
from app.web.admin.cabinet import Reader, cabinet_page, page_router
from app.web.rendering import grouped

router = page_router()
_FINISHED = (UploadStatus.DONE, UploadStatus.FAILED)


def _refused_row(error: RowError, language: Language) -> dict[str, Any]:
    """A refused row's problem: the column as the admin's file titled it."""
    headers = {error.column: error.header} if error.header else None
    return {
        "row": error.row,
        "column": column_name(error.column, language, headers),
        "message": error.message,
    }


def progress_of(upload: UploadOut, language: Language) -> dict[str, Any]:
    """What the progress bar and the counts show, for the page and its script alike."""
    read, total = upload.progress.rows_read, upload.progress.rows_total
    finished = upload.status in _FINISHED
    # Until the reader has counted the rows, "0 of 0" would say the file is empty.
    text = (
        say("page.admin.upload.progress", language, read=grouped(read), total=grouped(total))
        if total or finished
        else say("page.admin.upload.progress_counting", language)
    )
    return {
        "progress_text": text,
        "status": upload.status.value,
        "status_text": upload.status_text,
        "finished": finished,
        "rows_read": upload.progress.rows_read,
        "rows_total": upload.progress.rows_total,
        "percent": upload.progress.percent,
        **upload.counts.model_dump(),
    }


@router.get("/companies/{company_id}/uploads/{upload_id}", response_class=HTMLResponse)
def upload_page(
    request: Request,
    company_id: RowId,
    upload_id: RowId,
    session: SessionDep,
    reader: Reader,
    language: LanguageDep,
) -> Response:
    """The upload as the API's get_upload shows it, in words."""
    upload = get_upload(company_id, upload_id, session, reader, language)
    refused = [_refused_row(e, language) for e in upload.first_errors]
    shown_rows = len({e.row for e in upload.first_errors})
    return cabinet_page(
        request,
        "admin/upload.html",
        company_id,
        upload=upload,
        progress=progress_of(upload, language),
        refused=refused,
        capped=shown_rows < upload.counts.rejected,
    )


@router.get("/companies/{company_id}/uploads/{upload_id}/progress")
def upload_progress(
    company_id: RowId,
    upload_id: RowId,
    session: SessionDep,
    reader: Reader,
    language: LanguageDep,
) -> JSONResponse:
    """The progress for the page's script (progress.js), polled every second."""
    upload = get_upload(company_id, upload_id, session, reader, language)
    return JSONResponse(progress_of(upload, language), headers={"Cache-Control": "no-store"})


@router.get("/companies/{company_id}/uploads/{upload_id}/errors.{fmt}")
def upload_errors(
    company_id: RowId,
    upload_id: RowId,
    fmt: Literal["csv", "xlsx"],
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    reader: Reader,
    language: LanguageDep,
) -> Response:
    """The refused rows as written, with their errors: the API's error file."""
    return download_errors(company_id, upload_id, fmt, request, session, runtime, reader, language)
