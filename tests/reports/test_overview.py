"""A company's overview (the admin's dashboard): counts by status and kind, at risk and
overdue as the company report defines them, the nearest deadline, open confirmations and the
latest uploads; on PostgreSQL, read from tallies that must stay exact."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.numbers.models import NumberStatus, NumberTally, PhoneNumber, SimKind
from app.numbers.tallies import compact_tallies
from app.portal.models import ConfirmationRequest, RequestStatus
from app.reports.overview import company_overview
from tests.builders import (
    employee,
    make_company,
    make_company_with_numbers,
    staff_headers,
    token_headers,
)
from tests.reports.builders import company_report, problem, put_numbers_in_state
from tests.uploads.builders import EMPLOYEE_HEADER, csv_bytes, employee_row, upload

DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


def _ids(company: dict[str, Any]) -> list[int]:
    return [n["id"] for n in company["numbers"]]


def _overview(client: TestClient, company_id: int, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"/api/v1/companies/{company_id}/overview", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _set_kind(runtime: Runtime, number_ids: list[int], kind: SimKind) -> None:
    with runtime.sessions() as session:
        session.execute(
            update(PhoneNumber).where(PhoneNumber.id.in_(number_ids)).values(sim_kind=kind)
        )
        session.commit()


@pytest.fixture
def registry(client: TestClient, runtime: Runtime, clock: FixedClock) -> dict[str, Any]:
    """Eight numbers, each in a state the overview must count (or leave out) its own way."""
    company = make_company_with_numbers(client, count=8)
    ids = _ids(company)
    now = clock.now()
    states: list[tuple[str, dt.datetime | None]] = [
        ("active", None),
        ("suspended", now - DAY),
        ("pending_confirmation", now - SECOND),  # overdue
        ("mismatch", now + 2 * DAY),  # at risk, the nearest deadline
        ("unregistered", now + 30 * DAY),  # at risk: exactly the warning window
        ("unregistered", now + 30 * DAY + SECOND),  # beyond the window
        ("declined", None),  # unconfirmed, but no deadline
        ("active", now + DAY),  # confirmed: its deadline is nobody's risk
    ]
    for number_id, (status, deadline) in zip(ids, states, strict=True):
        put_numbers_in_state(runtime, [number_id], status=status, deadline_at=deadline)
    _set_kind(runtime, ids[:3], SimKind.EMPLOYEE)
    _set_kind(runtime, ids[3:4], SimKind.DEVICE)
    # Another company's numbers are not counted.
    other = make_company_with_numbers(client, count=2)
    put_numbers_in_state(runtime, _ids(other), status="mismatch", deadline_at=now - DAY)
    return company


class TestNumbers:
    def test_counts_by_status_with_zeros_and_by_kind(
        self, client: TestClient, registry: dict[str, Any]
    ) -> None:
        body = _overview(client, registry["company"]["id"], registry["admin"])

        expected = {"active": 2, "suspended": 1, "pending_confirmation": 1, "mismatch": 1}
        expected |= {"unregistered": 2, "declined": 1}
        assert body["by_status"] == {s.value: expected.get(s.value, 0) for s in NumberStatus}
        assert body["by_kind"] == {"employee": 3, "device": 1}
        assert body["total"] == 8
        assert body["company_id"] == registry["company"]["id"]

    def test_at_risk_overdue_and_nearest_deadline(
        self, client: TestClient, registry: dict[str, Any], clock: FixedClock
    ) -> None:
        body = _overview(client, registry["company"]["id"], registry["admin"])

        assert body["warning_days"] == 30
        assert body["at_risk"] == 2
        assert body["overdue"] == 1
        nearest = (clock.now() + 2 * DAY).isoformat().replace("+00:00", "Z")
        assert body["next_deadline_at"] == nearest
        assert body["days_to_next_deadline"] == 2

    def test_the_same_numbers_as_the_company_report(
        self, client: TestClient, registry: dict[str, Any]
    ) -> None:
        company_id = registry["company"]["id"]
        body = _overview(client, company_id, registry["admin"])
        report = company_report(client, company_id, registry["admin"])

        buckets = report["at_risk"]["by_bucket"]
        assert body["by_status"] == report["by_status"]
        assert body["overdue"] == buckets["overdue"]
        assert body["at_risk"] == sum(
            v for k, v in buckets.items() if k not in ("overdue", "later")
        )
        assert body["next_deadline_at"] == report["next_deadline_at"]

    def test_staff_read_it_too_and_an_unknown_company_is_404(
        self, client: TestClient, registry: dict[str, Any]
    ) -> None:
        staff = staff_headers(client)
        assert _overview(client, registry["company"]["id"], staff)["total"] == 8
        problem(client.get("/api/v1/companies/999999/overview", headers=staff), 404)

    def test_a_company_without_numbers(self, client: TestClient) -> None:
        company = make_company(client)
        admin = token_headers(client, role="company_admin", company_id=company["id"])
        body = _overview(client, company["id"], admin)

        assert body["total"] == 0
        assert set(body["by_status"].values()) == {0}
        assert (body["at_risk"], body["overdue"], body["next_deadline_at"]) == (0, 0, None)
        assert body["confirmations"] == {"open": 0, "oldest_sent_at": None}
        assert body["recent_uploads"] == []


class TestConfirmationsAndUploads:
    def test_open_requests_and_the_oldest_sent(
        self, client: TestClient, session: Session, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=5)
        cid = company["company"]["id"]
        now = clock.now()
        statuses = [
            (RequestStatus.QUEUED, None),
            (RequestStatus.SENT, now - 3 * DAY),
            (RequestStatus.SENT, now - DAY),
            (RequestStatus.ANSWERED, now - 9 * DAY),  # answered: no longer waits for the person
            (RequestStatus.MATCHED, now - 20 * DAY),  # decided
        ]
        for number_id, (status, sent_at) in zip(_ids(company), statuses, strict=True):
            base = f"/api/v1/companies/{cid}/numbers/{number_id}"
            put = client.put(f"{base}/registration", json=employee(), headers=company["admin"])
            session.add(
                ConfirmationRequest(
                    registration_id=put.json()["registration_id"],
                    number_id=number_id,
                    operator_id=company["operator"]["id"],
                    subscriber_id=cid,
                    status=status,
                    attempts=1,
                    created_at=now - 30 * DAY,
                    sent_at=sent_at,
                    expires_at=now + 30 * DAY,
                )
            )
        session.commit()

        body = _overview(client, cid, company["admin"])

        oldest = (now - 3 * DAY).isoformat().replace("+00:00", "Z")
        assert body["confirmations"] == {"open": 4, "oldest_sent_at": oldest}

    def test_the_last_five_uploads_newest_first_as_the_listing_counts_them(
        self, client: TestClient
    ) -> None:
        company = make_company_with_numbers(client, count=7)
        cid = company["company"]["id"]
        for i, number in enumerate(company["numbers"][:6]):
            rows = [employee_row(number["msisdn"], n=i), employee_row("+7000", n=i)]
            content = csv_bytes(EMPLOYEE_HEADER, rows)
            sent = upload(
                client, cid, company["admin"], content, mode="validate", filename=f"l{i}.csv"
            )
            assert sent.status_code in (200, 201, 202), sent.text

        body = _overview(client, cid, company["admin"])
        listed = client.get(f"/api/v1/companies/{cid}/uploads", headers=company["admin"]).json()

        assert [u["filename"] for u in body["recent_uploads"]] == [
            f"l{i}.csv" for i in (5, 4, 3, 2, 1)
        ]
        for brief, item in zip(body["recent_uploads"], listed["items"], strict=False):
            assert brief["id"] == item["id"]
            assert (brief["mode"], brief["status"]) == (item["mode"], item["status"])
            assert brief["created_at"] == item["created_at"]
            assert (brief["accepted"], brief["rejected"]) == (
                item["counts"]["accepted"],
                item["counts"]["rejected"],
            )
        assert body["recent_uploads"][0]["rejected"] == 1


def _tallied(session: Session, company_id: int) -> dict[tuple[Any, ...], int]:
    rows = session.execute(
        select(
            NumberTally.status,
            NumberTally.sim_kind,
            NumberTally.deadline_at,
            func.sum(NumberTally.n),
        )
        .where(NumberTally.subscriber_id == company_id)
        .group_by(NumberTally.status, NumberTally.sim_kind, NumberTally.deadline_at)
    )
    return {(s, k, d): int(n) for s, k, d, n in rows if n}


def _counted(session: Session, company_id: int) -> dict[tuple[Any, ...], int]:
    rows = session.execute(
        select(PhoneNumber.status, PhoneNumber.sim_kind, PhoneNumber.deadline_at, func.count())
        .where(PhoneNumber.subscriber_id == company_id)
        .group_by(PhoneNumber.status, PhoneNumber.sim_kind, PhoneNumber.deadline_at)
    )
    return {(s, k, d): int(n) for s, k, d, n in rows}


@pytest.mark.postgres_only
class TestTallies:
    def test_every_way_of_moving_numbers_keeps_them_exact(
        self, client: TestClient, runtime: Runtime, registry: dict[str, Any]
    ) -> None:
        cid = registry["company"]["id"]
        ids = _ids(registry)
        base = f"/api/v1/companies/{cid}/numbers"
        client.put(f"{base}/{ids[5]}/registration", json=employee(), headers=registry["admin"])
        client.post(
            f"/api/v1/numbers/{ids[0]}/status",
            json={"status": "suspended", "reason": "tally check"},
            headers=staff_headers(client),
        )
        with runtime.sessions() as session:
            # A statement that changes nothing counted nets to nothing.
            session.execute(update(PhoneNumber).values(flag_days=3))
            session.commit()
            assert _tallied(session, cid) == _counted(session, cid)

    def test_folding_keeps_the_sums_and_leaves_one_row_per_group(
        self, runtime: Runtime, registry: dict[str, Any]
    ) -> None:
        cid = registry["company"]["id"]
        with runtime.sessions() as session:
            before = _tallied(session, cid)
            assert compact_tallies(session, min_rows=1) >= 1
            session.commit()
            rows = session.scalar(select(func.count()).where(NumberTally.subscriber_id == cid))
            assert _tallied(session, cid) == before == _counted(session, cid)
            assert rows == len(before)

    def test_writers_side_by_side_never_wait_on_each_other_and_stay_exact(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=40)
        cid = company["company"]["id"]
        ids = _ids(company)
        # Two open transactions move numbers of the same company into the same groups: with
        # counters updated in place the second would wait for the first to commit.
        first, second = runtime.sessions(), runtime.sessions()
        for session, half in ((first, ids[:20]), (second, ids[20:])):
            session.execute(
                update(PhoneNumber)
                .where(PhoneNumber.id.in_(half))
                .values(status=NumberStatus.ACTIVE, deadline_at=None)
            )
        folded = threading.Thread(target=self._fold, args=(runtime,))
        folded.start()
        folded.join(timeout=30)
        second.commit()
        first.commit()
        first.close()
        second.close()
        with runtime.sessions() as session:
            assert _tallied(session, cid) == _counted(session, cid)
            body = company_overview(session, cid, now=clock.now())
        assert body.by_status["active"] == 40

    @staticmethod
    def _fold(runtime: Runtime) -> None:
        with runtime.sessions() as session:
            compact_tallies(session, min_rows=1)
            session.commit()
