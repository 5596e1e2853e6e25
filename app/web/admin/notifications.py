"""Where the company's notifications go: the e-mail, the webhook and its secret, edited in a
form that keeps what was typed and shows the API's problems next to the fields. The secret is
never shown, not even back into the form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.core.deps import RuntimeDep, SessionDep
from app.core.errors import InvalidInput
from app.core.integers import RowId
from app.core.messages import LanguageDep, Text
from app.notifications.router import (
    get_notification_settings,
    put_notification_settings,
    visible_company,
)
from app.notifications.schemas import NotificationSettingsIn, NotificationSettingsOut
from app.web.admin.cabinet import Reader, base, cabinet_page, page_router, see_other
from app.web.forms import worded_problems
from app.web.rendering import flash
from app.web.sessions import CsrfChecked

router = page_router()


def _page(
    request: Request,
    settings: NotificationSettingsOut,
    *,
    typed: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
) -> Response:
    return cabinet_page(
        request,
        "admin/notifications.html",
        settings.company_id,
        status_code=422 if problems else 200,
        settings=settings,
        typed=typed
        or {"email": settings.notify_email or "", "webhook_url": settings.notify_webhook_url or ""},
        problems=problems or {},
    )


@router.get("/companies/{company_id}/notifications", response_class=HTMLResponse)
def settings_page(
    request: Request,
    company_id: RowId,
    session: SessionDep,
    runtime: RuntimeDep,
    reader: Reader,
) -> Response:
    """The settings as the API shows them (whether a secret is set, never the secret)."""
    visible = visible_company(company_id, reader)
    return _page(request, get_notification_settings(visible, session, runtime))


@router.post("/companies/{company_id}/notifications", dependencies=[CsrfChecked])
def save_settings(
    request: Request,
    company_id: RowId,
    session: SessionDep,
    runtime: RuntimeDep,
    reader: Reader,
    language: LanguageDep,
    email: Annotated[str, Form(max_length=2000)] = "",
    webhook_url: Annotated[str, Form(max_length=4000)] = "",
    secret: Annotated[str, Form(max_length=2000)] = "",
    remove_secret: Annotated[bool, Form()] = False,
) -> Response:
    """Save the settings through the API's own operation and its checks."""
    visible = visible_company(company_id, reader)
    fields: dict[str, Any] = {
        "notify_email": email.strip() or None,
        "notify_webhook_url": webhook_url.strip() or None,
    }
    if remove_secret:
        fields["webhook_secret"] = None
    elif secret:
        fields["webhook_secret"] = secret
    try:
        body = NotificationSettingsIn.model_validate(fields)
        put_notification_settings(visible, body, session, runtime, reader)
    except (ValidationError, InvalidInput) as exc:
        session.rollback()
        typed = {"email": email, "webhook_url": webhook_url}
        problems = {
            _FIELDS.get(field, field): said
            for field, said in worded_problems(exc, language).items()
        }
        current = get_notification_settings(visible, session, runtime)
        return _page(request, current, typed=typed, problems=problems)
    flash(request, Text("page.admin.notify.saved"))
    return see_other(f"{base(company_id)}/notifications")


# The API's field names, as the form names its inputs.
_FIELDS = {
    "notify_email": "email",
    "notify_webhook_url": "webhook_url",
    "webhook_secret": "secret",
}
