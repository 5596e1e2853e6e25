"""The cabinet's overview: numbers by status, at risk with the days left, overdue, the
confirmation backlog and the latest uploads."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi.testclient import TestClient

from tests.builders import add_numbers, mobile
from tests.web.signing import sign_in


class TestTheOverview:
    def test_shows_the_figures_of_the_company(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        # One more number whose service started today: its deadline has passed. The device's
        # deadline is the nearest: 3 working days before its service starts.
        add_numbers(
            client,
            contract_id=world["contract"]["id"],
            msisdns=[mobile(777_001)],
            starts_on=dt.date(2026, 11, 23),
        )
        content = "Номер телефона;Фамилия\r\n+7 999 000-00-00;Иванов\r\n".encode("cp1251")
        sent = client.post(
            f"/api/v1/companies/{world['company']['id']}/uploads",
            files={"file": ("март.csv", content, "text/csv")},
            data={"mode": "validate"},
            headers=world["admin"],
        )
        assert sent.status_code == 202, sent.text
        sign_in(client, "company_admin", company_id=world["company"]["id"])

        page = client.get(f"/companies/{world['company']['id']}").text

        name = world["company"]["name"].replace('"', "&#34;")
        assert f"Сводка: {name}" in page
        assert '<span class="figure">4</span>' in page  # every number
        assert "До ближайшего срока 17 дней" in page
        assert "Ближайший срок: 09.12.2026 23:59" in page
        overdue = re.search(r'<span class="figure">(\d+)</span>\s*<strong>Срок прошёл', page)
        assert overdue
        assert overdue.group(1) == "1"
        assert "Открыто 0 запросов подтверждения" in page
        assert "Пользователи указаны: сотрудники — 1, устройства — 1." in page
        assert f'/uploads/{sent.json()["id"]}">март.csv</a>' in page
        assert "Ждёт подтверждения пользователем на Госуслугах</a></td>\n        <td>1</td>" in page

    def test_in_english(self, client: TestClient, world: dict[str, Any]) -> None:
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        page = client.get(
            f"/companies/{world['company']['id']}", headers={"Accept-Language": "en"}
        ).text
        assert "Overview: " in page
        assert "17 days left until the nearest deadline" in page
        assert "No uploads yet." in page
