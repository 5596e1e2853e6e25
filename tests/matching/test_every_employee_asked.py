"""The walk of a company with 2,000 employees and 500 devices: the admin uploads a Russian
Excel list, the clock moves a dispatch tick at a time with the scheduler's jobs run as they fall
due, and every employee is asked well before the first deadline. Then the people: one confirms
but the company mistyped their birth date, one declines, one never answers; only the last is
told of the suspension."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.deadlines.service import run_deadlines
from app.matching.jobs import matching_cycle
from app.notifications.models import Audience, Notification
from app.numbers.models import NumberStatus, PhoneNumber
from app.portal.dispatch import dispatch
from app.portal.models import ConfirmationRequest, SandboxDelivery
from app.portal.sandbox_portal import SandboxPortal
from tests.builders import (
    add_numbers,
    make_company,
    make_contract,
    make_operator,
    make_person,
    mobile,
    token_headers,
    valid_imei,
)
from tests.uploads.builders import (
    DEVICE_HEADER,
    EMPLOYEE_HEADER,
    csv_bytes,
    device_row,
    employee_row,
    upload,
    upload_result,
)

EMPLOYEES, DEVICES = 2_000, 500
STARTS_IN = dt.timedelta(days=15)  # service starts in 15 days: employees registered before use


def person_of(row: list[str], **changes: str) -> dict[str, Any]:
    """The sandbox portal's account of the person an employee row names."""
    _, last, first, patronymic, birth, passport, *_ = row
    day, month, year = birth.split(".")
    body = {
        "last_name": last,
        "first_name": first,
        "patronymic": patronymic,
        "birth_date": f"{year}-{month}-{day}",
        "passport": passport,
        "snils": None,
    }
    return body | changes


def requests_by_status(runtime: Runtime) -> dict[str, int]:
    with runtime.sessions() as session:
        return {
            str(status): int(count)
            for status, count in session.execute(
                select(ConfirmationRequest.status, func.count()).group_by(
                    ConfirmationRequest.status
                )
            )
        }


class TicksOfTheScheduler:
    """The dev clock moved one dispatch tick at a time; each job runs when its tick comes."""

    def __init__(self, runtime: Runtime, clock: FixedClock) -> None:
        self.runtime, self.clock = runtime, clock
        self.portal = SandboxPortal.from_runtime(runtime)
        settings = runtime.settings
        self.tick = dt.timedelta(seconds=settings.dispatch_interval_seconds)
        self.matching_every = dt.timedelta(seconds=settings.matching_interval_seconds)
        self.next_matching = clock.now()

    def step(self) -> None:
        if self.clock.now() >= self.next_matching:
            matching_cycle(self.runtime)
            self.next_matching += self.matching_every
        dispatch(self.runtime, self.portal, seconds=0)
        self.clock.advance(self.tick)


