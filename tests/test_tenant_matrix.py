"""The tenant matrix: every operation of the OpenAPI document, called by each kind of caller of
tenant A (its company admin, a person, its operator system by key and by token) with the ids of
tenant B's resources in every place an id goes. No answer may be a 5xx, none may carry B's data,
none may succeed on B's resources (but for the few listed with their reason), and B's data is
the same afterwards. The operations come from `app.openapi()`: a new route is in the matrix
the day it is added, and the test fails until it knows the route's ids and body."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.runtime import Runtime
from tests.builders import employee, mobile, staff_headers
from tests.operations import Operation, operations
from tests.tenant_world import ALPHA, BETA, Tenant, build_tenant
from tests.uploads.builders import EMPLOYEE_HEADER, csv_bytes, employee_row

# What each id a path, a query or a body names is, in a tenant's resources.
RESOURCE_OF = {
    "company_id": "company_id",
    "operator_id": "operator_id",
    "contract_id": "contract_id",
    "number_id": "number_id",
    "upload_id": "upload_id",
    "claim_id": "claim_id",
    "request_id": "request_id",
    "item_id": "item_id",
    "rule_id": "rule_id",
}

# Operations the matrix does not call, and why.
NOT_COVERED: dict[str, str] = {}

# Operations that may succeed for a caller of A given B's ids, and why that is no leak.
MAY_SUCCEED = {
    "POST /api/v1/me/claims": "flow B: a person claims any number by naming its company; the "
    "claim waits for that company's admin, and the answer tells no more than the claim said",
    "POST /api/v1/operator/work/results": "a batch is answered item by item: another "
    "operator's items are answered not_found (checked below) and left as they are",
    "POST /api/v1/sandbox/tokens": "the sandbox identity provider (dev and test only; absent "
    "in production) mints a token for any company or operator by design",
    "GET /api/v1/sandbox/demo-tokens/{role}": "the sandbox's demo tokens (dev and test only)",
}

Body = Callable[[Tenant, Tenant], Any]


def _claim(own: Tenant, other: Tenant) -> dict[str, Any]:
    return {
        "msisdn": other.msisdns[1],
        "company_inn": other.company["inn"],
        "company_name": other.company["name"],
    }


# A valid body for each operation that takes one, so that a call reaches the check of whose
# the resource is (an invalid body is refused before it). `other` is the tenant under attack.
BODIES: dict[str, Body] = {
    "POST /api/v1/operators": lambda own, other: {"code": "matrix", "name": "Matrix"},
    "POST /api/v1/companies": lambda own, other: {
        "name": 'ООО "Матрица"',
        "inn": "7707083893",
        "ogrn": "1027700132195",
        "kpp": "773601001",
    },
    "POST /api/v1/companies/{company_id}/liquidation": lambda own, other: {
        "liquidated_on": "2026-11-20"
    },
    "POST /api/v1/companies/{company_id}/contracts": lambda own, other: {
        "operator_id": other.ids["operator_id"],
        "contract_no": "C-MATRIX",
        "signed_on": "2024-03-01",
    },
    "POST /api/v1/contracts/{contract_id}/numbers": lambda own, other: {
        "numbers": [{"msisdn": mobile(9_990_001)}]
    },
    "PUT /api/v1/companies/{company_id}/numbers/{number_id}/registration": (
        lambda own, other: employee()
    ),
    "DELETE /api/v1/companies/{company_id}/numbers/{number_id}/registration": (
        lambda own, other: {"reason": "matrix probe"}
    ),
    "POST /api/v1/numbers/{number_id}/status": lambda own, other: {
        "status": "suspended",
        "reason": "matrix probe",
    },
    "POST /api/v1/me/claims": _claim,
    "POST /api/v1/companies/{company_id}/claims/{claim_id}/reject": (
        lambda own, other: {"reason": "matrix probe"}
    ),
    "POST /api/v1/portal/answers": lambda own, other: {"request_id": other.ids["request_id"]},
    "POST /api/v1/operator/work/lease": lambda own, other: {"limit": 100},
    "POST /api/v1/operator/work/results": lambda own, other: {
        "results": [{"item_id": other.ids["item_id"], "outcome": "done"}]
    },
    "POST /api/v1/operator/work/{item_id}/result": lambda own, other: {"outcome": "done"},
    "PUT /api/v1/companies/{company_id}/notification-settings": lambda own, other: {
        "notify_email": "matrix@probe.example"
    },
    "POST /api/v1/deadline-policy/rules": lambda own, other: {
        "code": "matrix",
        "title": "Matrix",
        "basis": "campaign",
        "notice_at": "2026-11-23T10:00:00+03:00",
        "offset_days": 15,
        "subscriber_id": other.ids["company_id"],
    },
    "PATCH /api/v1/deadline-policy/rules/{rule_id}": lambda own, other: {
        "version": 1,
        "title": "Matrix",
    },
    "PUT /api/v1/deadline-policy/calendar/{day}": lambda own, other: {
        "is_working": False,
        "note": "matrix",
    },
    "POST /api/v1/deadline-policy/recompute": lambda own, other: {"reason": "matrix probe"},
    "POST /api/v1/sandbox/tokens": lambda own, other: {
        "role": "company_admin",
        "company_id": other.ids["company_id"],
    },
    "POST /api/v1/sandbox/people": lambda own, other: {
        "last_name": "Матрицын",
        "first_name": "Пробный",
        "birth_date": "1980-01-01",
        "passport": "4500 000001",
    },
    "POST /api/v1/sandbox/portal/behaviour": lambda own, other: {"fail_sends": False},
    "PUT /api/v1/sandbox/clock": lambda own, other: {"advance_days": 0},
}

# Bodies above that name a resource of the tenant under attack.
BODIES_NAMING_OTHER = {
    "POST /api/v1/me/claims",
    "POST /api/v1/companies/{company_id}/contracts",
    "POST /api/v1/portal/answers",
    "POST /api/v1/operator/work/results",
    "POST /api/v1/deadline-policy/rules",
    "POST /api/v1/sandbox/tokens",
}

MULTIPART: dict[str, Callable[[], dict[str, Any]]] = {
    "POST /api/v1/companies/{company_id}/uploads": lambda: {
        "files": {
            "file": (
                "matrix.csv",
                csv_bytes(EMPLOYEE_HEADER, [employee_row(mobile(9_990_002))]),
                "text/csv",
            )
        },
        "data": {"mode": "validate"},
    }
}


@dataclass(frozen=True)
class Call:
    """One request of the matrix."""

    operation: Operation
    caller: str
    url: str
    params: dict[str, str]
    foreign: bool

    def label(self) -> str:
        query = f"?{self.params}" if self.params else ""
        return f"{self.operation.method} {self.url}{query} as {self.caller}"


def _id_params(operation: Operation) -> tuple[list[str], list[str]]:
    """The integer path and query parameters: every one must name a known resource."""
    path = [p["name"] for p in operation.parameters("path") if p["schema"].get("type") == "integer"]
    query = [
        p["name"]
        for p in operation.parameters("query")
        if any(s.get("type") == "integer" for s in p["schema"].get("anyOf", [p["schema"]]))
        and p["name"].endswith("_id")
    ]
    return path, query


def calls(operation: Operation, own: Tenant, other: Tenant, callers: list[str]) -> Iterator[Call]:
    """Every id of B at once; and, with more than one id, each id of B alone among A's own
    (an admin of A asking for B's number under A's company)."""
    path, query = _id_params(operation)
    names = path + query
    variants: list[dict[str, int]] = []
    if names:
        variants.append({n: other.ids[RESOURCE_OF[n]] for n in names})
    if len(names) > 1:
        for foreign in names:
            variants.append(
                {n: (other if n == foreign else own).ids[RESOURCE_OF[n]] for n in names}
            )
    if not variants:
        variants.append({})
    body_foreign = operation.key in BODIES_NAMING_OTHER
    for values in variants:
        for caller in callers:
            yield Call(
                operation,
                caller,
                operation.url(**{n: values[n] for n in path}),
                {n: str(values[n]) for n in query},
                foreign=bool(values) or body_foreign,
            )


def send(
    client: TestClient, call: Call, headers: dict[str, str], own: Tenant, other: Tenant
) -> tuple[httpx.Response, str]:
    """The call's response, and what the request itself said (its URL, query and body)."""
    key = call.operation.key
    kwargs: dict[str, Any] = {"params": call.params or None, "headers": headers}
    sent = call.url + json.dumps(call.params, ensure_ascii=False)
    if key in MULTIPART:
        kwargs.update(MULTIPART[key]())
    elif call.operation.json_body is not None:
        body = BODIES[key](own, other)
        kwargs["json"] = body
        sent += json.dumps(body, ensure_ascii=False)
    return client.request(call.operation.method, call.url, **kwargs), sent


