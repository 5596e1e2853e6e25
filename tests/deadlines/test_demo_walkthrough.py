"""What `make run` shows: the demo registry, the dev clock moved past the deadlines, the
deadline job run through the API → suspended numbers with events saying why and messages in
the outbox; a person confirms one of them and it is active again."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.core.runtime import Runtime
from app.demo import _employee, load_demo
from app.notifications.models import Notification
from app.numbers.models import PhoneNumber
from app.portal.models import ConfirmationRequest
from tests.builders import make_person, staff_headers, token_headers


def test_after_the_deadline_the_demo_shows_suspensions_and_a_confirmation_undoes_one(
    client: TestClient, runtime: Runtime
) -> None:
    load_demo(runtime)
    staff = staff_headers(client)
    company_id = 1  # ООО "Ромашка"
    admin = token_headers(client, role="company_admin", company_id=company_id)
    pending = client.get(
        f"/api/v1/companies/{company_id}/numbers",
        params={"status": "pending_confirmation", "limit": 500},
        headers=admin,
    ).json()["items"]
    latest = max(dt.datetime.fromisoformat(n["deadline_at"]) for n in pending)
    assert any(n["flag_days"] for n in pending)  # the ones within 30 days, flagged at load

    # The matching step asks the named employees; the dispatcher sends their requests at the
    # portal's rate as the clock moves, a minute at a time.
    assert client.post("/api/v1/jobs/matching/run", headers=staff).json()["outcome"] == "ok"
    for _ in range(3):
        client.put("/api/v1/sandbox/clock", json={"advance_days": 1 / 1440}, headers=staff)
        assert client.post("/api/v1/jobs/dispatch/run", headers=staff).json()["outcome"] == "ok"

    after = latest + dt.timedelta(days=1)
    moved = client.put("/api/v1/sandbox/clock", json={"now": after.isoformat()}, headers=staff)
    assert moved.status_code == 200, moved.text
    run = client.post("/api/v1/jobs/deadlines/run", headers=staff).json()
    assert run["outcome"] == "ok"
    assert run["summary"]["suspended"] >= len(pending)

    suspended = client.get(
        f"/api/v1/companies/{company_id}/numbers",
        params={"status": "suspended", "limit": 500},
        headers=admin,
    ).json()["items"]
    assert {n["id"] for n in pending} <= {n["id"] for n in suspended}
    detail = client.get(
        f"/api/v1/companies/{company_id}/numbers/{pending[0]['id']}", headers=admin
    ).json()
    assert detail["events"][-1]["to_status"] == "suspended"
    assert "deadline passed" in detail["events"][-1]["reason"]
    assert detail["deadline_rule"] == "new-employee"
    assert detail["deadline_moves"][0]["new_deadline_at"] == pending[0]["deadline_at"]
    with runtime.sessions() as session:
        told = set(
            session.scalars(
                select(Notification.number_id).where(
                    Notification.event == "suspend", Notification.subscriber_id == company_id
                )
            )
        )
        cut_off = set(
            session.scalars(
                select(PhoneNumber.id).where(
                    PhoneNumber.subscriber_id == company_id,
                    PhoneNumber.status == "suspended",
                    PhoneNumber.status_changed_at == after,
                    PhoneNumber.sim_kind == "employee",
                )
            )
        )
        asked = set(
            session.scalars(
                select(ConfirmationRequest.number_id).where(
                    ConfirmationRequest.subscriber_id == company_id,
                    ConfirmationRequest.sent_at.is_not(None),
                    ConfirmationRequest.answer.is_(None),
                )
            )
        )
    # Each employee who was asked to confirm and was cut off is told once; one whose request
    # never reached them has nothing to act on (the company's digest covers those numbers),
    # and devices have nobody to tell.
    assert cut_off
    assert told
    assert told == cut_off & asked
    # The employee of the first suspended number signs in to the portal and confirms.
    number_id = pending[0]["id"]
    k = int(pending[0]["msisdn"][-7:]) - 1000  # the demo's employee k uses +7916{1000 + k}
    data = _employee(k)
    person = make_person(
        client,
        last_name=data.last_name,
        first_name=data.first_name,
        patronymic=data.patronymic,
        birth_date=data.birth_date.isoformat(),
        passport=data.doc_number,
        snils=None,
    )
    me = token_headers(client, role="person", subject=person["portal_subject"])
    # Their first request ran out unanswered while the number was suspended: the company
    # sends a new one, which the next ticks take to the portal.
    assert client.post("/api/v1/jobs/matching/run", headers=staff).json()["outcome"] == "ok"
    resent = client.post(
        f"/api/v1/companies/{company_id}/numbers/{number_id}/confirmation-requests",
        headers=admin,
    )
    assert resent.status_code == 201, resent.text
    requests: list[dict[str, object]] = []
    for _ in range(40):  # the portal takes 10 requests a second per operator: let time pass
        client.put("/api/v1/sandbox/clock", json={"advance_days": 0.0001}, headers=staff)
        assert client.post("/api/v1/jobs/dispatch/run", headers=staff).json()["outcome"] == "ok"
        requests = [
            r
            for r in client.get("/api/v1/me/confirmation-requests", headers=me).json()
            if r["msisdn"] == pending[0]["msisdn"] and r["status"] == "sent"
        ]
        if requests:
            break
    assert requests, "the suspended number's user was asked to confirm"
    answer = client.post(
        f"/api/v1/me/confirmation-requests/{requests[0]['id']}/confirm", headers=me
    )
    assert answer.status_code == 200, answer.text
    again = client.post("/api/v1/jobs/matching/run", headers=staff).json()
    assert again["summary"]["confirmed_active"] >= 1
    number = client.get(f"/api/v1/companies/{company_id}/numbers/{number_id}", headers=admin).json()
    assert number["status"] == "active"
    assert [e["to_status"] for e in number["events"]][-2:] == ["suspended", "active"]
