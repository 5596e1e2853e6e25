"""The person's own view (`/me`) and the sandbox portal's registry of test people."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response, status

from app.auth.dependencies import PersonCaller, require
from app.auth.service import Principal, Role
from app.core.clock import moscow_today
from app.core.deps import ClockDep, SessionDep, VaultDep
from app.core.errors import NotFound
from app.core.messages import LanguageDep, Text, language_of
from app.numbers.schemas import MyNumber, MyNumberStatus
from app.numbers.service import registration_view
from app.people import service
from app.people.schemas import PersonOut, SandboxPersonCreate
from app.people.status_reads import StatusReader
from app.people.words import person_words

router = APIRouter(prefix="/api/v1", tags=["me"])
sandbox_router = APIRouter(prefix="/api/v1/sandbox", tags=["sandbox"])

Staff = Annotated[Principal, require(Role.OPERATOR_STAFF)]


@router.get("/me", response_model=PersonOut)
def me(session: SessionDep, vault: VaultDep, person: PersonCaller) -> PersonOut:
    """The caller's own identity data, in clear (they are the person)."""
    found = service.find_person(session, portal_subject=person.subject)
    if found is None:
        raise NotFound(Text("person.not_shared"))
    return service.person_view(found, vault, reveal=True)


@router.get("/me/numbers/status", response_model=list[MyNumberStatus])
async def my_numbers_status(request: Request, person: PersonCaller) -> Response:
    """The status of each of the caller's numbers in plain words, the next step and the deadline:
    the quick check, without the registration data `/me/numbers` shows."""
    reader: StatusReader = request.app.state.status_reader
    body = await reader.read(person.subject, language_of(request.headers.get("accept-language")))
    return Response(body, media_type="application/json", headers={"Vary": "Accept-Language"})


@router.get("/me/numbers", response_model=list[MyNumber])
def my_numbers(
    session: SessionDep, vault: VaultDep, person: PersonCaller, language: LanguageDep
) -> list[MyNumber]:
    """Numbers registered to the caller, what their state means for them and the next step."""
    found = service.find_person(session, portal_subject=person.subject)
    if found is None:
        return []
    result = []
    for number, registration, company, request in service.numbers_of_person(session, person=found):
        text, step = person_words(
            number.status,
            request,
            company=company.name,
            deadline_at=number.deadline_at,
            language=language,
        )
        result.append(
            MyNumber(
                id=number.id,
                msisdn=number.msisdn,
                status=number.status,
                status_text=text,
                next_step=step,
                deadline_at=number.deadline_at,
                company_name=company.name,
                company_inn=company.inn,
                registration=registration_view(registration, vault, reveal=True),
            )
        )
    return result


@sandbox_router.post("/people", status_code=status.HTTP_201_CREATED, response_model=PersonOut)
def create_sandbox_person(
    body: SandboxPersonCreate, session: SessionDep, vault: VaultDep, clock: ClockDep, _: Staff
) -> PersonOut:
    """Add a test person to the sandbox identity portal (dev and test only)."""
    person = service.create_person(
        session,
        vault,
        last_name=body.last_name,
        first_name=body.first_name,
        patronymic=body.patronymic,
        birth_date=body.birth_date,
        passport=body.passport,
        snils=body.snils,
        portal_subject=body.portal_subject,
        now=clock.now(),
        today=moscow_today(clock),
    )
    return service.person_view(person, vault, reveal=False)
