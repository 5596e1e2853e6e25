"""Company admins upload lists: formats, every bad row explained, apply semantics, idempotency."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from python_calamine import CalamineWorkbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.runtime import Runtime
from app.numbers.models import PhoneNumber, Registration, StatusEvent
from tests.builders import (
    disposition_name,
    make_company_with_numbers,
    make_person,
    parse_disposition,
    staff_headers,
    token_headers,
)
from tests.uploads.builders import (
    DEVICE_HEADER,
    EMPLOYEE_HEADER,
    csv_bytes,
    device_row,
    employee_row,
    upload,
    upload_raw_name,
    upload_result,
)


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    return make_company_with_numbers(client, count=6)


def _msisdns(world: dict[str, Any]) -> list[str]:
    return [n["msisdn"] for n in world["numbers"]]


def _send(client: TestClient, world: dict[str, Any], content: bytes, **kw: Any) -> dict[str, Any]:
    response = upload(client, world["company"]["id"], world["admin"], content, **kw)
    assert response.status_code in (200, 202), response.text
    return upload_result(client, world["company"]["id"], world["admin"], response.json()["id"])


def _count(session: Session, model: Any, *where: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _codes(result: dict[str, Any]) -> set[tuple[int, str, str]]:
    return {(e["row"], e["column"], e["code"]) for e in result["first_errors"]}


class TestFormats:
    @pytest.mark.parametrize(
        ("encoding", "delimiter"),
        [("cp1251", ";"), ("utf-8", ","), ("utf-8-sig", ";"), ("utf-8", "\t")],
    )
    def test_csv_as_excel_writes_it(
        self, client: TestClient, world: dict[str, Any], encoding: str, delimiter: str
    ) -> None:
        phones = _msisdns(world)
        content = csv_bytes(
            EMPLOYEE_HEADER,
            [employee_row(phones[0], n=0), employee_row(phones[1], n=1)],
            encoding=encoding,
            delimiter=delimiter,
        )
        result = _send(client, world, content)
        assert result["status"] == "done", result
        assert result["counts"]["accepted"] == 2
        assert result["counts"]["created"] == 2
        assert result["delimiter"] == delimiter

    def test_xlsx_with_formulas_and_merged_cells(
        self, client: TestClient, world: dict[str, Any], tmp_path: Any
    ) -> None:
        import xlsxwriter

        path = tmp_path / "list.xlsx"
        book = xlsxwriter.Workbook(str(path))
        sheet = book.add_worksheet("Список")
        sheet.write_row(0, 0, DEVICE_HEADER)
        phones = _msisdns(world)
        sheet.write_row(1, 0, device_row(phones[0]))
        sheet.write_row(2, 0, device_row(phones[1], imei="356938035643809")[:4])
        # The address of row 3 is merged with row 2's, as admins do for one shop.
        sheet.merge_range(1, 4, 2, 4, "Москва, ул. Тверская, 1")
        sheet.write_formula(3, 0, '="+7"&"9' + phones[2][3:] + '"', None, phones[2])
        sheet.write_row(3, 1, device_row(phones[2], imei="353918058406105")[1:])
        book.close()
        result = _send(client, world, path.read_bytes(), filename="list.xlsx")
        assert result["status"] == "done", result
        assert result["file_format"] == "xlsx"
        assert result["counts"]["accepted"] == 3, result["first_errors"]

    def test_devices_stay_for_the_matching_step(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        content = csv_bytes(DEVICE_HEADER, [device_row(_msisdns(world)[0])])
        assert _send(client, world, content)["counts"]["created"] == 1
        number = session.get_one(PhoneNumber, world["numbers"][0]["id"])
        assert (number.status, number.sim_kind) == ("unregistered", "device")


class TestApply:
    def test_employees_wait_for_confirmation_with_events(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        phones = _msisdns(world)
        content = csv_bytes(
            EMPLOYEE_HEADER, [employee_row(p, n=i) for i, p in enumerate(phones[:3])]
        )
        result = _send(client, world, content)
        assert result["counts"] == {
            "accepted": 3,
            "rejected": 0,
            "created": 3,
            "unchanged": 0,
            "superseded": 0,
        }
        ids = [n["id"] for n in world["numbers"][:3]]
        statuses = set(session.scalars(select(PhoneNumber.status).where(PhoneNumber.id.in_(ids))))
        assert statuses == {"pending_confirmation"}
        assert _count(session, StatusEvent, StatusEvent.to_status == "pending_confirmation") == 3

    def test_personal_data_is_stored_sealed_and_opens_to_the_row(
        self, client: TestClient, world: dict[str, Any], session: Session, runtime: Runtime
    ) -> None:
        phone = _msisdns(world)[0]
        row = [*employee_row(phone, n=0), "112-233-445 95"]
        _send(client, world, csv_bytes([*EMPLOYEE_HEADER, "СНИЛС"], [row]))
        registration = session.scalars(select(Registration)).one()
        assert registration.pd_sealed is not None
        assert b"300000" not in registration.pd_sealed
        assert runtime.vault.open(registration.pd_sealed) == {
            "doc_series": "4510",
            "doc_number": "300000",
            "birth_date": "1970-01-01",
            "issued_on": "2015-05-20",
            "issuer": "ОВД района Тверской",
            "issuer_code": "770-001",
            "snils": "11223344595",
        }
        assert registration.pd_key_id == runtime.vault.active_key_id
        assert registration.snils_hash == runtime.vault.lookup_hash("snils", "11223344595")
        assert registration.birth_date_hash == runtime.vault.lookup_hash("birth", "1970-01-01")

    def test_same_rows_again_change_nothing_and_a_new_user_supersedes(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        phones = _msisdns(world)
        _send(client, world, csv_bytes(EMPLOYEE_HEADER, [employee_row(phones[0], n=0)]))
        events = _count(session, StatusEvent)
        # The same person written differently (case, spaces in the passport) is the same user.
        same = employee_row(phones[0], n=0, last="ИВАНОВ", passport="4510300000")
        other = employee_row(phones[1], n=1)
        second = _send(client, world, csv_bytes(EMPLOYEE_HEADER, [same, other], encoding="utf-8"))
        assert second["counts"]["unchanged"] == 1
        assert second["counts"]["created"] == 1
        third = _send(
            client, world, csv_bytes(EMPLOYEE_HEADER, [employee_row(phones[0], n=2)], delimiter=",")
        )
        assert third["counts"]["superseded"] == 1
        registrations = session.scalars(
            select(Registration).where(Registration.number_id == world["numbers"][0]["id"])
        ).all()
        assert sorted((r.last_name, r.ended_at is None) for r in registrations) == [
            ("Иванов", False),
            ("Сидоров", True),
        ]
        assert _count(session, StatusEvent) == events + 1  # only the second file's new number

    def test_the_person_sees_the_uploaded_number(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        phone = _msisdns(world)[0]
        _send(client, world, csv_bytes(EMPLOYEE_HEADER, [employee_row(phone, n=0)]))
        person = make_person(
            client,
            last_name="Иванов",
            first_name="Иван",
            patronymic="Иванович",
            birth_date="1970-01-01",
            passport="4510 300000",
            snils=None,
        )
        me = token_headers(client, role="person", subject=person["portal_subject"])
        assert [n["msisdn"] for n in client.get("/api/v1/me/numbers", headers=me).json()] == [phone]

    def test_validate_mode_changes_nothing(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        content = csv_bytes(EMPLOYEE_HEADER, [employee_row(_msisdns(world)[0])])
        result = _send(client, world, content, mode="validate")
        assert (result["status"], result["counts"]["accepted"]) == ("done", 1)
        assert _count(session, Registration) == 0
        assert _count(session, StatusEvent, StatusEvent.to_status == "pending_confirmation") == 0


class TestIdempotency:
    def test_same_key_returns_the_first_upload(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        content = csv_bytes(EMPLOYEE_HEADER, [employee_row(_msisdns(world)[0])])
        cid = world["company"]["id"]
        first = upload(client, cid, world["admin"], content, key="k-1")
        second = upload(client, cid, world["admin"], content, key="k-1")
        assert first.status_code == 202
        assert second.status_code == 200
        assert second.headers["Idempotent-Replayed"] == "true"
        assert second.json()["id"] == first.json()["id"]
        assert _count(session, Registration) == 1

    def test_same_file_again_without_a_key_is_checked_again(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        content = csv_bytes(EMPLOYEE_HEADER, [employee_row(_msisdns(world)[0])])
        cid = world["company"]["id"]
        first = upload(client, cid, world["admin"], content)
        second = upload(client, cid, world["admin"], content)
        assert second.status_code == 202
        assert "Idempotent-Replayed" not in second.headers
        again = upload_result(client, cid, world["admin"], second.json()["id"])
        assert again["id"] != first.json()["id"]
        assert again["seen_before"]["upload_id"] == first.json()["id"]
        assert again["seen_before"]["created_at"] == first.json()["created_at"]
        assert again["counts"] == {
            "accepted": 1, "rejected": 0, "created": 0, "unchanged": 1, "superseded": 0
        }  # fmt: skip
        assert first.json()["seen_before"] is None
        # Applied twice, the same user is one registration and one request to confirm.
        assert _count(session, Registration) == 1
        assert _count(session, StatusEvent, StatusEvent.to_status == "pending_confirmation") == 1

    def test_key_reused_for_another_file(self, client: TestClient, world: dict[str, Any]) -> None:
        cid = world["company"]["id"]
        phones = _msisdns(world)
        upload(
            client,
            cid,
            world["admin"],
            csv_bytes(EMPLOYEE_HEADER, [employee_row(phones[0])]),
            key="k",
        )
        response = upload(
            client,
            cid,
            world["admin"],
            csv_bytes(EMPLOYEE_HEADER, [employee_row(phones[1])]),
            key="k",
        )
        assert response.status_code == 409
        assert response.headers["content-type"].startswith("application/problem+json")


class TestRowProblems:
    def test_every_problem_of_every_row(self, client: TestClient, world: dict[str, Any]) -> None:
        phones = _msisdns(world)
        rows = [
            employee_row(phones[0], n=0, birth="31.02.1990"),
            employee_row(phones[1], n=1, passport="45 12 34567"),
            employee_row(phones[2], n=2, last="Sidorov", first="Petr"),
            employee_row("+7 495 123-45-67", n=3),
            employee_row("+7 999 000-00-00", n=3),
            employee_row(phones[3], n=4, birth="01.01.2030", code="77-001"),
        ]
        result = _send(client, world, csv_bytes(EMPLOYEE_HEADER, rows))
        assert result["status"] == "done"
        assert result["counts"]["accepted"] == 0
        assert result["counts"]["rejected"] == 6
        assert _codes(result) >= {
            (2, "birth_date", "date.invalid"),
            (3, "passport", "passport.length"),
            (4, "last_name", "name.not_cyrillic"),
            (4, "first_name", "name.not_cyrillic"),
            (5, "msisdn", "phone.not_russian_mobile"),
            (6, "msisdn", "number.not_owned"),
            (7, "birth_date", "birth_date.future"),
        }
        assert any(
            e["row"] == 7 and e["column"] == "doc_issuer_code" for e in result["first_errors"]
        )

    def test_same_number_twice_rejects_both_rows(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        phones = _msisdns(world)
        rows = [
            employee_row(phones[0], n=0),
            employee_row(phones[1], n=1),
            employee_row(phones[0], n=2),
        ]
        result = _send(client, world, csv_bytes(EMPLOYEE_HEADER, rows))
        assert result["counts"]["accepted"] == 1
        assert {(e["row"], e["code"]) for e in result["first_errors"]} == {
            (2, "msisdn.repeated_in_file"),
            (4, "msisdn.repeated_in_file"),
        }
        assert _count(session, Registration) == 1

    def test_too_many_and_too_few_fields(self, client: TestClient, world: dict[str, Any]) -> None:
        phones = _msisdns(world)
        good = employee_row(phones[0], n=0)
        body = csv_bytes(
            EMPLOYEE_HEADER, [good, [*employee_row(phones[1], n=1), "лишнее"], good[:4]]
        )
        result = _send(client, world, body)
        codes = {(e["row"], e["code"]) for e in result["first_errors"]}
        assert (3, "row.too_many_fields") in codes
        assert (4, "row.too_few_fields") in codes

    def test_a_value_longer_than_the_registry_keeps(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        row = employee_row(_msisdns(world)[0], n=0, issuer="Отдел " * 200)
        result = _send(client, world, csv_bytes(EMPLOYEE_HEADER, [row]))
        assert result["status"] == "done"
        assert {(e["column"], e["code"]) for e in result["first_errors"]} == {
            ("doc_issuer", "value.too_long")
        }

    def test_over_the_per_person_cap(
        self, client: TestClient, world: dict[str, Any], settings: Any
    ) -> None:
        settings.max_numbers_per_person = 2
        phones = _msisdns(world)
        rows = [employee_row(p, n=0) for p in phones[:3]]
        result = _send(client, world, csv_bytes(EMPLOYEE_HEADER, rows))
        assert result["counts"]["accepted"] == 0
        assert {e["code"] for e in result["first_errors"]} == {"person.over_cap"}


class TestWholeFileProblems:
    @pytest.mark.parametrize(
        ("content", "code"),
        [
            (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "file.not_a_table"),
            (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "file.not_a_table"),
            (
                "Номер телефона;Фамилия;Имя;Дата рождения;Паспорт\r\n".encode("cp1251"),
                "file.no_rows",
            ),
            (
                "Телефон;Фамилия;Имя;Дата рождения\r\n+79120000000;Иванов;Иван;01.01.1990\r\n"
                "".encode(),
                "header.missing_column",
            ),
            (
                b'phone;last name;first name;birth date;passport\r\n"+7912;x;y;z;w\r\n',
                "file.unclosed_quote",
            ),
            (bytes(range(128, 256)) * 40, "file.unknown_encoding"),
        ],
    )
    def test_the_upload_fails_with_a_reason_and_changes_nothing(
        self, client: TestClient, world: dict[str, Any], session: Session, content: bytes, code: str
    ) -> None:
        result = _send(client, world, content)
        assert result["status"] == "failed"
        assert result["failure_code"] == code
        assert result["failure_message"]
        assert _count(session, Registration) == 0

    def test_missing_column_is_named(self, client: TestClient, world: dict[str, Any]) -> None:
        content = "Телефон;Фамилия;Имя;Дата рождения\r\n+79120000000;Иванов;Иван;01.01.1990\r\n"
        result = _send(client, world, content.encode("cp1251"))
        assert "Серия и номер паспорта" in result["failure_message"]

    def test_empty_file(self, client: TestClient, world: dict[str, Any]) -> None:
        response = upload(client, world["company"]["id"], world["admin"], b"")
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "file.empty"

    def test_too_large_is_refused_before_it_is_stored(
        self, client: TestClient, world: dict[str, Any], settings: Any
    ) -> None:
        settings.upload_max_bytes = 2_000
        big = csv_bytes(EMPLOYEE_HEADER, [employee_row(_msisdns(world)[0])] * 100)
        response = upload(client, world["company"]["id"], world["admin"], big)
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("application/problem+json")

    def test_too_large_without_a_declared_length(
        self, client: TestClient, world: dict[str, Any], settings: Any
    ) -> None:
        settings.upload_max_bytes = 2_000

        def chunks() -> Any:
            for _ in range(100):
                yield b"x" * 1_000

        response = client.post(
            f"/api/v1/companies/{world['company']['id']}/uploads",
            content=chunks(),
            headers={**world["admin"], "content-type": "multipart/form-data; boundary=b"},
        )
        assert response.status_code == 413

    def test_another_tenants_company(self, client: TestClient, world: dict[str, Any]) -> None:
        other = make_company_with_numbers(client, count=1)
        content = csv_bytes(EMPLOYEE_HEADER, [employee_row(_msisdns(world)[0])])
        response = upload(client, other["company"]["id"], world["admin"], content)
        assert response.status_code == 404

    def test_liquidated_company(self, client: TestClient, world: dict[str, Any]) -> None:
        client.post(
            f"/api/v1/companies/{world['company']['id']}/liquidation",
            json={"liquidated_on": "2026-10-01"},
            headers=staff_headers(client),
        )
        content = csv_bytes(EMPLOYEE_HEADER, [employee_row(_msisdns(world)[0])])
        response = upload(client, world["company"]["id"], world["admin"], content)
        assert response.status_code == 409


class TestErrorReport:
    def test_rejected_rows_as_written_with_an_error_column(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        phones = _msisdns(world)
        rows = [
            employee_row(phones[0], n=0),
            employee_row(phones[1], n=1, passport="45 12 34567", issuer='=HYPERLINK("http://x")'),
        ]
        result = _send(client, world, csv_bytes(EMPLOYEE_HEADER, rows))
        report = client.get(result["errors_csv"], headers=world["admin"])
        assert report.status_code == 200
        text = report.content.decode("utf-8-sig")
        lines = text.splitlines()
        assert len(lines) == 2
        assert "passport" in lines[1] or "паспорт" in lines[1].lower()
        assert ";'=HYPERLINK" in lines[1] or "'=HYPERLINK" in lines[1]
        xlsx = client.get(result["errors_xlsx"], headers=world["admin"])
        assert xlsx.status_code == 200
        import io

        sheet = CalamineWorkbook.from_filelike(io.BytesIO(xlsx.content)).get_sheet_by_index(0)
        table = sheet.to_python()
        assert table[0][: len(EMPLOYEE_HEADER)] == EMPLOYEE_HEADER
        # A string cell is never run as a formula: written as it was, with no marker.
        assert '=HYPERLINK("http://x")' in table[1]


class TestErrorReportNames:
    @pytest.mark.parametrize(
        ("filename", "fmt"),
        [
            ("Сотрудники.csv", "csv"),
            ("Сотрудники.csv", "xlsx"),
            ('evil";x=1.csv', "csv"),
            ('evil";x=1.csv', "xlsx"),
        ],
    )
    def test_any_file_name_downloads_under_its_own_name(
        self, client: TestClient, world: dict[str, Any], filename: str, fmt: str
    ) -> None:
        row = employee_row(_msisdns(world)[0], n=0, passport="45 12 34567")
        response = upload_raw_name(
            client,
            world["company"]["id"],
            world["admin"],
            csv_bytes(EMPLOYEE_HEADER, [row]),
            filename=filename,
        )
        assert response.status_code == 202, response.text
        assert response.json()["filename"] == filename
        report = client.get(
            f"/api/v1/companies/{world['company']['id']}/uploads/{response.json()['id']}"
            f"/errors.{fmt}",
            headers=world["admin"],
        )
        assert report.status_code == 200, report.text
        kind, params = parse_disposition(report.headers["content-disposition"])
        assert kind == "attachment"
        assert set(params) == {"filename", "filename*"}
        assert params["filename"] == f"errors-{response.json()['id']}.{fmt}"
        assert disposition_name(params) == f"errors-{filename.removesuffix('.csv')}.{fmt}"


class TestTemplates:
    @pytest.mark.parametrize(
        "name", ["employees.csv", "employees.xlsx", "devices.csv", "devices.xlsx"]
    )
    def test_download(self, client: TestClient, name: str) -> None:
        response = client.get(f"/api/v1/upload-templates/{name}")
        assert response.status_code == 200
        assert response.content

    def test_filled_template_uploads(self, client: TestClient, world: dict[str, Any]) -> None:
        template = client.get("/api/v1/upload-templates/devices.csv").content.decode("utf-8-sig")
        header = template.strip().split(";")
        values = {
            "Номер телефона": _msisdns(world)[0],
            "Тип устройства": "Касса",
            "Модель": "АТОЛ 30Ф",
            "Адрес установки": "Москва",
        }
        row = [values.get(h, "490154203237518" if "IMEI" in h else "") for h in header]
        content = csv_bytes(header, [row])
        result = _send(client, world, content)
        assert result["counts"]["accepted"] == 1, result
