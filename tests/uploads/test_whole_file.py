"""The checks that need the whole file: a number named twice, and a person over the cap.

They count across batches, against the registry (other companies, and this company's numbers
the file does not name again), and in dry runs as in applies."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.numbers.models import PhoneNumber, Registration, StatusEvent
from tests.builders import make_company_with_numbers
from tests.uploads.builders import (
    EMPLOYEE_HEADER,
    csv_bytes,
    employee_row,
    problem_codes,
    upload,
    upload_result,
)


@pytest.fixture(params=["apply", "validate"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def small_batches(settings: Settings) -> None:
    # Rows that meet across batches must meet all the same.
    settings.upload_batch_rows = 2


def _send(client: TestClient, world: dict[str, Any], rows: list[list[str]], mode: str) -> Any:
    response = upload(
        client,
        world["company"]["id"],
        world["admin"],
        csv_bytes(EMPLOYEE_HEADER, rows),
        mode=mode,
    )
    assert response.status_code in (200, 202), response.text
    result = upload_result(client, world["company"]["id"], world["admin"], response.json()["id"])
    assert result["status"] == "done", result
    return result


def _registrations(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Registration)) or 0)


@pytest.mark.usefixtures("small_batches")
class TestRepeatedNumbers:
    def test_rows_in_different_batches_are_all_refused(
        self, client: TestClient, session: Session, mode: str
    ) -> None:
        world = make_company_with_numbers(client, count=4)
        phones = [n["msisdn"] for n in world["numbers"]]
        rows = [employee_row(p, n=i) for i, p in enumerate(phones)]
        rows.append(employee_row(phones[0], n=9))  # row 6 repeats row 2, three batches later
        result = _send(client, world, rows, mode)
        assert result["counts"]["accepted"] == 3
        assert result["counts"]["rejected"] == 2
        assert problem_codes(session, result["id"]) == {
            2: ["msisdn.repeated_in_file"],
            6: ["msisdn.repeated_in_file"],
        }
        assert _registrations(session) == (3 if mode == "apply" else 0)

    def test_a_refused_row_gets_the_repetition_added_to_its_problems(
        self, client: TestClient, session: Session, mode: str
    ) -> None:
        world = make_company_with_numbers(client, count=3)
        phones = [n["msisdn"] for n in world["numbers"]]
        rows = [
            employee_row(phones[0], n=0),
            employee_row(phones[1], n=1),
            employee_row(phones[0], n=2, birth="31.02.1990"),  # refused on its own already
            employee_row(phones[2], n=3, last="Ivanov"),
            employee_row(phones[2], n=4, birth="31.02.1990"),  # both rows of phone 2 refused
        ]
        result = _send(client, world, rows, mode)
        assert result["counts"]["accepted"] == 1
        problems = problem_codes(session, result["id"])
        assert problems[2] == ["msisdn.repeated_in_file"]
        assert problems[4][-1] == "msisdn.repeated_in_file"
        assert len(problems[4]) == 2
        assert problems[5][-1] == "msisdn.repeated_in_file"
        assert problems[6][-1] == "msisdn.repeated_in_file"
        assert set(problems) == {2, 4, 5, 6}

    def test_the_error_report_gives_the_repeated_rows_as_written(
        self, client: TestClient, mode: str
    ) -> None:
        world = make_company_with_numbers(client, count=2)
        phones = [n["msisdn"] for n in world["numbers"]]
        written = phones[0].replace("+7", "8 ")
        rows = [employee_row(phones[0], n=0), employee_row(phones[1], n=1)]
        rows.append(employee_row(written, n=2))  # the same number, written another way
        result = _send(client, world, rows, mode)
        report = client.get(
            f"/api/v1/companies/{world['company']['id']}/uploads/{result['id']}/errors.csv",
            headers=world["admin"],
        )
        assert report.status_code == 200
        text = report.content.decode("utf-8-sig")
        assert written in text
        assert phones[0] in text
        assert text.count("msisdn.repeated_in_file") == 2
        # Each repeated row names the other: the number is in rows 2 and 4.
        assert "ещё в строке 4" in text
        assert "ещё в строке 2" in text


@pytest.mark.usefixtures("small_batches")
class TestPersonOverTheCap:
    def test_rows_of_one_person_across_batches(
        self, client: TestClient, session: Session, settings: Settings, mode: str
    ) -> None:
        settings.max_numbers_per_person = 1
        world = make_company_with_numbers(client, count=5)
        phones = [n["msisdn"] for n in world["numbers"]]
        rows = [employee_row(p, n=i) for i, p in enumerate(phones)]
        rows[4] = employee_row(phones[4], n=0)  # row 6: the person of row 2 again
        result = _send(client, world, rows, mode)
        assert result["counts"]["accepted"] == 3
        assert problem_codes(session, result["id"]) == {
            2: ["person.over_cap"],
            6: ["person.over_cap"],
        }
        assert _registrations(session) == (3 if mode == "apply" else 0)

    def test_refused_rows_do_not_count(
        self, client: TestClient, session: Session, settings: Settings, mode: str
    ) -> None:
        settings.max_numbers_per_person = 1
        world = make_company_with_numbers(client, count=2)
        phones = [n["msisdn"] for n in world["numbers"]]
        rows = [employee_row(phones[0], n=7), employee_row(phones[1], n=7)]
        rows += [employee_row(phones[1], n=3)]  # rows 3 and 4 name the same number
        result = _send(client, world, rows, mode)
        assert problem_codes(session, result["id"]) == {
            3: ["msisdn.repeated_in_file"],
            4: ["msisdn.repeated_in_file"],
        }
        assert result["counts"]["accepted"] == 1

    def test_numbers_the_person_has_at_another_company_count(
        self, client: TestClient, session: Session, settings: Settings, mode: str
    ) -> None:
        settings.max_numbers_per_person = 3
        elsewhere = make_company_with_numbers(client, count=2)
        _send(
            client,
            elsewhere,
            [employee_row(n["msisdn"], n=5) for n in elsewhere["numbers"]],
            "apply",
        )
        world = make_company_with_numbers(client, count=3)
        phones = [n["msisdn"] for n in world["numbers"]]
        one = _send(client, world, [employee_row(phones[0], n=5)], mode)
        assert one["counts"]["accepted"] == 1  # 2 + 1: at the cap, not over it
        two = _send(
            client, world, [employee_row(phones[1], n=5), employee_row(phones[2], n=6)], mode
        )
        if mode == "apply":
            # 2 elsewhere, 1 on phone 0 (applied above, not named again), and 1 here: over.
            assert problem_codes(session, two["id"]) == {2: ["person.over_cap"]}
        else:
            # The dry run above changed nothing: 2 elsewhere and 1 here.
            assert problem_codes(session, two["id"]) == {}

    def test_numbers_the_file_names_again_are_not_counted_twice(
        self, client: TestClient, session: Session, settings: Settings
    ) -> None:
        settings.max_numbers_per_person = 2
        world = make_company_with_numbers(client, count=3)
        phones = [n["msisdn"] for n in world["numbers"]]
        first = _send(client, world, [employee_row(p, n=8) for p in phones[:2]], "apply")
        assert first["counts"]["created"] == 2
        # The same person on the same two numbers, and a new row of someone else.
        rows = [*(employee_row(p, n=8) for p in phones[:2]), employee_row(phones[2], n=1)]
        again = _send(client, world, rows, "apply")
        assert problem_codes(session, again["id"]) == {}
        assert (again["counts"]["unchanged"], again["counts"]["created"]) == (2, 1)


class TestRefusedRowsOfAnApply:
    """An apply may take a row before a later one shows it must be refused (PostgreSQL applies
    each batch as it goes): the refused rows leave no trace, the kept ones move once."""

    @pytest.mark.parametrize("batch_rows", [2, 15_000], ids=["across-batches", "one-batch"])
    def test_refused_rows_leave_no_trace(
        self, client: TestClient, session: Session, settings: Settings, batch_rows: int
    ) -> None:
        settings.upload_batch_rows = batch_rows
        settings.max_numbers_per_person = 1
        world = make_company_with_numbers(client, count=5)
        phones = [n["msisdn"] for n in world["numbers"]]
        rows = [employee_row(p, n=i) for i, p in enumerate(phones[:4])]
        rows.append(employee_row(phones[0], n=9))  # row 6 repeats row 2's number
        rows.append(employee_row(phones[4], n=1))  # row 7: row 3's person, over a cap of one
        result = _send(client, world, rows, "apply")
        assert (result["counts"]["accepted"], result["counts"]["created"]) == (2, 2)
        assert problem_codes(session, result["id"]) == {
            2: ["msisdn.repeated_in_file"],
            3: ["person.over_cap"],
            6: ["msisdn.repeated_in_file"],
            7: ["person.over_cap"],
        }
        session.expire_all()
        status_of = dict(session.execute(select(PhoneNumber.msisdn, PhoneNumber.status)).all())
        events = dict(
            session.execute(
                select(PhoneNumber.msisdn, func.count(StatusEvent.id))
                .join(
                    StatusEvent,
                    and_(
                        StatusEvent.number_id == PhoneNumber.id,
                        StatusEvent.to_status == "pending_confirmation",
                    ),
                    isouter=True,
                )
                .group_by(PhoneNumber.msisdn)
            ).all()
        )
        registered = set(
            session.scalars(
                select(PhoneNumber.msisdn).join(
                    Registration, Registration.number_id == PhoneNumber.id
                )
            )
        )
        kept, refused = {phones[2], phones[3]}, {phones[0], phones[1], phones[4]}
        assert registered == kept
        assert {p: status_of[p] for p in phones} == {
            **dict.fromkeys(kept, "pending_confirmation"),
            **dict.fromkeys(refused, "unregistered"),
        }
        assert {p: events[p] for p in phones} == {
            **dict.fromkeys(kept, 1),
            **dict.fromkeys(refused, 0),
        }
