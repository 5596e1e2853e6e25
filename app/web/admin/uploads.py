"""The company's uploads: the list, and the form that sends a list file (checked or applied)
through the API's own intake."""

from __future__ import annotations

import json
import secrets
from typing import Annotated

from fastapi import BackgroundTasks, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from app.auth.service import Role
from app.core.deps import CursorDep, RuntimeDep, SessionDep
from app.core.integers import RowId
from app.core.messages import LanguageDep
from app.uploads.models import UploadMode
from app.uploads.router import create_upload, list_uploads
from app.web.admin.cabinet import Admin, Reader, base, cabinet_page, page_router, see_other
from app.web.sessions import CsrfChecked

router = page_router()
PAGE_SIZE = 20


@router.get("/companies/{company_id}/uploads", response_class=HTMLResponse)
def uploads_page(
    request: Request,
    company_id: RowId,
    session: SessionDep,
    cursors: CursorDep,
    reader: Reader,
    language: LanguageDep,
    cursor: str | None = None,
) -> Response:
    """The uploads, newest first, and (for the admin) the form to send a list."""
    page = list_uploads(company_id, session, cursors, reader, language, cursor, PAGE_SIZE)
    return cabinet_page(
        request,
        "admin/uploads.html",
        company_id,
        uploads=page.items,
        next_cursor=page.next_cursor,
        first_page=cursor is None,
        may_upload=reader.role is Role.COMPANY_ADMIN,
        # One key per rendered form: a second press of the button replays the first upload.
        idempotency_key=secrets.token_urlsafe(18),
    )


@router.post("/companies/{company_id}/uploads", dependencies=[CsrfChecked])
async def send_upload(
    company_id: RowId,
    background: BackgroundTasks,
    runtime: RuntimeDep,
    admin: Admin,
    language: LanguageDep,
    file: Annotated[UploadFile, File()],
    mode: Annotated[UploadMode, Form()] = UploadMode.VALIDATE,
    idempotency_key: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    """Send the chosen file as the API's create_upload does (its worker is started after the
    answer, with this page's redirect), then show the upload."""
    answer = await create_upload(
        company_id, background, runtime, admin, language, file, mode, idempotency_key or None
    )
    upload_id = json.loads(bytes(answer.body))["id"]
    return see_other(f"{base(company_id)}/uploads/{upload_id}")
