"""The production topology without containers: PostgreSQL, migrations run once, two API
instances on two loopback ports and one scheduler process. A whole flow crosses both instances
(upload on one, confirmations on the other); the shared dev clock moves past the deadline; every
unconfirmed number is suspended once and its employee told once, however many ticks run."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from app.core.identifiers import luhn_valid
from app.notifications.models import Audience, Notification, NotificationStatus
from app.numbers.models import NumberStatus, StatusEvent
from app.scheduler.models import JobClaim
from tests.builders import (
    make_company,
    make_contract,
    make_operator,
    make_person,
    mobile,
    token_headers,
)
from tests.cluster.topology import Cluster, cluster, eventually, free_port
from tests.conftest import START
from tests.uploads.builders import csv_bytes, upload

pytestmark = [pytest.mark.cluster, pytest.mark.postgres_only]

EMPLOYEES = 8
CONFIRMING = 4  # employees 0‥3 confirm; 4‥7 never do
DEVICES = 3
HEADER = [
    "Номер телефона", "Фамилия", "Имя", "Отчество", "Дата рождения", "Серия и номер паспорта",
    "Дата выдачи", "Кем выдан", "Код подразделения", "Тип устройства", "Модель", "IMEI",
    "Адрес установки",
]  # fmt: skip
_LAST = ["Иванов", "Петрова", "Сидоров", "Кузнецова"]
_FIRST = ["Иван", "Анна", "Пётр", "Мария"]
_PATR = ["Иванович", "Сергеевна", "Петрович", "Игоревна"]


def _imei(i: int) -> str:
    body = f"3548{i:010d}"
    return next(body + str(d) for d in range(10) if luhn_valid(body + str(d)))


def _employee(n: int) -> dict[str, str]:
    return {
        "last_name": _LAST[n % 4],
        "first_name": _FIRST[n % 4],
        "patronymic": _PATR[n % 4],
        "birth_date": f"19{70 + n}-0{1 + n}-{10 + n:02d}",
        "passport": f"45{10 + n:02d} {300000 + n:06d}",
    }


def _row(msisdn: str, n: int) -> list[str]:
    if n >= EMPLOYEES:
        return [msisdn, "", "", "", "", "", "", "", "", "Касса", "АТОЛ 30Ф", _imei(n), "Москва"]
    person = _employee(n)
    birth = dt.date.fromisoformat(person["birth_date"]).strftime("%d.%m.%Y")
    series, number = person["passport"].split()
    return [
        msisdn, person["last_name"], person["first_name"], person["patronymic"], birth,
        f"{series[:2]} {series[2:]} {number}", "20.05.2015", "ОВД района Тверской", "770-001",
        "", "", "", "",
    ]  # fmt: skip


@pytest.fixture
def topology(empty_database: str, tmp_path: Path) -> Iterator[Cluster]:
    with cluster(
        empty_database,
        tmp_path,
        now=START.isoformat(),
        dev_clock_refresh_seconds="0.2",
        scheduler_in_process="false",
        upload_dir=str(tmp_path / "uploads"),
        matching_interval_seconds="1",
        deadlines_interval_seconds="1",
        notifications_interval_seconds="1",
        metrics_interval_seconds="5",
    ) as started:
        yield started


def _company_with_numbers(client: httpx.Client, *, count: int) -> dict[str, Any]:
    """A company whose numbers go into service in a month: employees must confirm before."""
    staff = token_headers(client, role="operator_staff")
    operator = make_operator(client)
    company = make_company(client)
    contract = make_contract(client, company_id=company["id"], operator_id=operator["id"])
    starts = (START + dt.timedelta(days=30)).date().isoformat()
    added = client.post(
        f"/api/v1/contracts/{contract['id']}/numbers",
        json={
            "numbers": [
                {"msisdn": mobile(7000 + i), "service_start_on": starts} for i in range(count)
            ]
        },
        headers=staff,
    )
    assert added.status_code == 201, added.text
    return {
        "company": company,
        "numbers": added.json()["numbers"],
        "admin": token_headers(client, role="company_admin", company_id=company["id"]),
    }


def _numbers(client: httpx.Client, world: dict[str, Any], status: str) -> list[dict[str, Any]]:
    response = client.get(
        f"/api/v1/companies/{world['company']['id']}/numbers",
        params={"status": status, "limit": 500},
        headers=world["admin"],
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_two_instances_and_a_scheduler_suspend_and_tell_each_number_once(
    topology: Cluster,
) -> None:
    first = topology.start_api("api-1")
    second = topology.start_api("api-2")
    scheduler = topology.start_scheduler(metrics_port=free_port())

    with (
        httpx.Client(base_url=first.base_url, timeout=30) as one,
        httpx.Client(base_url=second.base_url, timeout=30) as two,
    ):
        world = _company_with_numbers(one, count=EMPLOYEES + DEVICES)
        phones = [n["msisdn"] for n in world["numbers"]]
        people = [make_person(two, **_employee(n), snils=None) for n in range(EMPLOYEES)]

        # The admin uploads on the first instance; the second shows the result.
        sent = upload(
            one,
            world["company"]["id"],
            world["admin"],
            csv_bytes(HEADER, [_row(p, n) for n, p in enumerate(phones)]),
        )
        assert sent.status_code == 202, sent.text
        upload_url = f"/api/v1/companies/{world['company']['id']}/uploads/{sent.json()['id']}"

        def upload_done() -> dict[str, Any] | None:
            shown: dict[str, Any] = two.get(upload_url, headers=world["admin"]).json()
            return shown if shown["status"] in ("done", "failed") else None

        result = eventually(upload_done, "the upload finished")
        assert (result["status"], result["counts"]["accepted"]) == ("done", len(phones)), result

        # The scheduler's matching activates the devices and asks each employee.
        eventually(
            lambda: (
                _numbers(two, world, "active")
                if len(_numbers(two, world, "active")) == DEVICES
                else None
            ),
            "the devices active",
        )
        for person in people[:CONFIRMING]:
            me = token_headers(two, role="person", subject=person["portal_subject"])
            # The request is listed once created, and can be answered once the scheduler's
            # dispatch has delivered it to the portal.
            asked = eventually(
                lambda me=me: (
                    [
                        r
                        for r in two.get("/api/v1/me/confirmation-requests", headers=me).json()
                        if r["status"] == "sent"
                    ]
                    or None
                ),
                "a confirmation request delivered to the employee",
            )
            confirmed = two.post(
                f"/api/v1/me/confirmation-requests/{asked[0]['id']}/confirm", headers=me
            )
            assert confirmed.status_code == 200, confirmed.text
        active = eventually(
            lambda: (
                found
                if len(found := _numbers(one, world, "active")) == DEVICES + CONFIRMING
                else None
            ),
            "the confirmed employees active",
        )

        # The scheduler's deadline run gives the new users' numbers their deadlines.
        def unconfirmed_with_deadlines() -> list[dict[str, Any]] | None:
            found = _numbers(one, world, "pending_confirmation")
            return found if found and all(n["deadline_at"] for n in found) else None

        pending = eventually(unconfirmed_with_deadlines, "deadlines for the unconfirmed")
        assert len(pending) == EMPLOYEES - CONFIRMING
        assert all(n["deadline_at"] for n in pending), pending

        # Past the last deadline, moved on the first instance: the scheduler's clock moves too.
        after = max(dt.datetime.fromisoformat(n["deadline_at"]) for n in pending) + dt.timedelta(
            days=1
        )
        staff = token_headers(one, role="operator_staff")
        moved = one.put("/api/v1/sandbox/clock", json={"now": after.isoformat()}, headers=staff)
        assert moved.status_code == 200, moved.text
        # The other instance reads the shared clock back within its refresh (0.2 s here).
        eventually(
            lambda: (
                True
                if dt.datetime.fromisoformat(two.get("/api/v1/sandbox/clock").json()["now"])
                == after
                else None
            ),
            "the second instance on the moved clock",
            timeout=10,
        )

        suspended = eventually(
            lambda: (
                found if len(found := _numbers(two, world, "suspended")) == len(pending) else None
            ),
            "the unconfirmed numbers suspended",
        )
        assert {n["id"] for n in suspended} == {n["id"] for n in pending}
        # Every message delivered; then a few more ticks of every job, which must change nothing.
        backlog_url = "/api/v1/notifications"
        eventually(
            lambda: (
                True
                if two.get(backlog_url, headers=staff).json()["backlog"]["pending"] == 0
                else None
            ),
            "the outbox delivered",
        )
        time.sleep(4)
        assert len(_numbers(one, world, "suspended")) == len(pending)
        assert len(_numbers(one, world, "active")) == len(active)
        metrics = httpx.get(scheduler.base_url + "/metrics").text
        assert 'simreg_job_runs_total{job="deadlines",outcome="ok"}' in metrics

    engine = create_engine(topology.database_url)
    try:
        with engine.connect() as conn:
            cut_off = dict(
                conn.execute(
                    select(StatusEvent.number_id, func.count())
                    .where(StatusEvent.to_status == NumberStatus.SUSPENDED)
                    .group_by(StatusEvent.number_id)
                ).all()
            )
            told = conn.execute(
                select(Notification.number_id, Notification.status, Notification.attempts).where(
                    Notification.audience == Audience.PERSON, Notification.event == "suspend"
                )
            ).all()
            deadline_runs = conn.scalar(
                select(func.count()).where(JobClaim.job == "deadlines", JobClaim.outcome == "ok")
            )
            claimers = conn.scalars(select(JobClaim.claimed_by).distinct()).all()
    finally:
        engine.dispose()
    # Suspended once each, however many deadline ticks ran after the clock moved.
    assert cut_off == {n["id"]: 1 for n in pending}
    assert deadline_runs is not None
    assert deadline_runs > 3
    # Each employee told once, delivered at the first attempt.
    assert sorted(number for number, _, _ in told) == sorted(n["id"] for n in pending)
    assert {(status, attempts) for _, status, attempts in told} == {(NotificationStatus.SENT, 1)}
    # Only the scheduler process ran jobs; the API instances ran none.
    assert [c.rsplit(":", 1)[1] for c in claimers] == [str(scheduler.popen.pid)], claimers
