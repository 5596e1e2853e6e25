"""HTTP endpoints for numbers: bulk add, listing, detail with history, users, status changes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from app.auth.dependencies import PrincipalDep, ensure_company_visible, require
from app.auth.service import Principal, Role
from app.companies.models import Contract
from app.companies.service import get_subscriber
from app.core.clock import MOSCOW, moscow_today
from app.core.deps import ClockDep, CursorDep, RuntimeDep, SessionDep, VaultDep
from app.core.downloads import XLSX, attachment, spooled_file
from app.core.errors import NotFound
from app.core.integers import RowId
from app.core.messages import Language, LanguageDep, Text, say
from app.core.pagination import CursorCodec
from app.core.personal_data import PersonalDataVault
from app.deadlines.models import DeadlineRule
from app.deadlines.policy import deadline_history
from app.deadlines.recompute import settle_stale_deadlines
from app.numbers import exports, lifecycle, service
from app.numbers.models import NumberStatus, PhoneNumber, SimKind
from app.numbers.page_reads import NumberPageReader, render_page
from app.numbers.schemas import (
    DeadlineMoveOut,
    EventOut,
    NumberBrief,
    NumberConfirmationOut,
    NumberDetail,
    NumberOut,
    NumberPage,
    NumbersAdd,
    NumbersAdded,
    RegistrationIn,
    RegistrationRemoval,
    RegistrationResult,
    StatusChange,
)
from app.people.service import log_personal_data_read
from app.portal.backlog import number_confirmation

router = APIRouter(prefix="/api/v1", tags=["numbers"])

StaffOrOperator = Annotated[Principal, require(Role.OPERATOR_STAFF, Role.OPERATOR_SYSTEM)]
Admin = Annotated[Principal, require(Role.COMPANY_ADMIN)]
OperatorSystem = Annotated[Principal, require(Role.OPERATOR_SYSTEM)]


@router.post(
    "/contracts/{contract_id}/numbers",
    status_code=status.HTTP_201_CREATED,
    response_model=NumbersAdded,
)
def add_numbers(
    contract_id: RowId,
    body: NumbersAdd,
    session: SessionDep,
    clock: ClockDep,
    runtime: RuntimeDep,
    caller: StaffOrOperator,
) -> NumbersAdded:
    """Add the numbers a company holds under a contract (one, or thousands at once)."""
    if caller.role is Role.OPERATOR_SYSTEM:
        contract = session.get(Contract, contract_id)
        if contract is None or contract.operator_id != caller.operator_id:
            raise NotFound(Text("contract.not_found", contract_id=contract_id))
    created = service.add_numbers(
        session,
        contract_id=contract_id,
        items=body.numbers,
        actor=caller.actor,
        now=clock.now(),
        max_count=runtime.settings.max_numbers_per_request,
    )
    if created:
        ids = [i for i, _ in created]
        settle_stale_deadlines(
            session,
            scope=[PhoneNumber.id >= min(ids), PhoneNumber.id <= max(ids)],
            actor=caller.actor,
            now=clock.now(),
        )
    return NumbersAdded(
        created=len(created), numbers=[NumberBrief(id=i, msisdn=m) for i, m in created]
    )


def _deadline_now(
    session: Session, number: PhoneNumber, principal: Principal, now: dt.datetime
) -> None:
    """The number's deadline, worked out in this transaction: the admin sees it at once."""
    settle_stale_deadlines(
        session, scope=[PhoneNumber.id == number.id], actor=principal.actor, now=now
    )
    session.refresh(number)


