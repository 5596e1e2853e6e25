"""The at-risk, overdue and suspended numbers of a company as CSV and XLSX for Russian Excel."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from python_calamine import CalamineWorkbook

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.reports.service import at_risk_numbers
from app.reports.spreadsheets import at_risk_headers
from tests.builders import device, employee, make_company_with_numbers, unmarked, valid_snils
from tests.reports.builders import put_numbers_in_state

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def _cell(msisdn: str) -> str:
    """A phone number as a report cell: E.164 starts with "+", which Excel would calculate."""
    assert msisdn.startswith("+")
    return "'" + msisdn


def _register(client: TestClient, company: dict[str, Any], number_id: int, body: dict[str, Any]):
    response = client.put(
        f"/api/v1/companies/{company['company']['id']}/numbers/{number_id}/registration",
        json=body,
        headers=company["admin"],
    )
    assert response.status_code == 200, response.text


def _csv(
    client: TestClient, company: dict[str, Any], headers: dict[str, str] | None = None
) -> list[list[str]]:
    response = client.get(
        f"/api/v1/companies/{company['company']['id']}/report/at-risk.csv",
        headers={**company["admin"], **(headers or {})},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def _xlsx(client: TestClient, company: dict[str, Any]) -> list[list[Any]]:
    response = client.get(
        f"/api/v1/companies/{company['company']['id']}/report/at-risk.xlsx",
        headers=company["admin"],
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(response.content)).get_sheet_by_index(0)
    table: list[list[Any]] = sheet.to_python()
    return table


@pytest.fixture
def registry(client: TestClient, runtime: Runtime, clock: FixedClock) -> dict[str, Any]:
    """A company with an employee and a device at risk, an overdue number and a safe one.

    Deadlines are on purpose not in id order: 0 → in 2 days 1 hour, 1 → overdue by a day and a
    half, 2 → active (not at risk), 3 → exactly now.
    """
    company = make_company_with_numbers(client, count=4)
    ids = [n["id"] for n in company["numbers"]]
    _register(client, company, ids[0], employee())
    model = '=HYPERLINK("http://x")'
    _register(client, company, ids[1], device(model=model, identifier="SN-100001"))
    now = clock.now()
    put_numbers_in_state(
        runtime,
        [ids[0]],
        status="pending_confirmation",
        deadline_at=now + 2 * DAY + HOUR,
        flag_days=3,
    )
    put_numbers_in_state(
        runtime, [ids[1]], status="unregistered", deadline_at=now - DAY - 12 * HOUR, flag_days=1
    )
    put_numbers_in_state(runtime, [ids[2]], status="active", deadline_at=now + DAY)
    put_numbers_in_state(runtime, [ids[3]], status="expired", deadline_at=now)
    return company


class TestCsv:
    def test_header_and_rows_by_deadline(
        self, client: TestClient, registry: dict[str, Any]
    ) -> None:
        numbers = registry["numbers"]

        table = _csv(client, registry)

        assert table[0] == at_risk_headers("ru")
        assert [row[0] for row in table[1:]] == [
            _cell(numbers[1]["msisdn"]),
            _cell(numbers[3]["msisdn"]),
            _cell(numbers[0]["msisdn"]),
        ]

    def test_each_cell_of_a_row(self, client: TestClient, registry: dict[str, Any]) -> None:
        numbers = registry["numbers"]

        rows = {row[0]: row for row in _csv(client, registry)[1:]}

        # 2026-11-23 07:00 UTC is 10:00 in Moscow; the deadline is 2 days and 1 hour later.
        assert rows[_cell(numbers[0]["msisdn"])] == [
            _cell(numbers[0]["msisdn"]),
            "pending_confirmation",
            "Ждёт подтверждения пользователем на Госуслугах",
            "Сотрудник",
            "Иванов Иван Иванович",
            "",
            "",
            "25.11.2026 11:00",
            "3",
            "3",
            "Под угрозой",
        ]
        assert rows[_cell(numbers[3]["msisdn"])][1:] == [
            "expired",
            "Пользователь не ответил на запрос вовремя",
            "",
            "",
            "",
            "",
            "23.11.2026 10:00",
            "0",
            "",
            "Срок прошёл",
        ]

    def test_suspended_numbers_are_in_it_and_say_so(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=3)
        ids = [n["id"] for n in company["numbers"]]
        now = clock.now()
        put_numbers_in_state(runtime, [ids[0]], status="suspended", deadline_at=now - 3 * DAY)
        # Suspended by hand, with no deadline: it still needs the admin, after the dated ones.
        put_numbers_in_state(runtime, [ids[1]], status="suspended", deadline_at=None)
        put_numbers_in_state(runtime, [ids[2]], status="unregistered", deadline_at=now + DAY)

        table = _csv(client, company)

        assert [(row[0], row[1], row[10]) for row in table[1:]] == [
            (_cell(company["numbers"][0]["msisdn"]), "suspended", "Приостановлен"),
            (_cell(company["numbers"][2]["msisdn"]), "unregistered", "Под угрозой"),
            (_cell(company["numbers"][1]["msisdn"]), "suspended", "Приостановлен"),
        ]
        assert table[3][7:10] == ["", "", ""]

    def test_titled_in_english_when_asked(
        self, client: TestClient, registry: dict[str, Any]
    ) -> None:
        table = _csv(client, registry, {"Accept-Language": "en"})

        assert table[0][:3] == ["Phone number", "Status", "Status in words"]
        assert table[0][-1] == "Standing"
        assert {row[-1] for row in table[1:]} == {"At risk", "Overdue"}

    def test_overdue_days_are_zero_or_negative(
        self, client: TestClient, registry: dict[str, Any]
    ) -> None:
        rows = {row[0]: row for row in _csv(client, registry)[1:]}

        # Overdue by a day and a half: the ceiling of -1.5 days.
        assert rows[_cell(registry["numbers"][1]["msisdn"])][8] == "-1"
        assert rows[_cell(registry["numbers"][3]["msisdn"])][8] == "0"

    def test_a_formula_in_a_device_model_is_neutralised(
        self, client: TestClient, registry: dict[str, Any]
    ) -> None:
        rows = {row[0]: row for row in _csv(client, registry)[1:]}

        assert rows[_cell(registry["numbers"][1]["msisdn"])][3:7] == [
            "Устройство",
            "",
            "Платёжный терминал",
            '\'=HYPERLINK("http://x")',
        ]

    def test_no_documents_birth_dates_or_snils(
        self, client: TestClient, registry: dict[str, Any]
    ) -> None:
        text = "\n".join(";".join(row) for row in _csv(client, registry))

        for secret in ("345678", "4512", "1985", "12.04", valid_snils(1), "770-001", "Тверск"):
            assert secret not in text

    def test_named_for_the_company_and_day(
        self, client: TestClient, registry: dict[str, Any]
    ) -> None:
        response = client.get(
            f"/api/v1/companies/{registry['company']['id']}/report/at-risk.csv",
            headers=registry["admin"],
        )

        name = f"simreg-at-risk-{registry['company']['inn']}-2026-11-23.csv"
        assert response.headers["content-disposition"] == (
            f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
        )

    def test_a_company_with_nothing_at_risk_gets_the_header_only(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        company = make_company_with_numbers(client, count=2)
        # Every number carries a deadline from the start; confirmed ones are not at risk.
        ids = [n["id"] for n in company["numbers"]]
        put_numbers_in_state(runtime, ids, status="active", deadline_at=None)

        assert _csv(client, company) == [at_risk_headers("ru")]


class TestXlsx:
    def test_same_rows_as_csv_with_numbers_as_numbers(
        self, client: TestClient, registry: dict[str, Any]
    ) -> None:
        table = _xlsx(client, registry)

        assert table[0] == at_risk_headers("ru")
        csv_rows = [unmarked(row) for row in _csv(client, registry)[1:]]
        assert [row[:8] for row in table[1:]] == [row[:8] for row in csv_rows]
        assert [row[8] for row in table[1:]] == [-1, 0, 3]
        assert [row[9] for row in table[1:]] == [1, "", 3]

    def test_a_formula_in_a_device_model_stays_text(
        self, client: TestClient, registry: dict[str, Any]
    ) -> None:
        response = client.get(
            f"/api/v1/companies/{registry['company']['id']}/report/at-risk.xlsx",
            headers=registry["admin"],
        )

        # A string cell, which Excel shows and never runs: no formula, and no marker either.
        assert _xlsx(client, registry)[1][6] == '=HYPERLINK("http://x")'
        with zipfile.ZipFile(io.BytesIO(response.content)) as book:
            sheet = book.read("xl/worksheets/sheet1.xml")
        assert b"<f>" not in sheet
        assert b't="inlineStr"><is><t>=HYPERLINK(' in sheet

    def test_named_for_the_company_and_day(
        self, client: TestClient, registry: dict[str, Any]
    ) -> None:
        response = client.get(
            f"/api/v1/companies/{registry['company']['id']}/report/at-risk.xlsx",
            headers=registry["admin"],
        )

        name = f"simreg-at-risk-{registry['company']['inn']}-2026-11-23.xlsx"
        assert response.headers["content-disposition"] == (
            f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
        )

    def test_the_temporary_file_is_gone_once_sent(
        self,
        client: TestClient,
        registry: dict[str, Any],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        spool = tmp_path / "spool"
        spool.mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(spool))

        table = _xlsx(client, registry)

        assert len(table) == 4
        assert list(spool.iterdir()) == []


class TestReadingInChunks:
    def test_keyset_pages_keep_deadline_then_id_order_without_gaps_or_repeats(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=7)
        ids = [n["id"] for n in company["numbers"]]
        now = clock.now()
        # Equal deadlines straddle the chunk edges, so the id tie-break is what orders them.
        deadlines = [3, 1, 1, 1, 2, 2, 0]
        for number_id, days in zip(ids, deadlines, strict=True):
            put_numbers_in_state(
                runtime, [number_id], status="unregistered", deadline_at=now + days * DAY
            )

        read = [
            n.id
            for n in at_risk_numbers(runtime.sessions, company_id=company["company"]["id"], chunk=2)
        ]

        expected = sorted(ids, key=lambda i: (deadlines[ids.index(i)], i))
        assert read == expected

    def test_csv_is_sent_in_several_chunks_for_a_long_list(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        company = make_company_with_numbers(client, count=3000)
        ids = [n["id"] for n in company["numbers"]]
        put_numbers_in_state(runtime, ids, status="unregistered", deadline_at=clock.now() + DAY)

        with client.stream(
            "GET",
            f"/api/v1/companies/{company['company']['id']}/report/at-risk.csv",
            headers=company["admin"],
        ) as response:
            chunks = list(response.iter_raw())

        assert len(chunks) > 1
        lines = b"".join(chunks).decode("utf-8-sig").splitlines()
        assert len(lines) == 1 + 3000
