"""The same file sent again is checked again against the registry as it is now; only the
Idempotency-Key replays an upload, and only for 24 hours. And the upload's words, in Russian
unless English is asked for."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.clock import FixedClock
from tests.builders import add_numbers, make_company_with_numbers, mobile, token_headers
from tests.uploads.builders import EMPLOYEE_HEADER, csv_bytes, employee_row, upload

EN = {"Accept-Language": "en"}


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    return make_company_with_numbers(client, count=2)


def _result(client: TestClient, world: dict[str, Any], response: Any, **headers: str) -> Any:
    cid = world["company"]["id"]
    got = client.get(
        f"/api/v1/companies/{cid}/uploads/{response.json()['id']}",
        headers={**world["admin"], **headers},
    )
    assert got.status_code == 200, got.text
    return got.json()


class TestTheSameFileAgain:
    def test_with_a_new_key_it_is_checked_against_todays_registry(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        cid = world["company"]["id"]
        missing = mobile(9_999_000 + cid)  # not the company's number yet
        rows = [employee_row(world["numbers"][0]["msisdn"], n=0), employee_row(missing, n=1)]
        content = csv_bytes(EMPLOYEE_HEADER, rows)
        first = _result(client, world, upload(client, cid, world["admin"], content, key="k-1"))
        assert first["counts"]["rejected"] == 1
        assert first["first_errors"][0]["code"] == "number.not_owned"

        add_numbers(client, contract_id=world["contract"]["id"], msisdns=[missing])
        response = upload(client, cid, world["admin"], content, key="k-2")
        assert response.status_code == 202
        second = _result(client, world, response)
        assert second["counts"] == {
            "accepted": 2, "rejected": 0, "created": 1, "unchanged": 1, "superseded": 0
        }  # fmt: skip
        assert second["seen_before"] == {
            "upload_id": first["id"],
            "mode": "apply",
            "created_at": first["created_at"],
        }

    def test_the_same_key_replays_for_24_hours_then_starts_anew(
        self, client: TestClient, world: dict[str, Any], clock: FixedClock
    ) -> None:
        cid = world["company"]["id"]
        content = csv_bytes(EMPLOYEE_HEADER, [employee_row(world["numbers"][0]["msisdn"])])
        first = upload(client, cid, world["admin"], content, key="k")
        clock.advance(dt.timedelta(hours=23, minutes=59))
        admin = token_headers(client, role="company_admin", company_id=cid)
        replay = upload(client, cid, admin, content, key="k")
        assert replay.status_code == 200
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json()["id"] == first.json()["id"]
        clock.advance(dt.timedelta(minutes=2))
        admin = token_headers(client, role="company_admin", company_id=cid)
        fresh = upload(client, cid, admin, content, key="k")
        assert fresh.status_code == 202
        assert fresh.json()["id"] != first.json()["id"]
        assert fresh.json()["seen_before"]["upload_id"] == first.json()["id"]
        # The key now replays the new upload.
        again = upload(client, cid, admin, content, key="k")
        assert again.status_code == 200
        assert again.json()["id"] == fresh.json()["id"]


class TestInRussianUnlessAskedOtherwise:
    def test_a_key_used_for_another_file(self, client: TestClient, world: dict[str, Any]) -> None:
        cid = world["company"]["id"]
        phones = [n["msisdn"] for n in world["numbers"]]
        upload(client, cid, world["admin"], csv_bytes(EMPLOYEE_HEADER, [employee_row(phones[0])]))
        other = csv_bytes(EMPLOYEE_HEADER, [employee_row(phones[1])])
        upload(client, cid, world["admin"], other, key="k")
        same_key = csv_bytes(EMPLOYEE_HEADER, [employee_row(phones[0], n=3)])
        russian = upload(client, cid, world["admin"], same_key, key="k")
        assert russian.status_code == 409
        assert russian.headers["Content-Language"] == "ru"
        assert russian.json()["detail"].startswith("Этот Idempotency-Key уже использован")
        english = upload(client, cid, {**world["admin"], **EN}, same_key, key="k")
        assert english.status_code == 409
        assert english.json()["detail"].startswith("This Idempotency-Key was used")

    def test_an_empty_file(self, client: TestClient, world: dict[str, Any]) -> None:
        cid = world["company"]["id"]
        russian = upload(client, cid, world["admin"], b"")
        assert russian.status_code == 422
        assert russian.json()["detail"].startswith("Файл пустой")
        assert russian.json()["errors"][0]["message"] == "в файле нет ни одного байта"
        english = upload(client, cid, {**world["admin"], **EN}, b"")
        assert english.json()["detail"].startswith("The file is empty")

    def test_a_file_refused_whole(self, client: TestClient, world: dict[str, Any]) -> None:
        cid = world["company"]["id"]
        response = upload(client, cid, world["admin"], csv_bytes(EMPLOYEE_HEADER, []))
        russian = _result(client, world, response)
        assert russian["status"] == "failed"
        assert russian["failure_code"] == "file.no_rows"
        assert russian["failure_message"].startswith("В файле «list.csv» есть строка заголовков")
        assert russian["status_text"] == "Не обработан: причина указана ниже"
        english = _result(client, world, response, **EN)
        assert english["failure_message"].startswith('"list.csv": the file has a header row')
        assert english["status_text"] == "Failed: see the reason"

    def test_a_header_that_lacks_columns(self, client: TestClient, world: dict[str, Any]) -> None:
        cid = world["company"]["id"]
        header = ["Номер телефона", "Серия и номер паспорта"]
        content = csv_bytes(header, [["+79120000000", "45 12 345678"]])
        response = upload(client, cid, world["admin"], content)
        result = _result(client, world, response)
        assert result["failure_code"] == "header.no_known_columns"
        assert result["failure_message"].startswith("В заголовке нет ни столбцов сотрудника")
        header[1:1] = ["Имя", "Дата рождения"]
        response = upload(client, cid, world["admin"], csv_bytes(header, [["1", "Иван", "2", "3"]]))
        result = _result(client, world, response)
        assert result["failure_message"].startswith("В заголовке нет столбца «Фамилия».")
        assert "один столбец «ФИО»" in result["failure_message"]
        english = _result(client, world, response, **EN)
        assert english["failure_message"].startswith("The header has no column 'Фамилия';")

    def test_row_words_name_the_column_as_the_file_wrote_it(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        cid = world["company"]["id"]
        phone = world["numbers"][0]["msisdn"]
        header = ["Телефон", *EMPLOYEE_HEADER[1:]]  # the admin's own word for the number
        rows = [employee_row(phone, n=0), employee_row(phone, n=1)]
        response = upload(client, cid, world["admin"], csv_bytes(header, rows), mode="validate")
        russian = _result(client, world, response)["first_errors"][0]
        assert russian["column"] == "msisdn"
        assert russian["header"] == "Телефон"
        assert russian["message"].startswith(
            "Номер из столбца «Телефон» есть в файле ещё в строке 3"
        )
        english = _result(client, world, response, **EN)["first_errors"][0]
        assert english["message"].startswith('The number in "Телефон" appears again in row 3')
