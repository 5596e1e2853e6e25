"""The operator staff's pages: the companies at risk, the confirmation backlog, the jobs."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient

from app.core.runtime import Runtime
from app.web.staff import summary_text
from tests.builders import employee, make_company_with_numbers, make_person, staff_headers
from tests.portal.test_portal import queue_request, register
from tests.web.signing import post_form, sign_in

_NEXT = re.compile(r'<a rel="next" href="([^"]+)"')


def text_of(page: str) -> str:
    """The page's text as a reader sees it: tags dropped, entities and spaces undone."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def open_page(client: TestClient, path: str, **headers: str) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.text


def set_email(client: TestClient, world: dict[str, Any], email: str) -> None:
    response = client.put(
        f"/api/v1/companies/{world['company']['id']}/notification-settings",
        json={"notify_email": email},
        headers=world["admin"],
    )
    assert response.status_code == 200, response.text


def company_order(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'href="/companies/(\d+)"', page)]


class TestRanking:
    def test_the_company_with_most_numbers_at_risk_comes_first_with_its_contact(
        self, client: TestClient
    ) -> None:
        small = make_company_with_numbers(client, count=1)
        big = make_company_with_numbers(client, count=3)
        middle = make_company_with_numbers(client, count=2)
        set_email(client, big, "sim-admin@big.example")
        sign_in(client, "operator_staff", subject="staff@demo")

        page = open_page(client, "/staff")

        assert company_order(page) == [
            big["company"]["id"],
            middle["company"]["id"],
            small["company"]["id"],
        ]
        row = text_of(page.split(f'href="/companies/{big["company"]["id"]}"', 1)[1])
        assert "sim-admin@big.example" in row.split(middle["company"]["name"])[0]
        assert "e-mail для уведомлений не указан" in text_of(page)
        assert "Компании под угрозой" in text_of(page)
        assert "До 7 дней" in text_of(page)

    def test_pages_follow_the_apis_cursor(self, client: TestClient) -> None:
        worlds = [make_company_with_numbers(client, count=n) for n in (1, 3, 2)]
        sign_in(client, "operator_staff", subject="staff@demo")

        first = open_page(client, "/staff?limit=2")
        found = _NEXT.search(first)
        assert found
        second = open_page(client, html.unescape(found.group(1)))

        ids = [w["company"]["id"] for w in worlds]
        assert company_order(first) == [ids[1], ids[2]]
        assert company_order(second) == [ids[0]]
        assert "<td>3</td>" in second  # its rank goes on from the first page
        assert not _NEXT.search(second)

    def test_one_operators_companies(self, client: TestClient) -> None:
        mine = make_company_with_numbers(client, count=1)
        make_company_with_numbers(client, count=3)
        sign_in(client, "operator_staff", subject="staff@demo")

        page = open_page(client, f"/staff?operator_id={mine['operator']['id']}")

        assert company_order(page) == [mine["company"]["id"]]


class TestBacklog:
    def test_each_operators_queue(self, client: TestClient, runtime: Runtime) -> None:
        world = make_company_with_numbers(client, count=2)
        for index in (0, 1):
            queue_request(runtime, register(client, world, index, employee()))
        sign_in(client, "operator_staff", subject="staff@demo")

        page = text_of(open_page(client, "/staff/backlog"))

        code = world["operator"]["code"]
        assert f"{code} 2 0" in page  # the operator, queued, of those retrying
        assert "Очередь подтверждений" in page
        assert "отправка идёт" in page


class TestJobs:
    def test_the_jobs_and_running_one_now(self, client: TestClient) -> None:
        sign_in(client, "operator_staff", subject="staff@demo")
        before = text_of(open_page(client, "/staff/jobs"))
        assert "matching" in before
        assert "Забрать ответы Госуслуг" in before
        every_job = client.get("/api/v1/jobs", headers=staff_headers(client)).json()
        assert before.count("Запустить сейчас") == len(every_job)
        assert "ещё не запускалось" in before

        response = post_form(client, "/staff/jobs/housekeeping/run", {})

        assert response.status_code == 303  # type: ignore[attr-defined]
        assert response.headers["location"] == "/staff/jobs"  # type: ignore[attr-defined]
        after = text_of(open_page(client, "/staff/jobs"))
        assert "Задание «housekeeping» выполнено за" in after
        assert "успешно" in after
        assert "api:staff@demo" in after
        jobs = client.get("/api/v1/jobs", headers=staff_headers(client)).json()
        assert {j["name"]: j["last_outcome"] for j in jobs}["housekeeping"] == "ok"

    def test_an_unknown_job_is_a_page_in_russian(self, client: TestClient) -> None:
        sign_in(client, "operator_staff", subject="staff@demo")

        response = post_form(client, "/staff/jobs/nothing/run", {})

        assert response.status_code == 404  # type: ignore[attr-defined]
        assert "housekeeping" in text_of(response.text)  # type: ignore[attr-defined]

    def test_english_on_request(self, client: TestClient) -> None:
        sign_in(client, "operator_staff", subject="staff@demo")

        page = text_of(open_page(client, "/staff/jobs", **{"Accept-Language": "en"}))

        assert "Run now" in page
        assert "Take in the portal's answers" in page
        assert "Запустить" not in page


class TestAccess:
    def test_no_session_leads_to_sign_in(self, client: TestClient) -> None:
        for path in ("/staff", "/staff/backlog", "/staff/jobs"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == f"/sign-in?next={path}"

    def test_a_person_and_an_admin_are_refused(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        person = make_person(client)
        for role, who in (
            ("person", {"subject": person["portal_subject"]}),
            ("company_admin", {"company_id": world["company"]["id"]}),
        ):
            sign_in(client, role, **who)  # type: ignore[arg-type]
            for path in ("/staff", "/staff/backlog", "/staff/jobs"):
                assert client.get(path).status_code == 403, (role, path)
            assert post_form(client, "/staff/jobs/housekeeping/run", {}).status_code == 403  # type: ignore[attr-defined]

    def test_a_run_without_the_csrf_token_runs_nothing(self, client: TestClient) -> None:
        sign_in(client, "operator_staff", subject="staff@demo")

        response = client.post("/staff/jobs/housekeeping/run", follow_redirects=False)

        assert response.status_code == 403
        jobs = client.get("/api/v1/jobs", headers=staff_headers(client)).json()
        assert {j["name"]: j["last_started_at"] for j in jobs}["housekeeping"] is None


class TestARunSaidInWords:
    def test_counts_in_russian_zeros_left_out(self) -> None:
        summary = {"requests_sent": 2, "declined": 0, "portal_unavailable": True, "new_key": 3}
        said = summary_text(summary, "ru")
        assert said == "запросов отправлено: 2, Госуслуги недоступны: да, new_key: 3"
        assert summary_text({"requests_sent": 2}, "en") == "requests sent: 2"

    def test_a_run_that_found_nothing_says_so(self) -> None:
        assert summary_text({"sent": 0, "dead": 0}, "ru") == "делать было нечего"
        assert summary_text(None, "ru") == "—"
