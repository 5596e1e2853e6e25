"""Each number's deadline from the policy: every seeded rule, campaigns, a regulator's
extension moving every affected number in one run, and the latest rule winning."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.deadlines.models import DeadlineChange, DeadlineRule
from tests.builders import device, employee, staff_headers
from tests.conftest import START
from tests.deadlines.builders import (
    LEGACY_SIGNED,
    end_of,
    msk,
    name_user,
    number_row,
    numbers,
    run_at,
    world,
)


def _rule_id(runtime: Runtime, code: str) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(DeadlineRule.id).where(DeadlineRule.code == code)) or 0)


def _changes(runtime: Runtime, number_id: int) -> list[DeadlineChange]:
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(DeadlineChange)
                .where(DeadlineChange.number_id == number_id)
                .order_by(DeadlineChange.id)
            )
        )


class TestSeededRules:
    def test_legacy_employee_and_unnamed_numbers_by_30_november_2021(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client, signed_on=LEGACY_SIGNED)
        named, unnamed = numbers(client, w, 2)
        name_user(client, w, named, employee())
        run_at(runtime, clock, START)
        for number_id in (named, unnamed):
            row = number_row(runtime, number_id)
            assert row.deadline_at == msk(2021, 11, 30, 23, 59, 59)
            assert row.deadline_rule_id == _rule_id(runtime, "legacy-employee")

    def test_legacy_device_by_1_march_2023(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client, signed_on=LEGACY_SIGNED)
        (number_id,) = numbers(client, w, 1)
        name_user(client, w, number_id, device())
        run_at(runtime, clock, START)
        row = number_row(runtime, number_id)
        assert row.deadline_at == msk(2023, 3, 1, 23, 59, 59)
        assert row.deadline_rule_id == _rule_id(runtime, "legacy-device")

    def test_new_employee_before_use(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client)
        (number_id,) = numbers(client, w, 1, starts_on=dt.date(2026, 12, 10))
        name_user(client, w, number_id, employee())
        run_at(runtime, clock, START)
        row = number_row(runtime, number_id)
        # "Before use": by the end of the day before service starts.
        assert row.deadline_at == end_of(dt.date(2026, 12, 9))
        assert row.deadline_rule_id == _rule_id(runtime, "new-employee")

    def test_new_device_three_working_days_before_skipping_holidays(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client)
        # Service starts Monday 11 January 2027: 1-8 January are holidays and 9-10 a weekend,
        # so three working days before are 31, 30 and 29 December.
        (number_id,) = numbers(client, w, 1, starts_on=dt.date(2027, 1, 11))
        name_user(client, w, number_id, device())
        run_at(runtime, clock, START)
        row = number_row(runtime, number_id)
        assert row.deadline_at == end_of(dt.date(2026, 12, 29))
        assert row.deadline_rule_id == _rule_id(runtime, "new-device")

    def test_a_declared_working_saturday_counts(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client)
        (number_id,) = numbers(client, w, 1, starts_on=dt.date(2026, 12, 7))  # a Monday
        name_user(client, w, number_id, device())
        run_at(runtime, clock, START)
        assert number_row(runtime, number_id).deadline_at == end_of(dt.date(2026, 12, 2))
        response = client.put(
            "/api/v1/deadline-policy/calendar/2026-12-05",
            json={"is_working": True, "note": "перенос рабочего дня"},
            headers=staff_headers(client),
        )
        assert response.status_code == 200, response.text
        run_at(runtime, clock, START)
        # Saturday 5 December now counts: Fri 4, Sat 5 … three back from Monday is Thu 3.
        assert number_row(runtime, number_id).deadline_at == end_of(dt.date(2026, 12, 3))

    def test_change_of_user_gives_15_days_of_grace(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client, signed_on=LEGACY_SIGNED)
        (number_id,) = numbers(client, w, 1)
        name_user(client, w, number_id, employee())
        # The first user was confirmed in 2021; the legacy deadline does not touch it.
        confirmed = client.post(
            f"/api/v1/numbers/{number_id}/status",
            json={"status": "active", "reason": "confirmed in 2021"},
            headers=staff_headers(client),
        )
        assert confirmed.status_code == 200, confirmed.text
        run_at(runtime, clock, START)
        assert number_row(runtime, number_id).status.value == "active"
        assert (
            name_user(client, w, number_id, employee(last_name="Петров"), replace=True)
            == "superseded"
        )
        report = run_at(runtime, clock, START)
        row = number_row(runtime, number_id)
        # The later of the legacy deadline and 15 days from the change (23 November).
        assert row.deadline_at == end_of(dt.date(2026, 12, 8))
        assert row.deadline_rule_id == _rule_id(runtime, "change-of-user")
        assert row.status.value == "pending_confirmation"  # not suspended: grace runs
        assert report.suspended == 0
        last = _changes(runtime, number_id)[-1]
        assert (last.old_deadline_at, last.new_deadline_at) == (
            msk(2021, 11, 30, 23, 59, 59),
            end_of(dt.date(2026, 12, 8)),
        )
        assert last.rule_id == _rule_id(runtime, "change-of-user")
        assert "user" in last.reason


class TestPolicyChanges:
    def test_a_campaign_gives_one_company_n_days(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        target = world(client, signed_on=LEGACY_SIGNED)
        other = world(client, signed_on=LEGACY_SIGNED)
        mine = numbers(client, target, 2)
        theirs = numbers(client, other, 1)
        response = client.post(
            "/api/v1/deadline-policy/rules",
            json={
                "code": "reverify-2026",
                "title": "Re-verification: 15 days to fix data",
                "basis": "campaign",
                "subscriber_id": target["company"]["id"],
                "notice_at": START.isoformat(),
                "offset_days": 15,
            },
            headers=staff_headers(client),
        )
        assert response.status_code == 201, response.text
        assert response.json()["rule"]["deadline_at"].startswith("2026-12-08T20:59:59")
        run_at(runtime, clock, START)
        for number_id in mine:
            assert number_row(runtime, number_id).deadline_at == end_of(dt.date(2026, 12, 8))
        assert number_row(runtime, theirs[0]).deadline_at == msk(2021, 11, 30, 23, 59, 59)

    def test_an_extension_moves_every_affected_number_in_one_run(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        legacy = world(client, signed_on=LEGACY_SIGNED)
        fresh = world(client)
        old_ids = numbers(client, legacy, 5)
        new_ids = numbers(client, fresh, 2, starts_on=dt.date(2026, 12, 20))
        run_at(runtime, clock, msk(2021, 11, 1))  # before the legacy deadline
        rule_id = _rule_id(runtime, "legacy-employee")
        patched = client.patch(
            f"/api/v1/deadline-policy/rules/{rule_id}",
            json={"version": 1, "deadline_at": "2021-12-31T23:59:59+03:00"},
            headers=staff_headers(client),
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["rule"]["version"] == 2
        # Nothing moves in the request itself …
        assert number_row(runtime, old_ids[0]).deadline_at == msk(2021, 11, 30, 23, 59, 59)
        report = run_at(runtime, clock, msk(2021, 11, 1, 1))
        # … and the next run moves each affected number once, with an event each.
        assert report.deadlines_moved == 5
        for number_id in old_ids:
            assert number_row(runtime, number_id).deadline_at == msk(2021, 12, 31, 23, 59, 59)
            last = _changes(runtime, number_id)[-1]
            assert last.new_deadline_at == msk(2021, 12, 31, 23, 59, 59)
            assert "legacy-employee" in last.reason
            assert "version 2" in last.reason
        for number_id in new_ids:
            assert len(_changes(runtime, number_id)) == 1  # only its first deadline
        assert run_at(runtime, clock, msk(2021, 11, 1, 2)).deadlines_moved == 0

    def test_a_disabled_rule_leaves_its_numbers_without_deadline(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client, signed_on=LEGACY_SIGNED)
        (number_id,) = numbers(client, w, 1)
        run_at(runtime, clock, msk(2021, 11, 1))
        rule_id = _rule_id(runtime, "legacy-employee")
        response = client.patch(
            f"/api/v1/deadline-policy/rules/{rule_id}",
            json={"version": 1, "enabled": False},
            headers=staff_headers(client),
        )
        assert response.status_code == 200, response.text
        report = run_at(runtime, clock, START)
        row = number_row(runtime, number_id)
        assert (row.deadline_at, row.deadline_rule_id) == (None, None)
        assert row.status.value == "unregistered"  # no deadline, nothing to suspend
        assert report.suspended == 0
        assert _changes(runtime, number_id)[-1].new_deadline_at is None

    def test_only_changed_numbers_are_recomputed_between_policy_changes(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        w = world(client)
        ids = numbers(client, w, 3, starts_on=dt.date(2026, 12, 20))
        run_at(runtime, clock, START)
        with runtime.sessions() as session:
            stale = session.scalar(select(func.count()).where(DeadlineChange.number_id.in_(ids)))
        assert stale == 3
        for number_id in ids:
            assert number_row(runtime, number_id).deadline_stale is False
        name_user(client, w, ids[0], device())
        # Worked out at once, in the request that named the user.
        assert number_row(runtime, ids[0]).deadline_stale is False
        run_at(runtime, clock, START)
        # The device rule (3 working days before Sunday 20 December: Wed 16) for the one
        # that changed; the others untouched.
        assert number_row(runtime, ids[0]).deadline_at == end_of(dt.date(2026, 12, 16))
        assert number_row(runtime, ids[1]).deadline_at == end_of(dt.date(2026, 12, 19))
        assert len(_changes(runtime, ids[1])) == 1