def snapshot(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    """What staff see of a tenant: its numbers with history, requests, uploads, settings, and
    its overview (counts a move of one of its numbers would change)."""
    staff = staff_headers(client)
    company = f"/api/v1/companies/{tenant.ids['company_id']}"
    numbers = [tenant.ids["number_id"], tenant.ids["device_number_id"]]
    return {
        "company": client.get(company, headers=staff).json(),
        "numbers": [client.get(f"{company}/numbers/{n}", headers=staff).json() for n in numbers],
        "requests": client.get(
            f"{company}/numbers/{numbers[0]}/confirmation-requests", headers=staff
        ).json(),
        "uploads": client.get(f"{company}/uploads", headers=staff).json(),
        "settings": client.get(f"{company}/notification-settings", headers=staff).json(),
        "contracts": client.get(f"{company}/contracts", headers=staff).json(),
        "overview": client.get(f"{company}/overview", headers=staff).json(),
    }


def _work_results_leak(response: httpx.Response) -> bool:
    return any(item["status"] != "not_found" for item in response.json()["results"])


class TestTenantMatrix:
    def test_no_caller_of_one_tenant_reaches_another_tenants_data(
        self, app: FastAPI, client: TestClient, runtime: Runtime
    ) -> None:
        own = build_tenant(client, runtime, ALPHA)
        other = build_tenant(client, runtime, BETA)
        callers = {
            "company_admin": own.admin,
            "person": own.person,
            "operator_system (X-API-Key)": own.operator_key,
            "operator_system (token)": own.operator_token,
        }
        listed = operations(app)
        unknown = [
            f"{op.key}: {name}"
            for op in listed
            for names in _id_params(op)
            for name in names
            if name not in RESOURCE_OF
        ]
        unbodied = [
            op.key
            for op in listed
            if op.key not in NOT_COVERED
            and (
                (op.json_body is not None and op.key not in BODIES)
                or (op.takes_multipart and op.key not in MULTIPART)
            )
        ]
        assert unknown == [], "ids the matrix cannot name: add them to RESOURCE_OF"
        assert unbodied == [], "bodies the matrix cannot send: add them to BODIES"
        before = snapshot(client, other)

        statuses: Counter[int] = Counter()
        leaks: list[str] = []
        server_errors: list[str] = []
        invalid: list[str] = []
        covered = 0
        for operation in listed:
            if operation.key in NOT_COVERED:
                continue
            covered += 1
            for call in calls(operation, own, other, list(callers)):
                response, sent = send(client, call, callers[call.caller], own, other)
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    server_errors.append(f"{call.label()}: {response.status_code}")
                seen = [m for m in other.markers if m in response.text and m not in sent]
                if seen:
                    leaks.append(f"{call.label()}: B's {seen} in a {response.status_code}")
                if call.foreign and response.is_success:
                    allowed = operation.key in MAY_SUCCEED
                    if operation.key == "POST /api/v1/operator/work/results":
                        allowed = not _work_results_leak(response)
                    if not allowed:
                        leaks.append(f"{call.label()}: {response.status_code} on B's resources")
                if response.status_code == 422 and operation.key in BODIES:
                    invalid.append(f"{call.label()}: {response.text[:300]}")

        after = snapshot(client, other)
        requests = sum(statuses.values())
        print(  # the figures, for `pytest -s`
            f"\ntenant matrix: {covered} operations x {len(callers)} callers, {requests} "
            f"requests, {len(leaks)} leaks, {len(server_errors)} 5xx; statuses {dict(statuses)}"
        )
        assert server_errors == []
        assert leaks == []
        assert invalid == [], "a body the matrix sends is not valid: it never reaches the check"
        assert after == before
        assert covered + len(NOT_COVERED) == len(listed)
        assert requests >= 4 * len(listed)


def test_the_world_is_what_the_matrix_thinks(client: TestClient, runtime: Runtime) -> None:
    """Each id of a tenant names a resource its own admin (or operator, or person) reaches:
    a 404 in the matrix is the tenants' wall, not a resource that was never there."""
    tenant = build_tenant(client, runtime, BETA)
    company = f"/api/v1/companies/{tenant.ids['company_id']}"
    ids = tenant.ids
    reached = {
        "number": client.get(f"{company}/numbers/{ids['number_id']}", headers=tenant.admin),
        "upload": client.get(f"{company}/uploads/{ids['upload_id']}", headers=tenant.admin),
        "claims": client.get(f"{company}/claims", headers=tenant.admin),
        "rule": client.get(f"/api/v1/deadline-policy/rules/{ids['rule_id']}", headers=tenant.admin),
        "operator numbers": client.get(
            f"/api/v1/operator/numbers/{ids['number_id']}", headers=tenant.operator_key
        ),
        "requests": client.get("/api/v1/me/confirmation-requests", headers=tenant.person),
    }
    assert {name: r.status_code for name, r in reached.items()} == dict.fromkeys(reached, 200)
    assert ids["claim_id"] in [c["id"] for c in reached["claims"].json()["items"]]
    assert ids["request_id"] in [r["id"] for r in reached["requests"].json()]
    assert reached["upload"].json()["counts"]["rejected"] == 1
