"""Notification settings: shown, edited, the API's problems next to the fields in Russian,
what was typed kept, and the secret never shown."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.web.signing import post_form, sign_in

SECRET = "8f3c2a9e1b7d4f60a5c2e9b1d7f3a6c4"


class TestNotificationSettings:
    def test_saved_settings_are_shown_without_the_secret(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        company_id = world["company"]["id"]
        sign_in(client, "company_admin", company_id=company_id)
        path = f"/companies/{company_id}/notifications"

        sent: Any = post_form(
            client,
            path,
            {
                "email": "sim-admin@romashka.ru",
                "webhook_url": "https://hooks.romashka.ru/simreg",
                "secret": SECRET,
            },
        )

        assert sent.status_code == 303
        page = client.get(path).text
        assert "Настройки уведомлений сохранены." in page
        assert 'value="sim-admin@romashka.ru"' in page
        assert 'value="https://hooks.romashka.ru/simreg"' in page
        assert "Сейчас уведомления уходят: на webhook." in page
        assert "Секрет задан; он никогда не показывается." in page
        assert SECRET not in page

    def test_problems_are_shown_next_to_the_fields_keeping_what_was_typed(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        company_id = world["company"]["id"]
        sign_in(client, "company_admin", company_id=company_id)
        path = f"/companies/{company_id}/notifications"

        sent: Any = post_form(
            client,
            path,
            {"email": "нет-собаки", "webhook_url": "ftp://hooks.example", "secret": "short"},
        )

        assert sent.status_code == 422
        page = sent.text
        assert "Настройки не сохранены: исправьте отмеченные поля." in page
        assert 'value="нет-собаки"' in page
        assert 'value="ftp://hooks.example"' in page
        assert 'id="secret-problem">слишком коротко: нужно хотя бы 16 символов' in page
        assert 'value="short"' not in page
        after = client.get(
            f"/api/v1/companies/{company_id}/notification-settings", headers=world["admin"]
        ).json()
        assert after["notify_email"] is None

    def test_rule_problems_of_the_service_are_shown_too(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        company_id = world["company"]["id"]
        sign_in(client, "company_admin", company_id=company_id)
        sent: Any = post_form(
            client,
            f"/companies/{company_id}/notifications",
            {"email": "нет-собаки", "webhook_url": "https://hooks.romashka.ru/simreg"},
        )
        assert sent.status_code == 422
        assert "должен быть один знак @ между именем и доменом" in sent.text
        assert 'id="secret-problem">для веб-хука нужен секрет не короче 16 символов' in sent.text
        assert 'value="нет-собаки"' in sent.text
