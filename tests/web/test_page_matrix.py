"""The tenant matrix of the pages: every page route, opened or sent by tenant A's company
admin and A's person (each signed in through the sign-in form) with tenant B's ids in every
place an id goes. No page may answer a 5xx, show B's data, or open B's resources, and B's data
is the same afterwards. The routes come from the application itself: a new page is in the
matrix the day it is added, and the test fails until it knows the page's ids and form."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.runtime import Runtime
from app.web.pages import PAGE_ROUTERS, SANDBOX_PAGE_ROUTERS
from app.web.rendering import PageRoute
from tests.tenant_world import ALPHA, BETA, Tenant, build_tenant
from tests.test_tenant_matrix import snapshot
from tests.uploads.builders import EMPLOYEE_HEADER, csv_bytes, employee_row
from tests.web.signing import page_csrf, sign_in

# What each id in a page's address names, in a tenant's resources.
RESOURCE_OF = {
    "company_id": "company_id",
    "number_id": "number_id",
    "upload_id": "upload_id",
    "claim_id": "claim_id",
    "request_id": "request_id",
}
# Address parts that are not ids, and what the matrix puts there.
FIXED = {"fmt": "csv"}
# Pages the matrix does not call, and why.
NOT_COVERED = {
    "GET /": "leads to the sign-in page or the caller's own home",
    "GET /sign-in": "outside production it lists the demo accounts of every tenant, by design",
    "POST /sign-in/sandbox": "signing in, as whom the form says (the sandbox's door)",
    "GET /sign-in/oidc/{provider}": "signing in through a provider",
    "GET /sign-in/oidc/{provider}/callback": "signing in through a provider",
    "POST /sign-out": "ends the caller's own session",
    "POST /staff/jobs/{name}/run": "operator staff only; staff see every tenant by design",
}
Form = Callable[[Tenant, Tenant], dict[str, str]]
# The fields each form sends besides its CSRF token, so that a call reaches the check of whose
# the resource is.
FORMS: dict[str, Form] = {
    "POST /me/confirmation-requests/{request_id}/confirm": lambda own, other: {},
    "POST /me/confirmation-requests/{request_id}/decline": lambda own, other: {},
    "POST /me/claims": lambda own, other: {
        "msisdn": other.msisdns[1],
        "company_inn": other.company["inn"],
        "company_name": other.company["name"],
    },
    "POST /companies/{company_id}/uploads": lambda own, other: {"mode": "apply"},
    "POST /companies/{company_id}/numbers/{number_id}/resend": lambda own, other: {},
    "POST /companies/{company_id}/claims/{claim_id}/approve": lambda own, other: {},
    "POST /companies/{company_id}/claims/{claim_id}/reject": lambda own, other: {
        "reason": "Сотрудник у нас не работает"
    },
    "POST /companies/{company_id}/notifications": lambda own, other: {
        "email": "matrix@alpha.example",
        "remove_secret": "true",
    },
}
# Forms that may succeed for a caller of A given B's ids, and why that is no leak.
MAY_SUCCEED = {
    "POST /me/claims": "flow B: a person claims any number by naming its company; the claim "
    "waits for that company's admin",
}
_PARAM = re.compile(r"{(\w+)}")


def page_routes() -> list[tuple[str, str]]:
    """(method, path) of every page route the application includes."""
    return sorted(
        (method, route.path)
        for router in (*PAGE_ROUTERS, *SANDBOX_PAGE_ROUTERS)
        for route in router.routes
        if isinstance(route, PageRoute)
        for method in route.methods
        if method != "HEAD"
    )


def _signed_in(app: FastAPI, role: str, own: Tenant) -> TestClient:
    client = TestClient(app)
    if role == "company_admin":
        sign_in(client, role, company_id=own.ids["company_id"])
    else:
        sign_in(client, role, subject=own.subject)
    return client


def _files(own: Tenant, other: Tenant) -> dict[str, Any]:
    rows = [employee_row(other.msisdns[0], last="Матрица")]
    return {"file": ("matrix.csv", csv_bytes(EMPLOYEE_HEADER, rows), "text/csv")}


def _part(name: str, other: Tenant) -> str:
    return FIXED.get(name) or str(other.ids[RESOURCE_OF[name]])


def _words_of(form: dict[str, str]) -> set[str]:
    """The values a form sent, and the names inside quotes (ООО "Бета" → Бета)."""
    return {*form.values(), *(v.split('"')[1] for v in form.values() if v.count('"') >= 2)}


def _send(client: TestClient, method: str, path: str, key: str, own: Tenant, other: Tenant) -> Any:
    if method == "GET":
        return client.get(path, follow_redirects=False)
    data = {"csrf": page_csrf(client), **FORMS[key](own, other)}
    files = _files(own, other) if key.endswith("/uploads") else None
    return client.post(path, data=data, files=files, follow_redirects=False)


def test_no_page_of_one_tenant_reaches_another(
    app: FastAPI, client: TestClient, runtime: Runtime
) -> None:
    own = build_tenant(client, runtime, ALPHA)
    other = build_tenant(client, runtime, BETA)
    routes = [(m, p) for m, p in page_routes() if f"{m} {p}" not in NOT_COVERED]
    unknown = [
        f"{m} {p}: {n}"
        for m, p in routes
        for n in _PARAM.findall(p)
        if n not in RESOURCE_OF and n not in FIXED
    ]
    unformed = [f"{m} {p}" for m, p in routes if m == "POST" and f"{m} {p}" not in FORMS]
    assert unknown == [], "ids the matrix cannot name: add them to RESOURCE_OF"
    assert unformed == [], "forms the matrix cannot send: add them to FORMS"
    before = snapshot(client, other)
    callers = {role: _signed_in(app, role, own) for role in ("company_admin", "person")}
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    # What a caller typed into a form is theirs to see again (a claim names B's number).
    typed: dict[str, set[str]] = {role: set() for role in callers}
    for method, template in routes:
        key = f"{method} {template}"
        path = _PARAM.sub(lambda m: _part(m.group(1), other), template)
        foreign = any(name in RESOURCE_OF for name in _PARAM.findall(template))
        for role, caller in callers.items():
            response = _send(caller, method, path, key, own, other)
            if method == "POST":
                typed[role] |= {
                    v
                    for value in FORMS[key](own, other).values()
                    for v in (value, value.split('"')[1] if '"' in value else value)
                }
            statuses[response.status_code] += 1
            label = f"{role} {method} {path}"
            if response.status_code >= 500:
                problems.append(f"{label}: {response.status_code}")
            text = response.text
            if method == "POST" and response.status_code == 303:
                text = caller.get(response.headers["location"]).text  # the flashed outcome
            seen = [m for m in other.markers if m in text and m not in typed[role]]
            if seen and key not in MAY_SUCCEED:
                problems.append(f"{label}: B's {seen}")
            if foreign and method == "GET" and response.status_code not in (403, 404):
                problems.append(f"{label}: {response.status_code} on B's resources")
    for caller in callers.values():
        caller.close()
    print(f"\npage matrix: {len(routes)} routes x {len(callers)} callers; {dict(statuses)}")
    assert problems == []
    assert snapshot(client, other) == before
    assert len(routes) + len(NOT_COVERED) == len(page_routes())
