"""Personal data of refused rows: sealed at rest, opened only into the error report, and every
read of the report by operator staff logged."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.personal_data import PersonalDataVault
from app.db.migrations import alembic_config, upgrade_to_head
from app.people.models import PersonalDataRead
from tests.builders import make_company_with_numbers, staff_headers
from tests.uploads.builders import EMPLOYEE_HEADER, csv_bytes, employee_row, upload, upload_result

# Values of refused rows, each distinctive enough not to occur by chance in ciphertext.
PASSPORT = "9876 54321"  # nine digits: refused
BIRTH_DATE = "31.02.1987"  # no such day: refused
SNILS = "123-456-789 00"  # wrong check digits: refused
LAST_NAME = "Чернышевская"


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    return make_company_with_numbers(client, count=3)


def _refused_upload(client: TestClient, world: dict[str, Any]) -> dict[str, Any]:
    phones = [n["msisdn"] for n in world["numbers"]]
    rows = [
        [*employee_row(phones[0], n=0, passport=PASSPORT, last=LAST_NAME), "112-233-445 95"],
        [*employee_row(phones[1], n=1, birth=BIRTH_DATE), "112-233-445 95"],
        [*employee_row(phones[2], n=2), SNILS],
    ]
    content = csv_bytes([*EMPLOYEE_HEADER, "СНИЛС"], rows)
    response = upload(client, world["company"]["id"], world["admin"], content, mode="validate")
    assert response.status_code == 202, response.text
    result = upload_result(client, world["company"]["id"], world["admin"], response.json()["id"])
    assert (result["status"], result["counts"]["rejected"]) == ("done", 3), result
    return result


def _personal_values() -> list[str]:
    return [PASSPORT, "54321", BIRTH_DATE, SNILS, "45678900", LAST_NAME]


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return str(value)


class TestRefusedRowsAtRest:
    def test_no_personal_field_of_a_refused_row_is_readable_in_the_table(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        _refused_upload(client, world)
        table = session.connection().exec_driver_sql("SELECT * FROM upload_rejections").all()
        assert len(table) == 3
        stored = " ".join(_as_text(value) for row in table for value in row)
        for value in _personal_values():
            assert value not in stored
            assert value.encode().decode("latin-1") not in stored  # as UTF-8 bytes too

    def test_the_error_report_gives_the_rows_as_written(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        result = _refused_upload(client, world)
        report = client.get(result["errors_csv"], headers=world["admin"])
        assert report.status_code == 200
        text_report = report.content.decode("utf-8-sig")
        for value in (PASSPORT, BIRTH_DATE, SNILS, LAST_NAME):
            assert value in text_report
        xlsx = client.get(result["errors_xlsx"], headers=world["admin"])
        assert xlsx.status_code == 200

    def test_the_problems_name_no_personal_value(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        result = _refused_upload(client, world)
        problems = orjson.dumps(result["first_errors"]).decode()
        assert {e["code"] for e in result["first_errors"]} >= {"passport.length"}
        for value in _personal_values():
            assert value not in problems


class TestStaffReadsOfErrorReports:
    def test_each_staff_read_is_logged_as_a_personal_data_read(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        result = _refused_upload(client, world)
        staff = staff_headers(client)
        for fmt in ("csv", "xlsx"):
            assert client.get(result[f"errors_{fmt}"], headers=staff).status_code == 200
        reads = session.scalars(select(PersonalDataRead).order_by(PersonalDataRead.id)).all()
        assert [(r.staff_subject, r.resource, r.resource_id) for r in reads] == [
            ("staff@registry", "upload_errors", str(result["id"])),
        ] * 2
        assert reads[0].route.endswith(f"/uploads/{result['id']}/errors.csv")

    def test_the_companys_own_admin_reading_it_is_not_a_staff_read(
        self, client: TestClient, world: dict[str, Any], session: Session
    ) -> None:
        result = _refused_upload(client, world)
        assert client.get(result["errors_csv"], headers=world["admin"]).status_code == 200
        assert session.scalar(select(func.count()).select_from(PersonalDataRead)) == 0


def _rejections_at_0017(database_url: str) -> None:
    """A registry at migration 0017 with one upload and refused rows stored as they were."""
    command.downgrade(alembic_config(database_url), "0017")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        company = connection.execute(
            text(
                "INSERT INTO corporate_subscribers (kind, name, inn, ogrn, status, created_at)"
                " VALUES ('legal_entity', 'ООО Ромашка', '7700000001', '1027700000001', 'active',"
                " CURRENT_TIMESTAMP) RETURNING id"
            )
        ).scalar_one()
        upload_id = connection.execute(
            text(
                "INSERT INTO uploads (subscriber_id, mode, status, filename, content_sha256,"
                " size_bytes, stored_path, rows_total, rows_read, accepted, rejected, created,"
                " unchanged, superseded, created_by, created_at, resume_after_row, attempts)"
                " VALUES (:company, 'validate', 'done', 'list.csv', 'x', 1, 'gone', 2, 2, 0, 2,"
                " 0, 0, 0, 'admin', CURRENT_TIMESTAMP, 0, 1) RETURNING id"
            ),
            {"company": company},
        ).scalar_one()
        for row_no, cells in ((2, ["+79120000000", PASSPORT]), (3, ["+79120000001", SNILS])):
            connection.execute(
                text(
                    "INSERT INTO upload_rejections (upload_id, row_no, cells, problems)"
                    " VALUES (:upload, :row, :cells, '[]')"
                ),
                {"upload": upload_id, "row": row_no, "cells": orjson.dumps(cells).decode()},
            )
    engine.dispose()


class TestMigration0021:
    def test_rows_already_stored_are_sealed_and_open_to_what_they_were(
        self, database_url: str, settings: Settings
    ) -> None:
        vault = PersonalDataVault.from_settings(
            keys=settings.pd_keys,
            active_key_id=settings.pd_active_key_id,
            hash_key=settings.pd_hash_key,
        )
        _rejections_at_0017(database_url)
        upgrade_to_head(database_url)
        engine = create_engine(database_url)
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT row_no, cells_sealed, pd_key_id FROM upload_rejections ORDER BY row_no"
                )
            ).all()
        engine.dispose()
        assert [vault.open(bytes(sealed))["cells"] for _, sealed, _ in rows] == [
            ["+79120000000", PASSPORT],
            ["+79120000001", SNILS],
        ]
        assert {kid for _, _, kid in rows} == {vault.active_key_id}

    def test_the_downgrade_opens_them_again(self, database_url: str) -> None:
        _rejections_at_0017(database_url)
        upgrade_to_head(database_url)
        command.downgrade(alembic_config(database_url), "0017")
        engine = create_engine(database_url)
        with engine.connect() as connection:
            cells = connection.execute(
                text("SELECT cells FROM upload_rejections ORDER BY row_no")
            ).scalars()
            found = [orjson.loads(c) if isinstance(c, str) else c for c in cells]
        engine.dispose()
        assert found == [["+79120000000", PASSPORT], ["+79120000001", SNILS]]
        upgrade_to_head(database_url)
