"""Logs are JSON lines with a request id, and never carry personal data."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.builders import (
    employee,
    logged_data,
    make_company_with_numbers,
    make_person,
    token_headers,
    valid_snils,
)


class TestRequestLog:
    def test_every_request_logs_a_json_line_with_its_id(
        self, client: TestClient, capfd: pytest.CaptureFixture[str]
    ) -> None:
        response = client.get("/healthz", headers={"X-Request-ID": "req-12345678"})
        assert response.headers["X-Request-ID"] == "req-12345678"
        lines = [
            json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
        ]
        ours = [line for line in lines if line.get("path") == "/healthz"]
        assert ours
        assert ours[0]["request_id"] == "req-12345678"
        assert ours[0]["status"] == 200

    def test_a_request_without_an_id_gets_one(self, client: TestClient) -> None:
        assert len(client.get("/healthz").headers["X-Request-ID"]) == 32


class TestNoPersonalDataInLogs:
    def test_a_whole_flow_leaves_no_passport_birth_date_or_snils_in_logs(
        self, client: TestClient, capfd: pytest.CaptureFixture[str]
    ) -> None:
        world = make_company_with_numbers(client, count=1)
        path = f"/api/v1/companies/{world['company']['id']}/numbers/{world['numbers'][0]['id']}"
        client.put(path + "/registration", json=employee(), headers=world["admin"])
        client.put(
            path + "/registration", json=employee(doc_number="45 12 34567"), headers=world["admin"]
        )
        person = make_person(client)
        me = token_headers(client, role="person", subject=person["portal_subject"])
        assert (
            client.get("/api/v1/me/numbers", headers=me).json()[0]["registration"]["doc_number"]
            == "4512 345678"
        )
        client.get(path, headers=world["admin"])
        captured = capfd.readouterr()
        logs = logged_data(captured.err + captured.out)
        assert "request" in logs
        snils = valid_snils(1)
        for secret in ("345678", "34567", "1985-04-12", "12.04.1985", snils, snils[:9]):
            assert secret not in logs