def test_every_employee_is_asked_well_before_the_first_deadline_and_told_the_right_thing(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    operator = make_operator(client)
    company = make_company(client)
    contract = make_contract(client, company_id=company["id"], operator_id=operator["id"])
    starts_on = (clock.now() + STARTS_IN).date()
    msisdns = [mobile(500_000 + i) for i in range(EMPLOYEES + DEVICES)]
    for start in range(0, len(msisdns), 1_000):
        add_numbers(
            client,
            contract_id=contract["id"],
            msisdns=msisdns[start : start + 1_000],
            starts_on=starts_on,
        )
    admin = token_headers(client, role="company_admin", company_id=company["id"])
    rows = [employee_row(m, n=k) for k, m in enumerate(msisdns[:EMPLOYEES])]
    devices = [device_row(m, imei=valid_imei(k)) for k, m in enumerate(msisdns[EMPLOYEES:])]
    for header, content, name in (
        (EMPLOYEE_HEADER, rows, "Сотрудники.csv"),
        (DEVICE_HEADER, devices, "Устройства.csv"),
    ):
        response = upload(client, company["id"], admin, csv_bytes(header, content), filename=name)
        assert response.status_code == 202, response.text
        done = upload_result(client, company["id"], admin, response.json()["id"])
        assert (done["status"], done["counts"]["rejected"]) == ("done", 0), done

    # The admin sees the deadlines at once.
    with runtime.sessions() as session:
        first_deadline = session.scalar(
            select(func.min(PhoneNumber.deadline_at)).where(
                PhoneNumber.subscriber_id == company["id"], PhoneNumber.sim_kind == "employee"
            )
        )
        undated = session.scalar(
            select(func.count()).where(
                PhoneNumber.subscriber_id == company["id"], PhoneNumber.deadline_at.is_(None)
            )
        )
    assert undated == 0
    assert first_deadline is not None

    started = clock.now()
    ticks = TicksOfTheScheduler(runtime, clock)
    for _ in range(40):  # 400 s of the scheduler's ticks
        ticks.step()
        if requests_by_status(runtime).get("queued", 0) == 0 and clock.now() > started:
            break
    statuses = requests_by_status(runtime)
    assert statuses == {"sent": EMPLOYEES}, statuses
    with runtime.sessions() as session:
        last_sent = session.scalar(select(func.max(ConfirmationRequest.sent_at)))
        active_devices = session.scalar(
            select(func.count()).where(
                PhoneNumber.subscriber_id == company["id"],
                PhoneNumber.status == NumberStatus.ACTIVE,
            )
        )
    assert active_devices == DEVICES
    with runtime.sessions() as session:
        deliveries = session.scalar(select(func.count()).select_from(SandboxDelivery))
    assert deliveries == EMPLOYEES  # each person asked once
    # 2,000 at 10 a second: about 200 s, two weeks before the employees' first deadline.
    assert last_sent is not None
    assert last_sent - started <= dt.timedelta(seconds=EMPLOYEES / 10 + 30)
    assert first_deadline - last_sent > dt.timedelta(days=13)

    # The people answer on the portal.
    mistyped = make_person(client, **person_of(rows[0], birth_date="1970-01-02"))
    refuses = make_person(client, **person_of(rows[1]))
    for person, verb in ((mistyped, "confirm"), (refuses, "decline")):
        me = token_headers(client, role="person", subject=person["portal_subject"])
        (request,) = client.get("/api/v1/me/confirmation-requests", headers=me).json()
        answered = client.post(
            f"/api/v1/me/confirmation-requests/{request['id']}/{verb}", headers=me
        )
        assert answered.status_code == 200, answered.text
    matching_cycle(runtime)

    # The one whose birth date the company mistyped sees their request and why it failed.
    me = token_headers(client, role="person", subject=mistyped["portal_subject"])
    listed = client.get("/api/v1/me/confirmation-requests", headers=me).json()
    assert len(listed) == 1, listed
    (request,) = listed
    assert request["outcome"] == "mismatch"
    assert request["mismatch_fields"] == ["birth_date"]
    assert "дата рождения" in request["outcome_text"]
    mine = client.get("/api/v1/me/numbers/status", headers=me).json()
    assert len(mine) == 1, mine[:3]
    (number,) = mine
    assert number["status"] == "mismatch"
    assert "дата рождения" in number["status_text"]
    assert number["next_step"].startswith("Ваша компания должна исправить данные")

    # Past the deadline: everyone unconfirmed is suspended; only the person who was asked,
    # did not decline and has something to do is told.
    clock.set(first_deadline + dt.timedelta(seconds=1))
    report = run_deadlines(runtime)
    assert report.suspended == EMPLOYEES  # the devices are active
    with runtime.sessions() as session:
        told = set(
            session.scalars(
                select(PhoneNumber.msisdn)
                .join(Notification, Notification.number_id == PhoneNumber.id)
                .where(Notification.audience == Audience.PERSON, Notification.event == "suspend")
            )
        )
    assert rows[1][0].replace(" ", "") not in told  # declined: "this is not my number"
    assert rows[2][0] in told  # asked, never answered
    assert rows[0][0] in told  # confirmed, but the company must correct the data
    assert len(told) == EMPLOYEES - 1
