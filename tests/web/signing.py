"""Signing in to the pages from a test client, as a browser would: the sign-in page's form."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def page_csrf(client: TestClient, path: str = "/sign-in") -> str:
    """The session's CSRF token, read off a page the client opens."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


def sign_in(
    client: TestClient,
    role: str,
    *,
    company_id: int | None = None,
    subject: str | None = None,
) -> None:
    """Sign `client` in through the sandbox sign-in form (admin: `company_id`; person: their
    portal `subject`; staff: any subject)."""
    data = {"csrf": page_csrf(client), "role": role}
    if company_id is not None:
        data["company_id"] = str(company_id)
    if subject is not None:
        data["subject"] = subject
    response = client.post("/sign-in/sandbox", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text


def post_form(client: TestClient, path: str, data: dict[str, str], **kwargs: object) -> object:
    """Send a form of a signed-in page with the session's CSRF token."""
    token = page_csrf(client, "/sign-in")
    return client.post(path, data={"csrf": token, **data}, follow_redirects=False, **kwargs)  # type: ignore[arg-type]