def _page(
    session: Session,
    cursors: CursorCodec,
    *,
    cursor: str | None,
    limit: int,
    flt: service.NumberFilter,
    language: Language,
    subscriber_id: int | None = None,
    operator_id: int | None = None,
) -> NumberPage:
    scope = {"s": subscriber_id, "o": operator_id}
    after = None
    if cursor:
        after = int(cursors.decode(cursor, scope=scope)["after"])
    rows = service.list_numbers(
        session,
        subscriber_id=subscriber_id,
        operator_id=operator_id,
        flt=flt,
        after_id=after,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode({"after": rows[-1].id, "scope": scope}) if more else None
    return NumberPage(items=[NumberOut.of(r, language) for r in rows], next_cursor=next_cursor)


async def _filter(
    status_: Annotated[list[NumberStatus] | None, Query(alias="status")] = None,
    kind: SimKind | None = None,
    deadline_before: dt.datetime | None = None,
    q: Annotated[str | None, Query(max_length=16, description="Digits of the number")] = None,
) -> service.NumberFilter:
    """The listing's filters, as the listings and the export take them."""
    if deadline_before is not None and deadline_before.tzinfo is None:
        deadline_before = deadline_before.replace(tzinfo=dt.UTC)
    return service.NumberFilter(
        statuses=status_ or (), kind=kind, deadline_before=deadline_before, text=q
    )


FilterDep = Annotated[service.NumberFilter, Depends(_filter)]


@router.get("/companies/{company_id}/numbers", response_model=NumberPage)
async def list_company_numbers(
    company_id: RowId,
    request: Request,
    cursors: CursorDep,
    principal: PrincipalDep,
    language: LanguageDep,
    flt: FilterDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """A company's numbers, filtered by status, kind, deadline and digits, a page at a time."""
    ensure_company_visible(principal, company_id)
    scope = {"s": company_id, "o": None}
    after = int(cursors.decode(cursor, scope=scope)["after"]) if cursor else None
    reader: NumberPageReader = request.app.state.number_pages
    rows = await reader.company_page(company_id, flt, after_id=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode({"after": rows[-1][0], "scope": scope}) if more else None
    return Response(
        render_page(rows, next_cursor, language),
        media_type="application/json",
        headers={"Vary": "Accept-Language"},
    )


@router.get(
    "/companies/{company_id}/numbers.{fmt}",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}, XLSX: {}},
            "description": "The whole list, for Excel",
        }
    },
)
def export_company_numbers(
    company_id: RowId,
    fmt: Literal["csv", "xlsx"],
    runtime: RuntimeDep,
    clock: ClockDep,
    principal: PrincipalDep,
    language: LanguageDep,
    flt: FilterDep,
) -> Response:
    """Every number of a company that the listing's filters let through, as CSV or XLSX for
    Excel (column titles in the request's language), streamed; users as the listing shows them,
    personal data never."""
    ensure_company_visible(principal, company_id)
    # No request-long session: each chunk of rows is read with a connection of its own.
    with runtime.sessions() as session:
        inn = get_subscriber(session, subscriber_id=company_id).inn
    now = clock.now()
    filename = f"simreg-numbers-{inn}-{now.astimezone(MOSCOW):%Y-%m-%d}.{fmt}"
    lines = exports.company_numbers(runtime.sessions, company_id=company_id, flt=flt)
    if fmt == "xlsx":
        return spooled_file(
            lambda path: exports.numbers_xlsx(lines, now=now, path=path, language=language),
            filename=filename,
            prefix="simreg-numbers-",
        )
    return StreamingResponse(
        exports.numbers_csv(lines, now=now, language=language),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": attachment(filename), "Content-Language": language},
    )


