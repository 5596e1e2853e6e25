"""Demo data for `make run`: two operators, three companies, people, numbers in every status.

Every status is reached through the status machine, so the demo's history reads like real life.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.companies import service as companies
from app.companies.models import CorporateSubscriber
from app.core.actors import Actor, ActorKind
from app.core.clock import moscow_today
from app.core.identifiers import luhn_valid
from app.core.personal_data import PersonalDataVault
from app.core.runtime import Runtime
from app.db.session import unit_of_work
from app.deadlines.service import run_deadlines
from app.matching.jobs import matching_cycle
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


@dataclass(frozen=True)
class _Contracts:
    """The demo's contracts, and the company that is liquidated at the end."""

    new: int
    legacy: int
    petrov: int
    zakat: int
    zakat_company: int


def load_demo(runtime: Runtime) -> dict[str, Any]:
    """Fill an empty registry with a believable picture; returns counts by status."""
    now = runtime.clock.now()
    today = moscow_today(runtime.clock)
    with unit_of_work(runtime.sessions) as session:
        contracts = _companies(session, now)
        registrar = _Registrar(session, runtime.vault, now=now, today=today)
        _new_contract_numbers(registrar, contracts.new)
        _older_contract_numbers(registrar, contracts)
        _service_starts(session, legacy_contract_id=contracts.legacy, today=today)
        _portal_people(session, runtime.vault, now=now, today=today)
    # The deadline run gives every number its deadline and flags those within 30 days.
    run_deadlines(runtime)
    # One matching cycle, as the operator's job would have run it: the employees waiting to
    # confirm have their requests on the portal (the first ones sent at once), so a demo
    # employee who signs in has something to confirm.
    matching_cycle(runtime)
    with runtime.sessions() as session:
        counts = dict(
            session.execute(
                select(PhoneNumber.status, func.count()).group_by(PhoneNumber.status)
            ).all()
        )
    return {str(status.value): n for status, n in sorted(counts.items())}


def _companies(session: Session, now: dt.datetime) -> _Contracts:
    """Two operators, three companies (an ООО, an ИП, one to be liquidated), four contracts."""
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
    signed = [
        (romashka.id, volna.id, "VM-2024-001", dt.date(2024, 2, 1)),
        (romashka.id, sever.id, "SS-2019-77", dt.date(2019, 9, 15)),
        (petrov.id, volna.id, "VM-2023-118", dt.date(2023, 5, 10)),
        (zakat.id, sever.id, "SS-2022-05", dt.date(2022, 3, 3)),
    ]
    new, legacy, small, closing = (
        companies.create_contract(
            session,
            subscriber_id=subscriber_id,
            operator_id=operator_id,
            contract_no=contract_no,
            signed_on=signed_on,
            now=now,
        ).id
        for subscriber_id, operator_id, contract_no, signed_on in signed
    )
    return _Contracts(new, legacy, small, closing, zakat_company=zakat.id)


@dataclass(frozen=True)
class _Registrar:
    """Adds, registers and moves demo numbers in one session at one moment."""

    session: Session
    vault: PersonalDataVault
    now: dt.datetime
    today: dt.date

    def add(self, contract_id: int, first: int, count: int) -> list[PhoneNumber]:
        return _add(self.session, contract_id, first, count, self.now)

    def register(self, batch: list[PhoneNumber], start: int, kind: str) -> None:
        for k, number in enumerate(batch):
            data = _employee(start + k) if kind == "employee" else _device(start + k)
            numbers.register_user(
                self.session,
                self.vault,
                number=number,
                data=data,
                actor=ADMIN,
                source="demo",
                now=self.now,
                today=self.today,
            )

    def move(self, batch: list[PhoneNumber], target: NumberStatus, reason: str) -> None:
        _move(self.session, batch, target, reason, self.now)


def _new_contract_numbers(demo: _Registrar, contract_id: int) -> None:
    """ООО "Ромашка", new contract: employees in every step of flow A, and devices."""
    emp = demo.add(contract_id, 1000, 200)
    demo.register(emp, 0, "employee")
    demo.move(emp[0:50], S.ACTIVE, "person confirmed; data match")
    demo.move(emp[50:70], S.MISMATCH, "person confirmed; birth date differs")
    demo.move(emp[70:85], S.DECLINED, "person declined: does not use this number")
    demo.move(emp[85:100], S.EXPIRED, "no answer within the confirmation window")
    demo.move(emp[100:120], S.SUSPENDED, "deadline passed without confirmation")
    demo.move(emp[110:120], S.TERMINATED, "suspended longer than the termination period")
    for number in emp[120:130]:
        numbers.remove_registration(
            demo.session,
            number=number,
            actor=ADMIN,
            reason="employee left the company",
            now=demo.now,
        )
    dev = demo.add(contract_id, 2000, 100)
    demo.register(dev, 0, "device")
    demo.move(dev[0:70], S.ACTIVE, "device data valid; activated")
    demo.move(dev[90:100], S.SUSPENDED, "deadline passed without a registered user")


def _older_contract_numbers(demo: _Registrar, contracts: _Contracts) -> None:
    """The legacy contract, the ИП's, and the liquidated company's numbers."""
    # Legacy contract (signed 2019): the 2021 deadline passed long ago.
    legacy = demo.add(contracts.legacy, 3000, 60)
    demo.register(legacy[:30], 500, "employee")
    demo.move(legacy[:30], S.ACTIVE, "person confirmed; data match")
    demo.move(legacy[30:], S.SUSPENDED, "legacy deadline 30.11.2021 passed")
    # ИП Петров: a small business, one of its employees is also a Ромашка employee.
    ip = demo.add(contracts.petrov, 4000, 40)
    demo.register(ip[:1], 0, "employee")
    demo.register(ip[1:25], 300, "employee")
    demo.register(ip[25:35], 300, "device")
    demo.move(ip[10:20], S.ACTIVE, "person confirmed; data match")
    demo.move(ip[25:35], S.ACTIVE, "device data valid; activated")
    # ООО "Закат" was liquidated: its numbers left the corporate registry.
    gone = demo.add(contracts.zakat, 5000, 20)
    demo.register(gone[:15], 400, "employee")
    demo.move(gone[:15], S.ACTIVE, "person confirmed; data match")
    demo.session.flush()
    companies.liquidate_subscriber(
        demo.session,
        subscriber_id=contracts.zakat_company,
        liquidated_on=dt.date(2026, 10, 1),
        reason="company liquidated",
        actor=STAFF,
        now=demo.now,
    )


def _service_starts(session: Session, *, legacy_contract_id: int, today: dt.date) -> None:
    """Service on the new contracts starts over the coming weeks, so their deadlines (before
    use; 3 working days before for devices) lie ahead; the suspended ones started already."""
    open_statuses = [S.UNREGISTERED, S.PENDING_CONFIRMATION, S.MISMATCH, S.DECLINED, S.EXPIRED]
    open_ids = session.scalars(
        select(PhoneNumber.id)
        .where(PhoneNumber.status.in_(open_statuses), PhoneNumber.contract_id != legacy_contract_id)
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


def _portal_people(
    session: Session, vault: PersonalDataVault, *, now: dt.datetime, today: dt.date
) -> None:
    """People with portal accounts: the same data their companies submitted."""
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
