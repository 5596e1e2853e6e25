"""Rules for operators, corporate subscribers and contracts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth.service import new_api_key
from app.companies.models import (
    Contract,
    CorporateSubscriber,
    Operator,
    SubscriberKind,
    SubscriberStatus,
)
from app.core.actors import Actor
from app.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from app.core.identifiers import (
    InvalidIdentifier,
    inn_kind,
    normalize_inn,
    normalize_kpp,
    normalize_ogrn,
    normalize_ogrnip,
)
from app.core.messages import Text
from app.numbers.lifecycle import transition_many
from app.numbers.models import NumberStatus, PhoneNumber, Registration


def create_operator(
    session: Session, *, code: str, name: str, now: dt.datetime
) -> tuple[Operator, str]:
    """Add an operator and issue its first API key (returned once, stored hashed)."""
    if session.scalar(select(Operator.id).where(Operator.code == code)) is not None:
        raise Conflict(
            Text("operator.duplicate", code=code),
            errors=[FieldProblem("code", "operator.duplicate", Text("operator.duplicate.field"))],
        )
    key, key_hash = new_api_key()
    operator = Operator(code=code, name=name, api_key_hash=key_hash, created_at=now)
    session.add(operator)
    session.flush()
    return operator, key


def rotate_operator_key(session: Session, *, operator_id: int) -> tuple[Operator, str]:
    """Replace an operator's API key; the old key stops working at once."""
    operator = get_operator(session, operator_id=operator_id)
    key, operator.api_key_hash = new_api_key()
    session.flush()
    return operator, key


def list_operators(session: Session) -> list[Operator]:
    """Every operator, in id order."""
    return list(session.scalars(select(Operator).order_by(Operator.id)))


def get_operator(session: Session, *, operator_id: int) -> Operator:
    """One operator or NotFound."""
    operator = session.get(Operator, operator_id)
    if operator is None:
        raise NotFound(Text("operator.not_found", operator_id=operator_id))
    return operator


def _checked_registration_data(
    *, inn: str, ogrn: str, kpp: str | None
) -> tuple[SubscriberKind, str, str, str | None]:
    problems: list[FieldProblem] = []
    kind: SubscriberKind | None = None
    clean_inn = clean_ogrn = ""
    clean_kpp: str | None = None
    try:
        clean_inn = normalize_inn(inn)
        kind = SubscriberKind(inn_kind(clean_inn))
    except InvalidIdentifier as exc:
        problems.append(FieldProblem("inn", exc.code, exc.message))
        # A mistyped INN still says by its length what the other numbers should look like.
        digits = "".join(ch for ch in inn if ch.isdigit())
        kind = SubscriberKind.ENTREPRENEUR if len(digits) == 12 else None
    if kind is SubscriberKind.ENTREPRENEUR:
        try:
            clean_ogrn = normalize_ogrnip(ogrn)
        except InvalidIdentifier as exc:
            problems.append(FieldProblem("ogrn", exc.code, exc.message))
        if kpp:
            problems.append(
                FieldProblem("kpp", "kpp.not_for_entrepreneur", Text("kpp.not_for_entrepreneur"))
            )
    else:
        try:
            clean_ogrn = normalize_ogrn(ogrn)
        except InvalidIdentifier as exc:
            problems.append(FieldProblem("ogrn", exc.code, exc.message))
        if kind is SubscriberKind.LEGAL_ENTITY and not kpp:
            problems.append(FieldProblem("kpp", "kpp.required", Text("kpp.required")))
        elif kpp:
            try:
                clean_kpp = normalize_kpp(kpp)
            except InvalidIdentifier as exc:
                problems.append(FieldProblem("kpp", exc.code, exc.message))
    if problems or kind is None:
        raise InvalidInput(Text("subscriber.invalid", count=len(problems)), errors=problems)
    return kind, clean_inn, clean_ogrn, clean_kpp


