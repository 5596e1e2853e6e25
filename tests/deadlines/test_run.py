"""The deadline run: flags at thresholds told once, suspension at the deadline with events,
network work and messages, reactivation on confirmation, termination when on, a run that dies
mid-way, and a clock that goes back."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.deadlines import service as deadline_service
from app.deadlines.models import DeadlineNotice, DeadlineRun
from app.notifications.models import Notification
from app.work.models import WorkItem
from tests.builders import employee, make_person, token_headers
from tests.conftest import START
from tests.deadlines.builders import (
    LEGACY_SIGNED,
    ask,
    name_user,
    number_row,
    numbers,
    run_at,
    status_events,
    world,
)

TODAY = dt.date(2026, 11, 23)  # START is 10:00 Moscow time on this Monday


def _with_deadline_in(client: TestClient, w: dict[str, Any], days: int) -> int:
    """A new-contract number whose deadline is the end of the day `days` from today."""
    (number_id,) = numbers(client, w, 1, starts_on=TODAY + dt.timedelta(days=days + 1))
    return number_id


def _notifications(runtime: Runtime, **where: Any) -> list[Notification]:
    with runtime.sessions() as session:
        query = select(Notification).order_by(Notification.id)
        for name, value in where.items():
            query = query.where(getattr(Notification, name) == value)
        return list(session.scalars(query))


def _notices(runtime: Runtime, number_id: int) -> list[tuple[str, int]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(DeadlineNotice.kind, DeadlineNotice.threshold)
            .where(DeadlineNotice.number_id == number_id)
            .order_by(DeadlineNotice.id)
        ).all()
    return [(kind.value, threshold) for kind, threshold in rows]


class TestFlagging:
    def test_each_number_gets_its_nearest_threshold_and_one_notice(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client)
        ids = [_with_deadline_in(client, w, days) for days in (0, 1, 5, 12, 25, 30)]
        for number_id in ids[:3]:
            name_user(client, w, number_id, employee())
        ask(runtime)  # asked to confirm: a person to tell
        report = run_at(runtime, clock, START)
        assert [number_row(runtime, i).flag_days for i in ids] == [1, 3, 7, 14, 30, None]
        assert report.flagged == 5
        assert report.person_messages == 3
        assert report.company_digests == 1
        person = _notifications(runtime, audience="person")
        assert sorted((n.number_id, n.threshold, n.event) for n in person) == sorted(
            [(ids[0], 1, "flag"), (ids[1], 3, "flag"), (ids[2], 7, "flag")]
        )
        (digest,) = _notifications(runtime, audience="company")
        payload = json.loads(digest.payload or "{}")
        assert payload["flagged"] == {"1": 1, "3": 1, "7": 1, "14": 1, "30": 1}
        assert payload["company"]["id"] == w["company"]["id"]
        assert payload["suspended"] == 0

    def test_repeated_runs_tell_nobody_twice(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client)
        ids = [_with_deadline_in(client, w, days) for days in (2, 12)]
        name_user(client, w, ids[0], employee())
        ask(runtime)
        run_at(runtime, clock, START)
        for minutes in (1, 2, 3):
            again = run_at(runtime, clock, START + dt.timedelta(minutes=minutes))
            assert (again.flagged, again.person_messages, again.company_digests) == (0, 0, 0)
        assert len(_notifications(runtime)) == 2  # one person message, one digest
        assert _notices(runtime, ids[0]) == [("flag", 3)]

    def test_crossing_the_next_threshold_tells_once_more(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client)
        number_id = _with_deadline_in(client, w, 12)
        name_user(client, w, number_id, employee())
        ask(runtime)
        run_at(runtime, clock, START)
        later = run_at(runtime, clock, START + dt.timedelta(days=6))
        assert later.flagged == 1
        assert number_row(runtime, number_id).flag_days == 7
        assert _notices(runtime, number_id) == [("flag", 14), ("flag", 7)]
        assert [n.threshold for n in _notifications(runtime, number_id=number_id)] == [14, 7]

    def test_a_clock_that_goes_back_undoes_and_repeats_nothing(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client)
        soon, later = (_with_deadline_in(client, w, days) for days in (2, 12))
        run_at(runtime, clock, START + dt.timedelta(days=6))
        assert number_row(runtime, soon).status.value == "suspended"
        assert number_row(runtime, later).flag_days == 7
        sent_before = len(_notifications(runtime))
        back = run_at(runtime, clock, START)
        assert (back.flagged, back.suspended, back.person_messages) == (0, 0, 0)
        assert number_row(runtime, soon).status.value == "suspended"
        assert number_row(runtime, later).flag_days == 7
        assert len(_notifications(runtime)) == sent_before
        assert status_events(runtime, soon, "suspended") == 1

    def test_active_numbers_are_not_flagged(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client)
        number_id = _with_deadline_in(client, w, 2)
        response = client.post(
            f"/api/v1/numbers/{number_id}/status",
            json={"status": "active", "reason": "confirmed"},
            headers=token_headers(client, role="operator_staff", subject="staff@registry"),
        )
        assert response.status_code == 200, response.text
        report = run_at(runtime, clock, START + dt.timedelta(days=10))
        assert (report.flagged, report.suspended) == (0, 0)
        assert number_row(runtime, number_id).status.value == "active"


class TestSuspension:
    def test_at_the_deadline_unconfirmed_numbers_are_suspended_once(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client)
        employee_number = _with_deadline_in(client, w, 3)
        bare_number = _with_deadline_in(client, w, 3)
        name_user(client, w, employee_number, employee())
        ask(runtime)
        deadline = number_row(runtime, bare_number).deadline_at
        run_at(runtime, clock, START)  # deadlines computed, flags at 7 days
        deadline = number_row(runtime, bare_number).deadline_at
        assert deadline is not None
        at_deadline = run_at(runtime, clock, deadline)
        assert at_deadline.suspended == 0  # "by the end of the day": not yet
        after = run_at(runtime, clock, deadline + dt.timedelta(seconds=1))
        assert after.suspended == 2
        for number_id in (employee_number, bare_number):
            assert number_row(runtime, number_id).status.value == "suspended"
            assert status_events(runtime, number_id, "suspended") == 1
            assert ("suspend", 0) in _notices(runtime, number_id)
        # The operator's systems are asked to cut the SIMs off in the network.
        with runtime.sessions() as session:
            kinds = session.scalars(
                select(WorkItem.kind).where(WorkItem.number_id.in_([employee_number, bare_number]))
            ).all()
        assert sorted(kinds) == ["suspend", "suspend"]
        # The person using the employee SIM is told; a SIM with no named user has nobody.
        assert [n.event for n in _notifications(runtime, number_id=employee_number)][-1] == (
            "suspend"
        )
        assert "suspend" not in [n.event for n in _notifications(runtime, number_id=bare_number)]
        digests = _notifications(runtime, audience="company")
        assert json.loads(digests[-1].payload or "{}")["suspended"] == 2
        again = run_at(runtime, clock, deadline + dt.timedelta(days=1))
        assert (again.suspended, again.person_messages, again.company_digests) == (0, 0, 0)

    def test_the_event_says_why_and_who(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client)
        number_id = _with_deadline_in(client, w, 0)
        run_at(runtime, clock, START + dt.timedelta(days=1))
        detail = client.get(
            f"/api/v1/companies/{w['company']['id']}/numbers/{number_id}", headers=w["admin"]
        ).json()
        last = detail["events"][-1]
        assert last["to_status"] == "suspended"
        assert last["actor_kind"] == "operator_job"
        assert last["actor_id"] == "deadlines"
        assert "deadline passed" in last["reason"]
        assert detail["status_text"].startswith("Обслуживание приостановлено")

    def test_a_confirmation_reactivates_a_suspended_number(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client, signed_on=LEGACY_SIGNED)
        (number_id,) = numbers(client, w, 1)
        name_user(client, w, number_id, employee())
        person = make_person(client)
        assert run_at(runtime, clock, START).suspended == 1  # 30.11.2021 passed long ago
        api_key = {"X-API-Key": w["operator"]["api_key"]}
        first = client.post("/api/v1/operator/matching-runs", headers=api_key).json()
        assert first["requests_created"] == 1
        me = token_headers(client, role="person", subject=person["portal_subject"])
        (request,) = client.get("/api/v1/me/confirmation-requests", headers=me).json()
        confirmed = client.post(
            f"/api/v1/me/confirmation-requests/{request['id']}/confirm", headers=me
        )
        assert confirmed.status_code == 200, confirmed.text
        second = client.post("/api/v1/operator/matching-runs", headers=api_key).json()
        assert second["confirmed_active"] == 1
        assert number_row(runtime, number_id).status.value == "active"
        assert status_events(runtime, number_id, "active") == 1
        # The next deadline run leaves an active number alone.
        assert run_at(runtime, clock, START + dt.timedelta(days=1)).suspended == 0
        assert number_row(runtime, number_id).status.value == "active"


class TestTermination:
    def test_off_by_default(self, client: TestClient, runtime: Runtime, clock: FixedClock) -> None:
        w = world(client)
        number_id = _with_deadline_in(client, w, 0)
        run_at(runtime, clock, START + dt.timedelta(days=1))
        report = run_at(runtime, clock, START + dt.timedelta(days=400))
        assert report.terminated == 0
        assert number_row(runtime, number_id).status.value == "suspended"

    def test_after_n_days_suspended_when_on(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        runtime.settings.deadline_termination_enabled = True
        w = world(client)
        number_id = _with_deadline_in(client, w, 0)
        suspended_at = START + dt.timedelta(days=1)
        run_at(runtime, clock, suspended_at)
        early = run_at(runtime, clock, suspended_at + dt.timedelta(days=89))
        assert early.terminated == 0
        report = run_at(runtime, clock, suspended_at + dt.timedelta(days=90))
        assert report.terminated == 1
        assert number_row(runtime, number_id).status.value == "terminated"
        assert ("terminate", 0) in _notices(runtime, number_id)
        with runtime.sessions() as session:
            kinds = session.scalars(
                select(WorkItem.kind).where(WorkItem.number_id == number_id)
            ).all()
        assert "terminate" in kinds
        assert run_at(runtime, clock, suspended_at + dt.timedelta(days=91)).terminated == 0


class TestARunThatDies:
    def test_the_next_run_finishes_the_work_and_nothing_happens_twice(
        self,
        client: TestClient,
        runtime: Runtime,
        clock: FixedClock,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        w = world(client)
        ids = [_with_deadline_in(client, w, 0) for _ in range(6)]
        for number_id in ids:
            name_user(client, w, number_id, employee())
        ask(runtime)
        run_at(runtime, clock, START)
        runtime.settings.deadline_batch_ids = 2  # three batches of two numbers, in turn
        runtime.settings.bulk_workers = 1
        real = deadline_service.suspend_overdue_numbers
        calls = {"n": 0}

        def dies_in_second_batch(*args: Any, **kwargs: Any) -> int:
            calls["n"] += 1
            if calls["n"] == 2:
                raise RuntimeError("the scheduler process was killed")
            return real(*args, **kwargs)

        monkeypatch.setattr(deadline_service, "suspend_overdue_numbers", dies_in_second_batch)
        clock.set(START + dt.timedelta(days=1))
        with pytest.raises(RuntimeError):
            deadline_service.run_deadlines(runtime)
        done = [number_row(runtime, i).status.value for i in ids]
        assert done.count("suspended") == 2  # the first batch committed whole, nothing else
        monkeypatch.setattr(deadline_service, "suspend_overdue_numbers", real)
        report = run_at(runtime, clock, START + dt.timedelta(days=1, minutes=5))
        assert report.suspended == 4
        for number_id in ids:
            assert status_events(runtime, number_id, "suspended") == 1
            assert [n.event for n in _notifications(runtime, number_id=number_id)].count(
                "suspend"
            ) == 1
        # One digest tells the company about all six, the dead run's two included.
        digests = _notifications(runtime, audience="company")
        assert json.loads(digests[-1].payload or "{}")["suspended"] == 6
        with runtime.sessions() as session:
            undigested = session.scalar(
                select(func.count()).where(DeadlineRun.digested_at.is_(None))
            )
        assert undigested == 0
