"""The numbers list with its filters, pages and exports; a number's page with its masked user,
its history in words, and the resend button."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.builders import add_numbers, make_person, mobile, token_headers
from tests.web.signing import post_form, sign_in


def _cabinet(world: dict[str, Any]) -> str:
    return f"/companies/{world['company']['id']}"


class TestTheList:
    def test_shows_each_number_with_its_status_user_and_deadline(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        page = client.get(_cabinet(world) + "/numbers").text
        first, _second, _third = world["numbers"]
        assert f'/numbers/{first["id"]}">{first["msisdn"]}</a>' in page
        assert "Ждёт подтверждения пользователем на Госуслугах" in page
        assert "<td>Иванов Иван Иванович</td>" in page
        assert "<td>Платёжный терминал Verifone VX520</td>" in page
        assert "13.12.2026 23:59" in page  # before service starts, in Moscow time
        assert "1985" not in page
        assert "345678" not in page

    def test_filters_by_status_and_digits(self, client: TestClient, world: dict[str, Any]) -> None:
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        first, second, third = world["numbers"]
        page = client.get(
            _cabinet(world) + "/numbers", params={"status": "pending_confirmation", "kind": ""}
        ).text
        assert first["msisdn"] in page
        assert second["msisdn"] not in page
        assert third["msisdn"] not in page
        assert 'value="pending_confirmation" checked' in page
        by_digits = client.get(_cabinet(world) + "/numbers", params={"q": third["msisdn"][-4:]})
        assert third["msisdn"] in by_digits.text
        assert first["msisdn"] not in by_digits.text

    def test_an_unreadable_date_is_told_not_a_crash(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        page = client.get(_cabinet(world) + "/numbers", params={"deadline_before": "завтра"})
        assert page.status_code == 200
        assert "Дата «завтра» не распознана" in page.text

    def test_pages_carry_the_filters_and_the_cursor(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        add_numbers(
            client,
            contract_id=world["contract"]["id"],
            msisdns=[mobile(900_000 + i) for i in range(60)],
        )
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        first = client.get(_cabinet(world) + "/numbers", params={"status": "unregistered"}).text
        more = re.search(r'<a rel="next" href="([^"]+)">Дальше</a>', first)
        assert more, "a second page"
        address = more.group(1).replace("&amp;", "&")
        assert "status=unregistered" in address
        assert "cursor=" in address
        second = client.get(address).text
        assert mobile(900_059) in second
        assert mobile(900_059) not in first
        assert "Дальше" not in second

    def test_exports_with_the_same_filters(self, client: TestClient, world: dict[str, Any]) -> None:
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        page = client.get(_cabinet(world) + "/numbers", params={"status": "unregistered"}).text
        assert "/numbers.csv?status=unregistered" in page
        exported = client.get(_cabinet(world) + "/numbers.csv?status=unregistered")
        assert exported.status_code == 200
        text = exported.content.decode("utf-8-sig")
        assert world["numbers"][2]["msisdn"] in text
        assert world["numbers"][0]["msisdn"] not in text
        xlsx = client.get(_cabinet(world) + "/numbers.xlsx")
        assert xlsx.status_code == 200
        assert xlsx.content[:2] == b"PK"

    def test_in_english(self, client: TestClient, world: dict[str, Any]) -> None:
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        page = client.get(_cabinet(world) + "/numbers", headers={"Accept-Language": "en"})
        assert page.headers["content-language"] == "en"
        assert "<h1>Numbers</h1>" in page.text
        assert "Download the whole list with this filter:" in page.text


class TestANumbersPage:
    def test_shows_status_next_step_masked_user_and_history(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        number = world["numbers"][0]
        page = client.get(f"{_cabinet(world)}/numbers/{number['id']}").text
        assert f"<h1>Номер {number['msisdn']}</h1>" in page
        assert "Компания указала пользователя; пользователь ещё не подтвердил это." in page
        assert "Пользователь подтверждает на Госуслугах, что пользуется номером." in page
        assert "Иванов Иван Иванович" in page
        assert "**.**.1985" in page
        assert "45** ***678" in page
        assert "12.04.1985" not in page
        assert "1985-04-12" not in page
        assert "345678" not in page
        assert "4512" not in page
        assert "Номер внесён в реестр: Пользователь не указан" in page
        assert (
            "Пользователь не указан → Ждёт подтверждения пользователем на Госуслугах</td>"
            "<td>Администратор компании</td>"
        ) in page

    def test_a_refused_resend_is_told_after_the_redirect(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        path = f"{_cabinet(world)}/numbers/{world['numbers'][1]['id']}"
        sent: Any = post_form(client, path + "/resend", {})
        assert sent.status_code == 303
        assert sent.headers["location"] == path
        page = client.get(path).text
        assert '<p class="flash" role="status">Запрос не отправлен: ' in page
        assert "Запросов подтверждения не было." in page
        assert "Отправить запрос ещё раз" not in page  # offered only where it can succeed

    def test_a_declined_request_is_sent_again(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        person = make_person(client)
        matching = {"X-API-Key": world["operator"]["api_key"]}
        assert client.post("/api/v1/operator/matching-runs", headers=matching).status_code == 200
        me = token_headers(client, role="person", subject=person["portal_subject"])
        request_id = client.get("/api/v1/me/confirmation-requests", headers=me).json()[0]["id"]
        declined = client.post(f"/api/v1/me/confirmation-requests/{request_id}/decline", headers=me)
        assert declined.status_code == 200, declined.text
        assert client.post("/api/v1/operator/matching-runs", headers=matching).status_code == 200
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        path = f"{_cabinet(world)}/numbers/{world['numbers'][0]['id']}"
        declined_page = client.get(path).text
        assert "Указанный человек ответил, что не пользуется этим номером." in declined_page
        assert "Отправить запрос ещё раз" in declined_page

        sent: Any = post_form(client, path + "/resend", {})

        assert sent.status_code == 303
        page = client.get(path).text
        assert "Запрос отправлен ещё раз" in page
        assert page.count("В очереди на отправку на Госуслуги") == 1
        assert "Пользователь отказался от номера" in page
