"""A company's whole list of numbers as CSV and XLSX, with the listing's filters and access."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tracemalloc
from typing import Any

import pytest
from fastapi.testclient import TestClient
from python_calamine import CalamineWorkbook

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.numbers.exports import company_numbers, numbers_csv
from app.numbers.service import NumberFilter
from tests.builders import (
    device,
    employee,
    make_company_with_numbers,
    staff_headers,
    unmarked,
    valid_snils,
)
from tests.reports.builders import put_numbers_in_state

DAY = dt.timedelta(days=1)


def _cell(msisdn: str) -> str:
    return "'" + msisdn  # E.164 starts with "+", which Excel would calculate


def _get(client: TestClient, world: dict[str, Any], ext: str, query: str = "", **headers: str):
    return client.get(
        f"/api/v1/companies/{world['company']['id']}/numbers.{ext}?{query}",
        headers={**world["admin"], **headers},
    )


def _csv(client: TestClient, world: dict[str, Any], query: str = "", **headers: str):
    response = _get(client, world, "csv", query, **headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))


@pytest.fixture
def world(client: TestClient, runtime: Runtime, clock: FixedClock) -> dict[str, Any]:
    """Five numbers: an employee pending, a device with a formula for a model, one suspended,
    two unregistered (one due in 3 days, one overdue)."""
    world = make_company_with_numbers(client, count=5)
    ids = [n["id"] for n in world["numbers"]]
    base = f"/api/v1/companies/{world['company']['id']}/numbers"
    for number_id, body in ((ids[0], employee()), (ids[1], device(model="=1+2"))):
        response = client.put(f"{base}/{number_id}/registration", json=body, headers=world["admin"])
        assert response.status_code == 200, response.text
    now = clock.now()
    put_numbers_in_state(runtime, [ids[2]], status="suspended", deadline_at=now - 2 * DAY)
    put_numbers_in_state(runtime, [ids[3]], status="unregistered", deadline_at=now + 3 * DAY)
    put_numbers_in_state(runtime, [ids[4]], status="unregistered", deadline_at=now - DAY)
    return world


class TestCsv:
    def test_every_number_in_id_order_with_russian_titles(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        table = _csv(client, world)

        assert table[0][:4] == ["Номер телефона", "ICCID", "Статус", "Статус словами"]
        assert [row[0] for row in table[1:]] == [_cell(n["msisdn"]) for n in world["numbers"]]
        suspended = table[3]
        assert suspended[2:5] == ["suspended", "Обслуживание приостановлено", ""]
        assert [row[9] for row in table[4:]] == ["3", "-1"]

    def test_the_user_as_the_listing_shows_it_and_no_personal_data(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        table = _csv(client, world)

        assert table[1][4:6] == ["Сотрудник", "Иванов Иван Иванович"]
        assert table[2][4:8] == ["Устройство", "", "Платёжный терминал", "'=1+2"]
        text = "\n".join(";".join(row) for row in table)
        for secret in ("345678", "4512", "1985", "12.04", valid_snils(1), "770-001", "Тверск"):
            assert secret not in text

    def test_the_listing_filters(self, client: TestClient, world: dict[str, Any]) -> None:
        msisdns = [_cell(n["msisdn"]) for n in world["numbers"]]
        rows = _csv(client, world, "status=suspended&status=pending_confirmation")[1:]
        assert [row[0] for row in rows] == [msisdns[0], msisdns[2]]
        rows = _csv(client, world, "kind=device")[1:]
        assert [row[0] for row in rows] == [msisdns[1]]
        due = {row[0] for row in _csv(client, world, "deadline_before=2026-11-24T00:00:00Z")[1:]}
        assert {msisdns[2], msisdns[4]} <= due
        assert msisdns[3] not in due

    def test_titles_and_words_in_english_when_asked(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        table = _csv(client, world, **{"Accept-Language": "en"})

        assert table[0][:4] == ["Phone number", "ICCID", "Status", "Status in words"]
        assert table[3][3] == "Service suspended"

    def test_named_for_the_company_and_day(self, client: TestClient, world: dict[str, Any]) -> None:
        response = _get(client, world, "csv")
        name = f"simreg-numbers-{world['company']['inn']}-2026-11-23.csv"
        assert name in response.headers["content-disposition"]


class TestXlsx:
    def test_same_lines_as_csv_with_days_as_numbers(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        response = _get(client, world, "xlsx")
        assert response.status_code == 200, response.text
        book = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
        table = book.get_sheet_by_index(0).to_python()

        assert book.sheet_names == ["Номера"]
        csv_rows = [unmarked(row) for row in _csv(client, world)]
        assert [row[:9] for row in table] == [row[:9] for row in csv_rows]
        assert table[1][0].startswith("+7")  # a string cell needs no text marker
        assert [row[9] for row in table[4:]] == [3, -1]


class TestAccess:
    def test_another_company_admin_gets_404(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        other = make_company_with_numbers(client, count=1)
        response = _get(client, world, "csv", **other["admin"])
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")

    def test_operator_staff_may_export(self, client: TestClient, world: dict[str, Any]) -> None:
        staff = _get(client, world, "xlsx", **staff_headers(client))
        assert staff.status_code == 200, staff.text


class TestStreaming:
    def test_csv_goes_out_in_chunks_read_a_chunk_at_a_time(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        world = make_company_with_numbers(client, count=2500)
        lines = company_numbers(
            runtime.sessions, company_id=world["company"]["id"], flt=NumberFilter(), chunk=1000
        )

        tracemalloc.start()
        try:
            chunks = list(numbers_csv(lines, now=clock.now(), language="ru"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        assert len(chunks) > 1
        assert b"".join(chunks).decode("utf-8-sig").count("\r\n") == 1 + 2500
        # A chunk of 1000 rows and one 64 KiB CSV buffer, never the 2500 lines at once.
        assert peak < 4 * 1024 * 1024
