"""Demo data for `make run`: two operators, three companies, people, numbers in every status.

Every status is reached through the status machine, so the demo's history reads like real life.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.companies import service as companies
from app.companies.models import CorporateSubscriber
from app.core.actors import Actor, ActorKind
from app.core.clock import moscow_today
from app.core.identifiers import luhn_valid
from app.core.runtime import Runtime
from app.db.session import unit_of_work
from app.deadlines.service import run_deadlines
from app.numbers import lifecycle
from app.numbers import service as numbers
from app.numbers.models import NumberStatus, PhoneNumber
from app.numbers.schemas import DeviceIn, DeviceType, EmployeeIn, NumberIn
from app.people import service as people

S = NumberStatus
OPERATOR_JOB = Actor(ActorKind.OPERATOR_JOB, "demo-matching")
STAFF = Actor(ActorKind.OPERATOR_STAFF, "staff@demo")
ADMIN = Actor(ActorKind.COMPANY_ADMIN, "admin@demo")

_LAST = [
    "Кузнецова",
    "Смирнов",
    "Попова",
    "Васильев",
    "Петрова",
    "Соколов",
    "Михайлова",
    "Новиков",
    "Фёдорова",
    "Морозов",
    "Волкова",
    "Алексеев",
    "Лебедева",
    "Семёнов",
]
_FIRST_F = ["Анна", "Мария", "Елена", "Ольга", "Татьяна", "Наталья", "Ирина"]
_FIRST_M = ["Сергей", "Андрей", "Алексей", "Дмитрий", "Иван", "Михаил", "Пётр"]
_PATR_F = ["Сергеевна", "Андреевна", "Игоревна", "Петровна"]
_PATR_M = ["Сергеевич", "Андреевич", "Игоревич", "Петрович"]

# The first demo people have portal accounts, so `/me/numbers` shows something.
PORTAL_PEOPLE = 5


def registry_is_empty(runtime: Runtime) -> bool:
    """No company yet."""
    with runtime.sessions() as session:
        return not session.scalar(select(func.count()).select_from(CorporateSubscriber))


def _employee(i: int) -> EmployeeIn:
    female = i % 2 == 0
    last = _LAST[i % len(_LAST)]
    return EmployeeIn(
        kind="employee",
        last_name=last,
        first_name=(_FIRST_F if female else _FIRST_M)[i % 7],
        patronymic=(_PATR_F if female else _PATR_M)[i % 4],
        birth_date=dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28),
        doc_number=f"45 {10 + i % 90:02d} {100000 + i:06d}",
        doc_issued_on=dt.date(2015, 1 + i % 12, 1 + i % 28),
        doc_issuer="ГУ МВД России по г. Москве",
        doc_issuer_code="770-001",
    )


def _imei(i: int) -> str:
    body = f"35{i:012d}"
    return next(body + str(d) for d in range(10) if luhn_valid(body + str(d)))


def _device(i: int) -> DeviceIn:
    kinds = [
        DeviceType.PAYMENT_TERMINAL,
        DeviceType.CASH_REGISTER,
        DeviceType.BARRIER,
        DeviceType.MODEM,
        DeviceType.TRACKER,
    ]
    return DeviceIn(
        kind="device",
        device_type=kinds[i % len(kinds)],
        model=["Verifone VX520", "АТОЛ 30Ф", "CAME GARD", "Huawei E3372", "Galileosky 7"][i % 5],
        identifier=_imei(i),
        install_address=f"Москва, ул. Тверская, д. {1 + i % 30}",
    )


def _add(
    session: Session, contract_id: int, first: int, count: int, now: dt.datetime
) -> list[PhoneNumber]:
    created = numbers.add_numbers(
        session,
        contract_id=contract_id,
        items=[NumberIn(msisdn=f"+7916{first + k:07d}") for k in range(count)],
        actor=STAFF,
        now=now,
        max_count=10_000,
    )
    return [session.get_one(PhoneNumber, number_id) for number_id, _ in created]


def _move(
    session: Session,
    batch: list[PhoneNumber],
    target: NumberStatus,
    reason: str,
    now: dt.datetime,
    actor: Actor = OPERATOR_JOB,
) -> None:
    for number in batch:
        lifecycle.transition(session, number, target, actor=actor, reason=reason, at=now)


def load_demo(runtime: Runtime) -> dict[str, Any]:
    """Fill an empty registry with a believable picture; returns counts by status."""
    now = runtime.clock.now()
    today = moscow_today(runtime.clock)
    vault = runtime.vault
    with unit_of_work(runtime.sessions) as session:
        volna, _ = companies.create_operator(session, code="volna", name="Волна Мобайл", now=now)
        sever, _ = companies.create_operator(session, code="sever", name="Северная Связь", now=now)
        romashka = companies.create_subscriber(
            session,
            name='ООО "Ромашка"',
            inn="7700042425",
            ogrn="1027700042424",
            kpp="770001001",
            now=now,
        )
        petrov = companies.create_subscriber(
            session,
            name="ИП Петров Пётр Петрович",
            inn="500000077776",
            ogrn="304770000007775",
            kpp=None,
            now=now,
        )
        zakat = companies.create_subscriber(
            session,
            name='ООО "Закат"',
            inn="7700051518",
            ogrn="1027700051510",
            kpp="770001001",
            now=now,
        )
        new_contract = companies.create_contract(
            session,
            subscriber_id=romashka.id,
            operator_id=volna.id,
            contract_no="VM-2024-001",
            signed_on=dt.date(2024, 2, 1),
            now=now,
        )
        legacy_contract = companies.create_contract(
            session,
            subscriber_id=romashka.id,
            operator_id=sever.id,
            contract_no="SS-2019-77",
            signed_on=dt.date(2019, 9, 15),
            now=now,
        )
        petrov_contract = companies.create_contract(
            session,
            subscriber_id=petrov.id,
            operator_id=volna.id,
            contract_no="VM-2023-118",
            signed_on=dt.date(2023, 5, 10),
            now=now,
        )
        zakat_contract = companies.create_contract(
            session,
            subscriber_id=zakat.id,
            operator_id=sever.id,
            contract_no="SS-2022-05",
            signed_on=dt.date(2022, 3, 3),
            now=now,
        )

        def register(batch: list[PhoneNumber], start: int, kind: str) -> None:
            for k, number in enumerate(batch):
                data = _employee(start + k) if kind == "employee" else _device(start + k)
                numbers.register_user(
                    session,
                    vault,
                    number=number,
                    data=data,
                    actor=ADMIN,
                    source="demo",
                    now=now,
                    today=today,
                )

        # ООО "Ромашка", new contract: employees in every step of flow A, and devices.
        emp = _add(session, new_contract.id, 1000, 200, now)
        register(emp, 0, "employee")
        _move(session, emp[0:50], S.ACTIVE, "person confirmed; data match", now)
        _move(session, emp[50:70], S.MISMATCH, "person confirmed; birth date differs", now)
        _move(session, emp[70:85], S.DECLINED, "person declined: does not use this number", now)
        _move(session, emp[85:100], S.EXPIRED, "no answer within the confirmation window", now)
        _move(session, emp[100:120], S.SUSPENDED, "deadline passed without confirmation", now)
        _move(
            session, emp[110:120], S.TERMINATED, "suspended longer than the termination period", now
        )
        for number in emp[120:130]:
            numbers.remove_registration(
                session, number=number, actor=ADMIN, reason="employee left the company", now=now
            )
        dev = _add(session, new_contract.id, 2000, 100, now)
        register(dev, 0, "device")
        _move(session, dev[0:70], S.ACTIVE, "device data valid; activated", now)
        _move(session, dev[90:100], S.SUSPENDED, "deadline passed without a registered user", now)
        # Legacy contract (signed 2019): the 2021 deadline passed long ago.
        legacy = _add(session, legacy_contract.id, 3000, 60, now)
        register(legacy[:30], 500, "employee")
        _move(session, legacy[:30], S.ACTIVE, "person confirmed; data match", now)
        _move(session, legacy[30:], S.SUSPENDED, "legacy deadline 30.11.2021 passed", now)
        # ИП Петров: a small business, one of its employees is also a Ромашка employee.
        ip = _add(session, petrov_contract.id, 4000, 40, now)
        register(ip[:1], 0, "employee")
        register(ip[1:25], 300, "employee")
        register(ip[25:35], 300, "device")
        _move(session, ip[10:20], S.ACTIVE, "person confirmed; data match", now)
        _move(session, ip[25:35], S.ACTIVE, "device data valid; activated", now)
        # ООО "Закат" was liquidated: its numbers left the corporate registry.
        gone = _add(session, zakat_contract.id, 5000, 20, now)
        register(gone[:15], 400, "employee")
        _move(session, gone[:15], S.ACTIVE, "person confirmed; data match", now)
        session.flush()
        companies.liquidate_subscriber(
            session,
            subscriber_id=zakat.id,
            liquidated_on=dt.date(2026, 10, 1),
            reason="company liquidated",
            actor=STAFF,
            now=now,
        )
        # Service on the new contracts starts over the coming weeks, so their deadlines (before
        # use; 3 working days before for devices) lie ahead; the suspended ones started already.
        open_statuses = [S.UNREGISTERED, S.PENDING_CONFIRMATION, S.MISMATCH, S.DECLINED, S.EXPIRED]
        open_ids = session.scalars(
            select(PhoneNumber.id)
            .where(
                PhoneNumber.status.in_(open_statuses), PhoneNumber.contract_id != legacy_contract.id
            )
            .order_by(PhoneNumber.id)  # the same days on every engine: the README's walkthrough
        ).all()
        for k, number_id in enumerate(open_ids):
            session.execute(
                update(PhoneNumber)
                .where(PhoneNumber.id == number_id)
                .values(service_start_on=today + dt.timedelta(days=6 + k % 40))
            )
        session.execute(
            update(PhoneNumber)
            .where(PhoneNumber.status.in_([S.SUSPENDED, S.TERMINATED]))
            .values(service_start_on=today - dt.timedelta(days=20))
        )
        # People with portal accounts: the same data their companies submitted.
        for i in range(PORTAL_PEOPLE):
            data = _employee(i)
            people.create_person(
                session,
                vault,
                last_name=data.last_name,
                first_name=data.first_name,
                patronymic=data.patronymic,
                birth_date=data.birth_date,
                passport=data.doc_number,
                snils=None,
                portal_subject=f"demo-person-{i + 1}",
                now=now,
                today=today,
            )
    # The deadline run gives every number its deadline and flags those within 30 days.
    run_deadlines(runtime)
    with runtime.sessions() as session:
        counts = dict(
            session.execute(
                select(PhoneNumber.status, func.count()).group_by(PhoneNumber.status)
            ).all()
        )
    return {str(status.value): n for status, n in sorted(counts.items())}
