"""A problem+json reads in Russian without any header and in English with Accept-Language: en,
from the domain's errors to pydantic's and the refusals made before the app is reached."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError, field_validator

from app.core.errors import field_problem
from app.core.messages import Language
from tests.builders import make_company_with_numbers, staff_headers

EN = {"Accept-Language": "en"}


def _problem(response: Any, status: int, language: Language) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["content-language"] == language
    body: dict[str, Any] = response.json()
    return body


class TestAnUnknownNumber:
    def _get(self, client: TestClient, headers: dict[str, str]) -> Any:
        world = make_company_with_numbers(client, count=1)
        return client.get(
            f"/api/v1/companies/{world['company']['id']}/numbers/999999",
            headers={**world["admin"], **headers},
        )

    def test_reads_in_russian_by_default(self, client: TestClient) -> None:
        body = _problem(self._get(client, {}), 404, "ru")
        assert body["type"].endswith("/not-found")
        assert body["title"] == "Не найдено"
        assert body["detail"].startswith("Номер 999999 не найден")

    def test_reads_in_english_when_asked(self, client: TestClient) -> None:
        body = _problem(self._get(client, EN), 404, "en")
        assert body["title"] == "Not found"
        assert body["detail"].startswith("Number 999999 was not found")


class TestAMissingField:
    def _put(self, client: TestClient, headers: dict[str, str]) -> Any:
        world = make_company_with_numbers(client, count=1)
        number_id = world["numbers"][0]["id"]
        return client.put(
            f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}/registration",
            json={"kind": "device", "device_type": "atm", "identifier": "SN-1"},
            headers={**world["admin"], **headers},
        )

    def test_names_the_field_in_russian(self, client: TestClient) -> None:
        body = _problem(self._put(client, {}), 422, "ru")
        assert body["title"] == "Данные не прошли проверку"
        assert body["detail"].startswith("1 поле заполнено неверно")
        assert body["errors"] == [
            {
                "field": "device.model",
                "code": "missing",
                "message": "обязательное поле; заполните его",
            }
        ]

    def test_names_the_field_in_english(self, client: TestClient) -> None:
        body = _problem(self._put(client, EN), 422, "en")
        assert body["errors"][0]["message"] == "field required; fill it in"
        assert body["detail"].startswith("1 field ")

    def test_a_type_without_an_entry_keeps_pydantic_words(self) -> None:
        error = {"type": "no_such_type", "loc": ("body", "x"), "msg": "Bad thing", "ctx": {}}
        assert field_problem(error, "ru") == {
            "field": "x",
            "code": "no_such_type",
            "message": "Bad thing",
        }


class TestAForbiddenRole:
    def test_in_both_languages(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        for headers, language, title in (({}, "ru", "Доступ запрещён"), (EN, "en", "Forbidden")):
            response = client.get(
                "/api/v1/reports/confirmation-backlog", headers={**world["admin"], **headers}
            )
            body = _problem(response, 403, language)
            assert body["title"] == title
            assert "operator_staff" in body["detail"]
            assert "company_admin" in body["detail"]


class TestRefusalsBeforeTheApp:
    @pytest.mark.parametrize(("headers", "language"), [({}, "ru"), (EN, "en")])
    def test_a_body_over_the_limit(
        self, client: TestClient, headers: dict[str, str], language: Language
    ) -> None:
        response = client.post(
            "/api/v1/companies",
            content=b"{" + b" " * (16 * 1024 * 1024) + b"}",
            headers={**staff_headers(client), **headers, "Content-Type": "application/json"},
        )
        body = _problem(response, 413, language)
        words = {"ru": "Тело запроса больше", "en": "The request body is over"}
        assert body["detail"].startswith(words[language])
        assert str(body["limit_bytes"]) in body["detail"]

    @pytest.mark.parametrize(("headers", "language"), [({}, "ru"), (EN, "en")])
    def test_a_credential_too_long(
        self, client: TestClient, headers: dict[str, str], language: Language
    ) -> None:
        response = client.get(
            "/api/v1/operator/numbers", headers={"X-API-Key": "k" * 9000, **headers}
        )
        body = _problem(response, 431, language)
        titles = {"ru": "Слишком большие заголовки", "en": "Request headers too large"}
        assert body["title"] == titles[language]
        assert body["errors"][0]["message"] == body["detail"]


class Checked(BaseModel):
    born: dt.date

    @field_validator("born")
    @classmethod
    def _not_future(cls, value: dt.date) -> dt.date:
        if value > dt.date(2100, 1, 1):
            raise ValueError("doc_issued_on.future")
        return value


def test_a_validator_of_ours_is_worded_from_its_code() -> None:
    with pytest.raises(ValidationError) as raised:
        Checked(born=dt.date(2200, 1, 1))
    error = raised.value.errors()[0]
    assert (
        field_problem(error, "ru")["message"]
        == "дата выдачи паспорта ещё не наступила; проверьте её"
    )
    assert field_problem(error, "en")["message"] == "the issue date is in the future; check it"


def test_pydantic_context_fills_the_message() -> None:
    class Short(BaseModel):
        name: str

        model_config = {"str_max_length": 3}

    with pytest.raises(ValidationError) as raised:
        Short(name="Иванов")
    error = raised.value.errors()[0]
    assert (
        field_problem(error, "ru")["message"] == "слишком длинно: не больше 3 символов; сократите"
    )
    assert field_problem(error, "en")["message"] == "too long: at most 3 characters; shorten it"


class TestAnUnknownChoice:
    def _post(self, client: TestClient, headers: dict[str, str]) -> Any:
        world = make_company_with_numbers(client, count=1)
        return client.post(
            f"/api/v1/companies/{world['company']['id']}/uploads",
            files={"file": ("list.csv", b"x", "text/csv")},
            data={"mode": "dry_run"},
            headers={**world["admin"], **headers},
        )

    def test_lists_the_choices_in_russian(self, client: TestClient) -> None:
        error = _problem(self._post(client, {}), 422, "ru")["errors"][0]
        assert error["field"] == "mode"
        assert error["message"].endswith("'validate' или 'apply'")

    def test_lists_the_choices_in_english_when_asked(self, client: TestClient) -> None:
        error = _problem(self._post(client, EN), 422, "en")["errors"][0]
        assert error["message"].endswith("'validate' or 'apply'")