def create_subscriber(
    session: Session, *, name: str, inn: str, ogrn: str, kpp: str | None, now: dt.datetime
) -> CorporateSubscriber:
    """Register a corporate subscriber after checking INN, OGRN/OGRNIP and KPP."""
    kind, clean_inn, clean_ogrn, clean_kpp = _checked_registration_data(inn=inn, ogrn=ogrn, kpp=kpp)
    clash = session.execute(
        select(CorporateSubscriber.inn, CorporateSubscriber.ogrn).where(
            (CorporateSubscriber.inn == clean_inn) | (CorporateSubscriber.ogrn == clean_ogrn)
        )
    ).first()
    if clash is not None:
        field = "inn" if clash.inn == clean_inn else "ogrn"
        raise Conflict(
            Text(f"subscriber.duplicate.{field}"),
            errors=[
                FieldProblem(field, "subscriber.duplicate", Text("subscriber.duplicate.field"))
            ],
        )
    subscriber = CorporateSubscriber(
        kind=kind,
        name=name,
        inn=clean_inn,
        ogrn=clean_ogrn,
        kpp=clean_kpp,
        status=SubscriberStatus.ACTIVE,
        created_at=now,
    )
    session.add(subscriber)
    session.flush()
    return subscriber


def get_subscriber(session: Session, *, subscriber_id: int) -> CorporateSubscriber:
    """One corporate subscriber or NotFound."""
    subscriber = session.get(CorporateSubscriber, subscriber_id)
    if subscriber is None:
        raise NotFound(Text("company.not_found", company_id=subscriber_id))
    return subscriber


def list_subscribers(
    session: Session, *, after_id: int | None, limit: int
) -> list[CorporateSubscriber]:
    """A page of subscribers in id order."""
    query = select(CorporateSubscriber).order_by(CorporateSubscriber.id).limit(limit)
    if after_id is not None:
        query = query.where(CorporateSubscriber.id > after_id)
    return list(session.scalars(query))


def liquidate_subscriber(
    session: Session,
    *,
    subscriber_id: int,
    liquidated_on: dt.date,
    reason: str,
    actor: Actor,
    now: dt.datetime,
) -> tuple[CorporateSubscriber, int]:
    """Flow D: a liquidated company's numbers leave the corporate registry as `transferred`."""
    subscriber = get_subscriber(session, subscriber_id=subscriber_id)
    if subscriber.status is SubscriberStatus.LIQUIDATED:
        raise Conflict(Text("company.liquidated_already", company_id=subscriber_id))
    subscriber.status = SubscriberStatus.LIQUIDATED
    subscriber.liquidated_on = liquidated_on
    number_ids = list(
        session.scalars(select(PhoneNumber.id).where(PhoneNumber.subscriber_id == subscriber_id))
    )
    moved = transition_many(
        session, number_ids, NumberStatus.TRANSFERRED, actor=actor, reason=reason, at=now
    )
    # The company is gone: nobody uses its numbers on its behalf any more; history stays.
    session.execute(
        update(Registration)
        .where(
            Registration.ended_at.is_(None),
            Registration.number_id.in_(
                select(PhoneNumber.id).where(PhoneNumber.subscriber_id == subscriber_id)
            ),
        )
        .values(ended_at=now, end_reason="the company was liquidated")
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return subscriber, moved


def create_contract(
    session: Session,
    *,
    subscriber_id: int,
    operator_id: int,
    contract_no: str,
    signed_on: dt.date,
    now: dt.datetime,
) -> Contract:
    """Record a contract between a subscriber and an operator."""
    subscriber = get_subscriber(session, subscriber_id=subscriber_id)
    if subscriber.status is SubscriberStatus.LIQUIDATED:
        raise Conflict(Text("company.liquidated.no_contracts", company_id=subscriber_id))
    get_operator(session, operator_id=operator_id)
    duplicate = session.scalar(
        select(Contract.id).where(
            Contract.operator_id == operator_id, Contract.contract_no == contract_no
        )
    )
    if duplicate is not None:
        raise Conflict(
            Text("contract.duplicate", contract_no=contract_no),
            errors=[
                FieldProblem("contract_no", "contract.duplicate", Text("contract.duplicate.field"))
            ],
        )
    contract = Contract(
        subscriber_id=subscriber_id,
        operator_id=operator_id,
        contract_no=contract_no,
        signed_on=signed_on,
        created_at=now,
    )
    session.add(contract)
    session.flush()
    return contract


def list_contracts(session: Session, *, subscriber_id: int) -> list[Contract]:
    """A subscriber's contracts."""
    return list(
        session.scalars(
            select(Contract).where(Contract.subscriber_id == subscriber_id).order_by(Contract.id)
        )
    )
