"""An identifier's problem in a problem+json answer: Russian without any header, English with
`Accept-Language: en`, the same stable code in both."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.builders import staff_headers, valid_inn10, valid_ogrn


def _refused_company(client: TestClient, language: str | None, **fields: str) -> dict[str, Any]:
    body = {
        "name": 'ООО "Опечатка"',
        "inn": valid_inn10(9020),
        "ogrn": valid_ogrn(9020),
        "kpp": "773601001",
        **fields,
    }
    headers = staff_headers(client)
    if language:
        headers["Accept-Language"] = language
    response = client.post("/api/v1/companies", json=body, headers=headers)
    assert response.status_code == 422, response.text
    problem: dict[str, Any] = response.json()
    return problem


def _error_of(problem: dict[str, Any], field: str) -> dict[str, str]:
    (error,) = [e for e in problem["errors"] if e["field"] == field]
    return error


class TestIdentifierWordsInAnswers:
    def test_russian_without_a_header_and_english_on_request(self, client: TestClient) -> None:
        inn = valid_inn10(9020)
        wrong = inn[:-1] + str((int(inn[-1]) + 1) % 10)

        russian = _error_of(_refused_company(client, None, inn=wrong), "inn")
        english = _error_of(_refused_company(client, "en", inn=wrong), "inn")

        assert russian["code"] == english["code"] == "inn.checksum"
        assert f"В ИНН {wrong} не сходится контрольная цифра" in russian["message"]
        assert f"INN {wrong} has a wrong check digit" in english["message"]

    @pytest.mark.parametrize("ogrn", ["3027700132195", "2027700132195"])
    def test_an_ogrn_of_no_legal_entity_says_what_it_starts_with(
        self, client: TestClient, ogrn: str
    ) -> None:
        error = _error_of(_refused_company(client, None, ogrn=ogrn), "ogrn")
        assert error["code"] == "ogrn.prefix"
        assert "начинается с 1 или 5" in error["message"]

    def test_an_inn_written_with_its_label_is_accepted(self, client: TestClient) -> None:
        body = {
            "name": 'ООО "Ярлык"',
            "inn": f"ИНН {valid_inn10(9021)}",
            "ogrn": valid_ogrn(9021),
            "kpp": "773601001",
        }
        response = client.post("/api/v1/companies", json=body, headers=staff_headers(client))
        assert response.status_code == 201, response.text
        assert response.json()["inn"] == valid_inn10(9021)