@router.get("/operator/numbers", response_model=NumberPage)
def list_operator_numbers(
    session: SessionDep,
    cursors: CursorDep,
    caller: OperatorSystem,
    language: LanguageDep,
    flt: FilterDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> NumberPage:
    """The calling operator's own numbers."""
    return _page(
        session,
        cursors,
        cursor=cursor,
        limit=limit,
        flt=flt,
        language=language,
        operator_id=caller.operator_id,
    )


def _detail(
    session: Session,
    vault: PersonalDataVault,
    number: PhoneNumber,
    *,
    principal: Principal,
    route: str,
    now: dt.datetime,
    rate: float,
    language: Language,
) -> NumberDetail:
    registrations = service.registrations_of(session, number_id=number.id)
    if principal.role is Role.OPERATOR_STAFF and any(r.pd_sealed for r in registrations):
        log_personal_data_read(
            session,
            staff=principal.subject,
            resource="number",
            resource_id=number.id,
            route=route,
            now=now,
        )
    current = next((r for r in registrations if r.ended_at is None), None)
    confirmation = (
        number_confirmation(
            session, number_id=number.id, registration_id=current.id, rate=rate, now=now
        )
        if current is not None
        else None
    )
    return NumberDetail(
        **NumberOut.of(number, language).model_dump(),
        next_step=say(f"number.next_step.{number.status.value}", language),
        confirmation=NumberConfirmationOut(**vars(confirmation)) if confirmation else None,
        registrations=[service.registration_view(r, vault, reveal=False) for r in registrations],
        events=[
            EventOut.model_validate(e) for e in service.events_of(session, number_id=number.id)
        ],
        deadline_rule=(
            session.get_one(DeadlineRule, number.deadline_rule_id).code
            if number.deadline_rule_id
            else None
        ),
        deadline_moves=[
            DeadlineMoveOut.model_validate(move)
            for move in deadline_history(session, number_id=number.id)
        ],
    )


@router.get("/companies/{company_id}/numbers/{number_id}", response_model=NumberDetail)
def get_company_number(
    company_id: RowId,
    number_id: RowId,
    request: Request,
    response: Response,
    session: SessionDep,
    vault: VaultDep,
    clock: ClockDep,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    language: LanguageDep,
) -> NumberDetail:
    """One number with every registration (personal data masked), its full history, and where
    the request to confirm its current employee is. The ETag is the version of its registration,
    which replacing a confirmed user sends back in If-Match."""
    ensure_company_visible(principal, company_id)
    number = service.get_number(session, number_id=number_id, subscriber_id=company_id)
    current = service.current_registration(session, number_id=number.id)
    response.headers["ETag"] = service.registration_version(number, current)
    return _detail(
        session,
        vault,
        number,
        principal=principal,
        route=request.url.path,
        now=clock.now(),
        rate=runtime.settings.portal_rate_per_operator,
        language=language,
    )


@router.get("/operator/numbers/{number_id}", response_model=NumberDetail)
def get_operator_number(
    number_id: RowId,
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    clock: ClockDep,
    runtime: RuntimeDep,
    caller: OperatorSystem,
    language: LanguageDep,
) -> NumberDetail:
    """One of the calling operator's numbers, with history."""
    number = service.get_number(session, number_id=number_id, operator_id=caller.operator_id)
    return _detail(
        session,
        vault,
        number,
        principal=caller,
        route=request.url.path,
        now=clock.now(),
        rate=runtime.settings.portal_rate_per_operator,
        language=language,
    )


@router.put(
    "/companies/{company_id}/numbers/{number_id}/registration", response_model=RegistrationResult
)
def register_user(
    company_id: RowId,
    number_id: RowId,
    body: RegistrationIn,
    response: Response,
    session: SessionDep,
    vault: VaultDep,
    clock: ClockDep,
    admin: Admin,
    language: LanguageDep,
    if_match: Annotated[
        str | None,
        Header(description="The ETag of GET of the number: replace the user it showed"),
    ] = None,
    replace: Annotated[
        bool, Query(description="Replace a confirmed user without sending If-Match")
    ] = False,
) -> RegistrationResult:
    """Name the user of one number: an employee (who must confirm) or a device.

    Replacing a confirmed user (an active number's) needs If-Match with the number's ETag or
    replace=true: 409 without either, 412 when the If-Match is no longer current."""
    ensure_company_visible(admin, company_id)
    number = service.get_number(
        session, number_id=number_id, subscriber_id=company_id, for_update=True
    )
    outcome, registration = service.register_user(
        session,
        vault,
        number=number,
        data=body,
        actor=admin.actor,
        source="api",
        now=clock.now(),
        today=moscow_today(clock),
        consent=service.ReplaceConsent(if_match=if_match, replace=replace),
    )
    _deadline_now(session, number, admin, clock.now())
    response.headers["ETag"] = service.registration_version(number, registration)
    return RegistrationResult(
        outcome=outcome, number=NumberOut.of(number, language), registration_id=registration.id
    )


@router.delete("/companies/{company_id}/numbers/{number_id}/registration", response_model=NumberOut)
def remove_registration(
    company_id: RowId,
    number_id: RowId,
    session: SessionDep,
    clock: ClockDep,
    admin: Admin,
    language: LanguageDep,
    body: RegistrationRemoval | None = None,
) -> NumberOut:
    """The user left: end the current registration (history is kept)."""
    ensure_company_visible(admin, company_id)
    number = service.get_number(
        session, number_id=number_id, subscriber_id=company_id, for_update=True
    )
    service.remove_registration(
        session,
        number=number,
        actor=admin.actor,
        reason=(body or RegistrationRemoval()).reason,
        now=clock.now(),
    )
    _deadline_now(session, number, admin, clock.now())
    return NumberOut.of(number, language)


@router.post("/numbers/{number_id}/status", response_model=NumberOut)
def change_status(
    number_id: RowId,
    body: StatusChange,
    session: SessionDep,
    clock: ClockDep,
    caller: StaffOrOperator,
    language: LanguageDep,
) -> NumberOut:
    """Move a number through the status machine by hand (staff, or the number's operator)."""
    operator_id = caller.operator_id if caller.role is Role.OPERATOR_SYSTEM else None
    number = service.get_number(
        session, number_id=number_id, operator_id=operator_id, for_update=True
    )
    lifecycle.transition(
        session, number, body.status, actor=caller.actor, reason=body.reason, at=clock.now()
    )
    return NumberOut.of(number, language)
