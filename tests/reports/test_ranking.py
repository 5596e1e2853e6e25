"""Companies ranked by numbers at risk: the accounts operator staff should call first."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from tests.builders import (
    add_numbers,
    make_company_with_numbers,
    make_contract,
    make_operator,
    mobile,
    staff_headers,
)
from tests.reports.builders import put_numbers_in_state

DAY = dt.timedelta(days=1)
RANKING = "/api/v1/reports/companies-at-risk"


def _ids(company: dict[str, Any]) -> list[int]:
    return [n["id"] for n in company["numbers"]]


def _ranking(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get(RANKING, params=params, headers=staff_headers(client))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def companies(client: TestClient, runtime: Runtime, clock: FixedClock) -> dict[str, Any]:
    """Four companies: 1 at risk, 3 at risk (one overdue), 2 at risk, and only suspended ones;
    a fifth whose numbers are all active is not in the ranking at all."""
    now = clock.now()
    one = make_company_with_numbers(client, count=2)
    three = make_company_with_numbers(client, count=4)
    two = make_company_with_numbers(client, count=2)
    suspended = make_company_with_numbers(client, count=1)
    calm = make_company_with_numbers(client, count=2)
    put_numbers_in_state(runtime, _ids(one)[:1], status="unregistered", deadline_at=now + 20 * DAY)
    put_numbers_in_state(runtime, _ids(one)[1:], status="active", deadline_at=None)
    put_numbers_in_state(runtime, _ids(three)[:1], status="expired", deadline_at=now - DAY)
    put_numbers_in_state(
        runtime, _ids(three)[1:3], status="pending_confirmation", deadline_at=now + 2 * DAY
    )
    put_numbers_in_state(runtime, _ids(three)[3:], status="suspended", deadline_at=now - 9 * DAY)
    put_numbers_in_state(runtime, _ids(two), status="mismatch", deadline_at=now + 5 * DAY)
    put_numbers_in_state(runtime, _ids(suspended), status="suspended", deadline_at=now - DAY)
    put_numbers_in_state(runtime, _ids(calm), status="active", deadline_at=None)
    return {"one": one, "three": three, "two": two, "suspended": suspended, "calm": calm}


class TestRanking:
    def test_most_at_risk_first_and_companies_with_only_suspended_numbers_last(
        self, client: TestClient, companies: dict[str, Any]
    ) -> None:
        body = _ranking(client)

        assert [item["id"] for item in body["items"]] == [
            companies[key]["company"]["id"] for key in ("three", "two", "one", "suspended")
        ]
        assert [item["at_risk"]["total"] for item in body["items"]] == [3, 2, 1, 0]
        assert body["next_cursor"] is None
        assert body["thresholds"] == [30, 14, 7, 3, 1]

    def test_each_company_with_its_buckets_overdue_suspended_and_next_deadline(
        self, client: TestClient, companies: dict[str, Any], clock: FixedClock
    ) -> None:
        top = _ranking(client)["items"][0]
        company = companies["three"]["company"]

        assert (top["id"], top["name"], top["inn"]) == (
            company["id"],
            company["name"],
            company["inn"],
        )
        assert top["at_risk"]["by_bucket"] == {
            "overdue": 1,
            "1": 0,
            "3": 2,
            "7": 0,
            "14": 0,
            "30": 0,
            "later": 0,
        }
        assert top["overdue"] == 1
        assert top["suspended"] == 1
        assert dt.datetime.fromisoformat(top["next_deadline_at"]) == clock.now() + 2 * DAY

    def test_a_company_with_only_suspended_numbers_has_no_next_deadline(
        self, client: TestClient, companies: dict[str, Any]
    ) -> None:
        last = _ranking(client)["items"][-1]

        assert last["id"] == companies["suspended"]["company"]["id"]
        assert (last["suspended"], last["overdue"], last["next_deadline_at"]) == (1, 0, None)

    def test_equal_counts_are_ranked_by_company_id(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        first = make_company_with_numbers(client, count=1)
        second = make_company_with_numbers(client, count=1)
        put_numbers_in_state(
            runtime, _ids(second) + _ids(first), status="unregistered", deadline_at=clock.now()
        )

        items = _ranking(client)["items"]

        assert [i["id"] for i in items] == [first["company"]["id"], second["company"]["id"]]


class TestPaging:
    def test_pages_of_one_walk_the_whole_ranking_once(
        self, client: TestClient, companies: dict[str, Any]
    ) -> None:
        everything = [item["id"] for item in _ranking(client)["items"]]
        seen: list[int] = []
        cursor = None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 1}
            if cursor:
                params["cursor"] = cursor
            body = _ranking(client, **params)
            assert len(body["items"]) <= 1
            seen += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break

        assert seen == everything
        assert len(seen) == 4

    def test_a_page_as_long_as_what_is_left_says_there_is_no_more(
        self, client: TestClient, companies: dict[str, Any]
    ) -> None:
        first = _ranking(client, limit=2)
        second = _ranking(client, limit=2, cursor=first["next_cursor"])

        assert len(second["items"]) == 2
        assert second["next_cursor"] is None


class TestOperatorFilter:
    def test_only_the_operators_numbers_count(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=2)
        other_operator = make_operator(client)
        contract = make_contract(
            client, company_id=company["company"]["id"], operator_id=other_operator["id"]
        )
        elsewhere = add_numbers(
            client, contract_id=contract["id"], msisdns=[mobile(7_700_001), mobile(7_700_002)]
        )
        now = clock.now()
        put_numbers_in_state(runtime, _ids(company), status="unregistered", deadline_at=now)
        put_numbers_in_state(
            runtime, [elsewhere[0]["id"]], status="unregistered", deadline_at=now + DAY
        )
        put_numbers_in_state(runtime, [elsewhere[1]["id"]], status="suspended", deadline_at=now)

        mine = _ranking(client, operator_id=company["operator"]["id"])["items"]
        theirs = _ranking(client, operator_id=other_operator["id"])["items"]
        everyone = _ranking(client)["items"]

        assert [(i["at_risk"]["total"], i["overdue"], i["suspended"]) for i in mine] == [(2, 2, 0)]
        assert [(i["at_risk"]["total"], i["overdue"], i["suspended"]) for i in theirs] == [
            (1, 0, 1)
        ]
        assert [(i["at_risk"]["total"], i["suspended"]) for i in everyone] == [(3, 1)]

    def test_an_operator_without_numbers_gives_an_empty_ranking(
        self, client: TestClient, companies: dict[str, Any]
    ) -> None:
        operator = make_operator(client)

        body = _ranking(client, operator_id=operator["id"])

        assert body["items"] == []
        assert body["next_cursor"] is None
