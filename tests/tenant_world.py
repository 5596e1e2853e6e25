"""Two tenants side by side, each with every kind of resource the API names by id: an operator
with its key, a company with a contract, numbers (an employee waiting to confirm, an active
device, one claimed by a person), a confirmation request, a claim, an upload with a refused
row, notification settings and a message, a work item, a re-verification campaign. What
tenant B holds is written with words that appear nowhere in tenant A's data, so a response
to a caller of A that holds one of them has leaked B's data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.core.runtime import Runtime
from app.work.models import WorkItem
from tests.builders import (
    add_numbers,
    device,
    employee,
    make_company,
    make_operator,
    make_person,
    staff_headers,
    token_headers,
    valid_snils,
)
from tests.notifications.builders import digest, queue
from tests.uploads.builders import EMPLOYEE_HEADER, csv_bytes, employee_row, upload


@dataclass
class Tenant:
    """One tenant's resources (ids) and the words its data is written with."""

    ids: dict[str, int]
    markers: list[str]
    admin: dict[str, str] = field(default_factory=dict)
    person: dict[str, str] = field(default_factory=dict)
    operator_key: dict[str, str] = field(default_factory=dict)
    operator_token: dict[str, str] = field(default_factory=dict)
    msisdns: list[str] = field(default_factory=list)
    company: dict[str, Any] = field(default_factory=dict)
    subject: str = ""  # the person's portal account


@dataclass(frozen=True)
class Words:
    """How a tenant's data is written."""

    company: str
    last_name: str
    contract_no: str
    email: str
    campaign: str
    file_name: str
    passport: str
    snils_seed: int
    prefix: str  # the msisdns' first digits after +7


ALPHA = Words(
    company='ООО "Альфа-Открытая"',
    last_name="Альфова",
    contract_no="C-ALPHA-OPEN",
    email="sim@alpha-open.example",
    campaign="Кампания Альфа-Открытая",
    file_name="alpha-open.csv",
    passport="4511 111111",
    snils_seed=11,
    prefix="91355",
)
BETA = Words(
    company='ООО "Бета-Тайная"',
    last_name="Бетова-Тайная",
    contract_no="C-BETA-SECRET",
    email="secret@beta-tainaya.example",
    campaign="Кампания Бета-Тайная",
    file_name="beta-tainaya.csv",
    passport="4599 999888",
    snils_seed=99,
    prefix="91366",
)


def build_tenant(client: TestClient, runtime: Runtime, words: Words) -> Tenant:
    """A tenant with one resource of every kind (see the module docstring)."""
    staff = staff_headers(client)
    operator = make_operator(client)
    company = make_company(client, name=words.company)
    contract = client.post(
        f"/api/v1/companies/{company['id']}/contracts",
        json={
            "operator_id": operator["id"],
            "contract_no": words.contract_no,
            "signed_on": "2024-03-01",
        },
        headers=staff,
    ).json()
    msisdns = [f"+7{words.prefix}0000{n}" for n in range(1, 5)]
    numbers = add_numbers(client, contract_id=contract["id"], msisdns=msisdns[:3])
    employee_number, device_number, _claimed = (n["id"] for n in numbers)
    person = make_person(
        client,
        last_name=words.last_name,
        passport=words.passport,
        snils=valid_snils(words.snils_seed),
    )
    admin = token_headers(client, role="company_admin", company_id=company["id"])
    me = token_headers(client, role="person", subject=person["portal_subject"])
    numbers_path = f"/api/v1/companies/{company['id']}/numbers"
    named = client.put(
        f"{numbers_path}/{employee_number}/registration",
        json=employee(
            last_name=words.last_name,
            doc_number=words.passport,
            snils=valid_snils(words.snils_seed),
        ),
        headers=admin,
    )
    assert named.status_code == 200, named.text
    client.put(f"{numbers_path}/{device_number}/registration", json=device(), headers=admin)
    assert client.post("/api/v1/operator/matching-runs", headers=staff).status_code == 200
    [request] = client.get(
        f"{numbers_path}/{employee_number}/confirmation-requests", headers=admin
    ).json()
    claim = client.post(
        "/api/v1/me/claims",
        json={"msisdn": msisdns[2], "company_inn": company["inn"], "company_name": words.company},
        headers=me,
    ).json()
    # A refused row (the number is not the company's) keeps its cells for errors.csv.
    refused = csv_bytes(EMPLOYEE_HEADER, [employee_row(msisdns[3], last=words.last_name)])
    sent = upload(client, company["id"], admin, refused, filename=words.file_name).json()
    client.put(
        f"/api/v1/companies/{company['id']}/notification-settings",
        json={"notify_email": words.email},
        headers=admin,
    )
    [notification] = queue(runtime, [digest(company)])
    rule = client.post(
        "/api/v1/deadline-policy/rules",
        json={
            "code": f"campaign-{company['id']}",
            "title": words.campaign,
            "basis": "campaign",
            "notice_at": "2026-11-23T10:00:00+03:00",
            "offset_days": 15,
            "subscriber_id": company["id"],
        },
        headers=staff,
    ).json()["rule"]
    with runtime.sessions() as session:
        work_item = session.scalars(
            select(WorkItem.id).where(WorkItem.number_id == device_number)
        ).one()
    return Tenant(
        ids={
            "company_id": company["id"],
            "operator_id": operator["id"],
            "contract_id": contract["id"],
            "number_id": employee_number,
            "device_number_id": device_number,
            "upload_id": sent["id"],
            "claim_id": claim["id"],
            "request_id": request["id"],
            "item_id": work_item,
            "rule_id": rule["id"],
            "notification_id": notification,
        },
        markers=[
            words.company,
            words.company.split('"')[1],
            company["inn"],
            company["ogrn"],
            words.last_name,
            person["portal_subject"],
            words.contract_no,
            words.email,
            words.campaign,
            words.file_name,
            *msisdns,
        ],
        admin=admin,
        person=me,
        operator_key={"X-API-Key": operator["api_key"]},
        operator_token=token_headers(client, role="operator_system", operator_id=operator["id"]),
        msisdns=msisdns,
        company=company,
        subject=person["portal_subject"],
    )
