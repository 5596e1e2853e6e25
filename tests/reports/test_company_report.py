"""A company's deadline report: counts by status, numbers at risk by days left, next deadline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.numbers.models import NumberStatus
from tests.builders import make_company_with_numbers, staff_headers
from tests.reports.builders import company_report, put_numbers_in_state

DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)
AT_RISK = ["unregistered", "pending_confirmation", "mismatch", "declined", "expired"]


def _ids(company: dict[str, Any]) -> list[int]:
    return [n["id"] for n in company["numbers"]]


class TestCountsByStatus:
    def test_every_status_is_listed_with_zeros(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=4)
        ids = _ids(company)
        put_numbers_in_state(runtime, ids[:1], status="active", deadline_at=None)
        put_numbers_in_state(runtime, ids[1:2], status="suspended", deadline_at=clock.now())

        report = company_report(client, company["company"]["id"], company["admin"])

        assert report["by_status"] == {
            status.value: {"unregistered": 2, "active": 1, "suspended": 1}.get(status.value, 0)
            for status in NumberStatus
        }
        assert report["suspended"] == 1
        assert report["company_id"] == company["company"]["id"]
        assert report["company_name"] == company["company"]["name"]

    def test_new_numbers_whose_deadline_is_far_are_not_at_risk_yet(
        self, client: TestClient, clock: FixedClock
    ) -> None:
        starts = clock.now().date() + 60 * DAY
        company = make_company_with_numbers(client, count=3, starts_on=starts)

        report = company_report(client, company["company"]["id"], company["admin"])

        assert report["by_status"]["unregistered"] == 3
        # At risk (nobody confirmed), but beyond the farthest threshold.
        assert report["at_risk"]["total"] == 3
        assert report["at_risk"]["by_bucket"]["later"] == 3
        assert {k for k, v in report["at_risk"]["by_bucket"].items() if v} == {"later"}
        # Known from the moment they were added: registered before use, the day before.
        assert report["next_deadline_at"].startswith((starts - DAY).isoformat())
        assert report["generated_at"] == clock.now().isoformat().replace("+00:00", "Z")


class TestBuckets:
    def test_bucket_keys_and_thresholds_follow_the_setting(self, client: TestClient) -> None:
        company = make_company_with_numbers(client, count=1)

        report = company_report(client, company["company"]["id"], company["admin"])

        assert report["thresholds"] == [30, 14, 7, 3, 1]
        assert list(report["at_risk"]["by_bucket"]) == [
            "overdue",
            "1",
            "3",
            "7",
            "14",
            "30",
            "later",
        ]

    @pytest.mark.parametrize(
        ("days", "next_bucket"),
        [(1, "3"), (3, "7"), (7, "14"), (14, "30"), (30, "later")],
    )
    def test_exactly_t_days_is_in_t_and_one_second_more_is_not(
        self,
        client: TestClient,
        runtime: Runtime,
        clock: FixedClock,
        days: int,
        next_bucket: str,
    ) -> None:
        company = make_company_with_numbers(client, count=2)
        at_t, after_t = _ids(company)
        now = clock.now()
        put_numbers_in_state(runtime, [at_t], status="unregistered", deadline_at=now + days * DAY)
        put_numbers_in_state(
            runtime, [after_t], status="pending_confirmation", deadline_at=now + days * DAY + SECOND
        )

        buckets = company_report(client, company["company"]["id"], company["admin"])["at_risk"][
            "by_bucket"
        ]

        assert buckets[str(days)] == 1
        assert buckets[next_bucket] == 1
        assert sum(buckets.values()) == 2

    def test_deadline_now_or_past_is_overdue_and_a_second_ahead_is_one_day(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=3)
        past, exactly_now, ahead = _ids(company)
        now = clock.now()
        put_numbers_in_state(runtime, [past], status="expired", deadline_at=now - 5 * DAY)
        put_numbers_in_state(runtime, [exactly_now], status="mismatch", deadline_at=now)
        put_numbers_in_state(runtime, [ahead], status="declined", deadline_at=now + SECOND)

        at_risk = company_report(client, company["company"]["id"], company["admin"])["at_risk"]

        assert at_risk["total"] == 3
        assert at_risk["by_bucket"]["overdue"] == 2
        assert at_risk["by_bucket"]["1"] == 1

    def test_every_unconfirmed_status_counts_and_confirmed_or_suspended_do_not(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=9)
        ids = _ids(company)
        deadline = clock.now() + 10 * DAY
        statuses = [*AT_RISK, "active", "suspended", "terminated", "transferred"]
        for number_id, status in zip(ids, statuses, strict=True):
            put_numbers_in_state(runtime, [number_id], status=status, deadline_at=deadline)

        report = company_report(client, company["company"]["id"], company["admin"])

        assert report["at_risk"]["total"] == len(AT_RISK)
        assert report["at_risk"]["by_bucket"]["14"] == len(AT_RISK)
        assert report["suspended"] == 1

    def test_the_clock_moving_moves_numbers_to_nearer_buckets(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=1)
        put_numbers_in_state(
            runtime, _ids(company), status="unregistered", deadline_at=clock.now() + 20 * DAY
        )
        company_id = company["company"]["id"]

        assert (
            company_report(client, company_id, company["admin"])["at_risk"]["by_bucket"]["30"] == 1
        )
        clock.advance(17 * DAY)
        assert (
            company_report(client, company_id, company["admin"])["at_risk"]["by_bucket"]["3"] == 1
        )
        clock.advance(3 * DAY)
        assert (
            company_report(client, company_id, company["admin"])["at_risk"]["by_bucket"]["overdue"]
            == 1
        )


class TestOtherThresholds:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        settings.deadline_flag_days = [10, 2]
        return settings

    def test_buckets_are_the_configured_thresholds(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=4)
        ids = _ids(company)
        now = clock.now()
        for number_id, deadline in zip(
            ids, [now, now + 2 * DAY, now + 2 * DAY + SECOND, now + 11 * DAY], strict=True
        ):
            put_numbers_in_state(runtime, [number_id], status="unregistered", deadline_at=deadline)

        report = company_report(client, company["company"]["id"], company["admin"])

        assert report["thresholds"] == [10, 2]
        assert report["at_risk"]["by_bucket"] == {"overdue": 1, "2": 1, "10": 1, "later": 1}


class TestNextDeadline:
    def test_the_earliest_deadline_still_ahead_of_an_at_risk_number(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=4)
        overdue, active, soon, later = _ids(company)
        now = clock.now()
        put_numbers_in_state(runtime, [overdue], status="unregistered", deadline_at=now - DAY)
        put_numbers_in_state(runtime, [active], status="active", deadline_at=now + SECOND)
        put_numbers_in_state(runtime, [soon], status="expired", deadline_at=now + 2 * DAY)
        put_numbers_in_state(runtime, [later], status="unregistered", deadline_at=now + 40 * DAY)

        report = company_report(client, company["company"]["id"], company["admin"])

        assert dt.datetime.fromisoformat(report["next_deadline_at"]) == now + 2 * DAY

    def test_none_when_every_at_risk_number_is_overdue(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=1)
        put_numbers_in_state(runtime, _ids(company), status="unregistered", deadline_at=clock.now())

        report = company_report(client, company["company"]["id"], company["admin"])

        assert report["at_risk"]["by_bucket"]["overdue"] == 1
        assert report["next_deadline_at"] is None


class TestIsolation:
    def test_only_the_companys_own_numbers_count(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        mine = make_company_with_numbers(client, count=1)
        other = make_company_with_numbers(client, count=2)
        deadline = clock.now() + DAY
        put_numbers_in_state(runtime, _ids(mine), status="unregistered", deadline_at=deadline)
        put_numbers_in_state(runtime, _ids(other), status="unregistered", deadline_at=deadline)

        report = company_report(client, mine["company"]["id"], staff_headers(client))

        assert report["at_risk"]["total"] == 1
        assert sum(report["by_status"].values()) == 1
