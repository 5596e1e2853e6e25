"""The sandbox identity portal behaves like the real one: deliveries, answers, bad days."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from app.config import DEV_PORTAL_SECRET, Environment, Settings
from app.core.errors import Conflict, NotFound
from app.core.runtime import Runtime
from app.numbers.models import PhoneNumber, Registration
from app.numbers.registration_rules import document_hash
from app.people.models import Person
from app.portal.dispatch import send_queued
from app.portal.http_portal import HttpPortal
from app.portal.models import ConfirmationRequest, RequestStatus, SandboxDelivery
from app.portal.port import (
    PortalConfigError,
    PortalRequest,
    PortalUnavailable,
    build_portal,
)
from app.portal.router import router, sandbox_router
from app.portal.sandbox_portal import (
    PAYLOAD_FIELDS,
    DeliveryState,
    SandboxBehaviour,
    SandboxPortal,
)
from tests.builders import (
    employee,
    make_company_with_numbers,
    make_person,
    token_headers,
    valid_snils,
)

# --- helpers shared by the tests of tests/portal --------------------------------------------


def mount_portal_routes(app: FastAPI) -> None:
    """Add the portal routes to a test app, unless create_app mounts them already."""
    paths = {getattr(route, "path", "") for route in app.routes}
    if "/api/v1/portal/answers" not in paths:
        app.include_router(router)
    if "/api/v1/sandbox/portal/behaviour" not in paths:
        app.include_router(sandbox_router)


def register(
    client: TestClient, world: dict[str, Any], index: int, body: dict[str, Any] | None = None
) -> int:
    """Name the employee of the world's `index`-th number as its admin; returns the number id."""
    number_id: int = world["numbers"][index]["id"]
    response = client.put(
        f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}/registration",
        json=body or employee(),
        headers=world["admin"],
    )
    assert response.status_code == 200, response.text
    return number_id


def queue_request(
    runtime: Runtime, number_id: int, *, expires_in: dt.timedelta = dt.timedelta(days=30)
) -> int:
    """A queued ConfirmationRequest for the number's current registration, as matching makes."""
    now = runtime.clock.now()
    with runtime.sessions() as session:
        number = session.get_one(PhoneNumber, number_id)
        registration = session.scalars(
            select(Registration).where(
                Registration.number_id == number_id, Registration.ended_at.is_(None)
            )
        ).one()
        request = ConfirmationRequest(
            registration_id=registration.id,
            number_id=number_id,
            operator_id=number.operator_id,
            subscriber_id=number.subscriber_id,
            doc_hash=registration.doc_hash,
            status=RequestStatus.QUEUED,
            attempts=0,
            created_at=now,
            expires_at=now + expires_in,
        )
        session.add(request)
        session.commit()
        return request.id


def load_request(runtime: Runtime, request_id: int) -> ConfirmationRequest:
    """The request as stored now."""
    with runtime.sessions() as session:
        return session.get_one(ConfirmationRequest, request_id)


def load_registration(runtime: Runtime, number_id: int) -> Registration:
    """The number's current registration."""
    with runtime.sessions() as session:
        return session.scalars(
            select(Registration).where(
                Registration.number_id == number_id, Registration.ended_at.is_(None)
            )
        ).one()


def load_person(runtime: Runtime, subject: str) -> Person:
    """A sandbox person by portal subject."""
    with runtime.sessions() as session:
        return session.scalars(select(Person).where(Person.portal_subject == subject)).one()


def person_headers(client: TestClient, person: dict[str, Any]) -> dict[str, str]:
    """Bearer header of a sandbox person."""
    return token_headers(client, role="person", subject=person["portal_subject"])


def set_status(runtime: Runtime, request_id: int, status: RequestStatus) -> None:
    """Move a request on as the matching service would (expiry, cancellation)."""
    with runtime.sessions() as session:
        session.get_one(ConfirmationRequest, request_id).status = status
        session.commit()


# --- fixtures -------------------------------------------------------------------------------


def portal_request(**overrides: Any) -> PortalRequest:
    """A request as dispatch builds it, for the `employee()` defaults."""
    fields: dict[str, Any] = {
        "request_id": "cr-1",
        "msisdn": "+79120000001",
        "company_name": 'ООО "Ромашка"',
        "company_inn": "7700000000",
        "last_name": "Иванов",
        "first_name": "Иван",
        "patronymic": "Иванович",
        "birth_date": "1985-04-12",
        "doc_type": "ru_passport",
        "doc_series": "4512",
        "doc_number": "345678",
        "snils": valid_snils(1),
    }
    fields.update(overrides)
    return PortalRequest(**fields)


def deliveries(runtime: Runtime) -> list[SandboxDelivery]:
    with runtime.sessions() as session:
        return list(session.scalars(select(SandboxDelivery).order_by(SandboxDelivery.id)))


@dataclasses.dataclass
class Sent:
    """A request the registry sent, and the person it names."""

    request_id: int
    portal_request_id: str
    person: Person
    number_id: int


def sent_request(
    client: TestClient, runtime: Runtime, *, person_overrides: dict[str, Any] | None = None
) -> Sent:
    person = make_person(client, **(person_overrides or {}))
    world = make_company_with_numbers(client, count=1)
    number_id = register(client, world, 0)
    request_id = queue_request(runtime, number_id)
    assert send_queued(runtime, SandboxPortal.from_runtime(runtime)).sent == 1
    stored = load_request(runtime, request_id)
    assert stored.portal_request_id is not None
    return Sent(
        request_id,
        stored.portal_request_id,
        load_person(runtime, person["portal_subject"]),
        number_id,
    )


# --- tests ----------------------------------------------------------------------------------


class TestSandboxDelivery:
    def test_a_request_is_delivered_under_its_document_hash(
        self, portal: SandboxPortal, runtime: Runtime
    ) -> None:
        [outcome] = portal.send([portal_request()])

        assert outcome.error is None
        assert outcome.portal_request_id is not None
        assert outcome.portal_request_id.startswith("sbx-")
        [delivery] = deliveries(runtime)
        assert delivery.request_id == "cr-1"
        assert delivery.portal_request_id == outcome.portal_request_id
        assert delivery.state == DeliveryState.DELIVERED
        assert delivery.doc_hash == document_hash(runtime.vault, "ru_passport:4512345678")

    def test_the_payload_keeps_no_passport_birth_date_or_snils(
        self, portal: SandboxPortal, runtime: Runtime
    ) -> None:
        portal.send([portal_request()])

        [delivery] = deliveries(runtime)
        assert set(delivery.payload) == set(PAYLOAD_FIELDS)
        stored = json.dumps(delivery.payload, ensure_ascii=False)
        for secret in ("4512", "345678", "1985", valid_snils(1)):
            assert secret not in stored
        assert delivery.payload["msisdn"] == "+79120000001"
        assert delivery.payload["last_name"] == "Иванов"

    def test_a_request_without_a_document_is_refused_for_good(self, portal: SandboxPortal) -> None:
        [outcome] = portal.send([portal_request(doc_series="", doc_number="")])

        assert outcome.portal_request_id is None
        assert outcome.error
        assert outcome.retryable is False


class TestIdempotentResend:
    def test_the_same_request_id_keeps_its_portal_id_and_one_delivery(
        self, portal: SandboxPortal, runtime: Runtime
    ) -> None:
        [first] = portal.send([portal_request()])
        [again, other] = portal.send([portal_request(), portal_request(request_id="cr-2")])

        assert again.portal_request_id == first.portal_request_id
        assert other.portal_request_id != first.portal_request_id
        assert [d.request_id for d in deliveries(runtime)] == ["cr-1", "cr-2"]


class TestPortalDown:
    def test_sends_fail_as_unavailable_and_deliver_nothing(
        self, portal: SandboxPortal, runtime: Runtime, behaviour: SandboxBehaviour
    ) -> None:
        behaviour.fail_sends = True

        with pytest.raises(PortalUnavailable):
            portal.send([portal_request()])

        assert deliveries(runtime) == []


class TestSlowPortal:
    def test_a_slow_portal_still_delivers(
        self, portal: SandboxPortal, runtime: Runtime, behaviour: SandboxBehaviour
    ) -> None:
        behaviour.delay_seconds = 0.05
        started = time.perf_counter()

        [outcome] = portal.send([portal_request()])

        assert time.perf_counter() - started >= 0.05
        assert outcome.portal_request_id is not None
        assert len(deliveries(runtime)) == 1


class TestFetchAnswers:
    def test_a_confirmation_carries_the_persons_own_verified_data(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        # The company typed 1985-04-12; the portal knows the person's real birth date.
        sent = sent_request(client, runtime, person_overrides={"birth_date": "1986-01-02"})
        portal.answer(sent.portal_request_id, person=sent.person, answer="confirmed")

        [message] = portal.fetch_answers()

        assert message.portal_request_id == sent.portal_request_id
        assert message.request_id == f"cr-{sent.request_id}"
        assert message.answer == "confirmed"
        assert message.portal_subject == sent.person.portal_subject
        assert message.verified is not None
        assert message.verified.birth_date == "1986-01-02"
        assert (message.verified.doc_series, message.verified.doc_number) == ("4512", "345678")
        assert message.verified.last_name == "Иванов"
        assert message.verified.doc_type == "ru_passport"

    def test_a_decline_carries_no_identity(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        sent = sent_request(client, runtime)
        portal.answer(sent.portal_request_id, person=sent.person, answer="declined")

        [message] = portal.fetch_answers()

        assert message.answer == "declined"
        assert message.verified is None

    def test_an_answer_comes_again_until_acknowledged(
        self, runtime: Runtime, portal: SandboxPortal, confirmed: Sent
    ) -> None:
        sent = confirmed

        assert len(portal.fetch_answers()) == 1
        assert len(portal.fetch_answers()) == 1
        portal.acknowledge([sent.portal_request_id])

        assert portal.fetch_answers() == []
        assert deliveries(runtime)[0].state == DeliveryState.FETCHED

    def test_nothing_unanswered_is_handed_out(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        sent_request(client, runtime)

        assert portal.fetch_answers() == []


class TestLostAnswers:
    def test_a_lost_answer_never_arrives(
        self,
        runtime: Runtime,
        portal: SandboxPortal,
        confirmed: Sent,
        behaviour: SandboxBehaviour,
    ) -> None:
        behaviour.lose_answers = True

        assert portal.fetch_answers() == []
        behaviour.lose_answers = False
        assert portal.fetch_answers() == []
        assert deliveries(runtime)[0].state == DeliveryState.LOST


class TestDelayedAnswers:
    def test_a_delayed_answer_arrives_once_released(
        self,
        runtime: Runtime,
        portal: SandboxPortal,
        confirmed: Sent,
        behaviour: SandboxBehaviour,
    ) -> None:
        sent = confirmed
        behaviour.answers_delayed = True

        assert portal.fetch_answers() == []
        behaviour.answers_delayed = False
        assert [m.portal_request_id for m in portal.fetch_answers()] == [sent.portal_request_id]


class TestAnswerRules:
    def test_another_person_cannot_see_the_request(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        sent = sent_request(client, runtime)
        other = make_person(client, last_name="Петров", passport="4600 112233")

        with pytest.raises(NotFound):
            portal.answer(
                sent.portal_request_id,
                person=load_person(runtime, other["portal_subject"]),
                answer="confirmed",
            )
        with pytest.raises(NotFound):
            portal.answer("sbx-unknown", person=sent.person, answer="confirmed")

    def test_the_same_answer_twice_is_the_same_result(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        sent = sent_request(client, runtime)

        first = portal.answer(sent.portal_request_id, person=sent.person, answer="confirmed")
        again = portal.answer(sent.portal_request_id, person=sent.person, answer="confirmed")

        assert (again.answer, again.answered_at) == (first.answer, first.answered_at)
        assert len(portal.fetch_answers()) == 1

    def test_a_different_second_answer_is_a_conflict(
        self, runtime: Runtime, portal: SandboxPortal, confirmed: Sent
    ) -> None:
        sent = confirmed

        with pytest.raises(Conflict):
            portal.answer(sent.portal_request_id, person=sent.person, answer="declined")

    @pytest.mark.parametrize("status", [RequestStatus.EXPIRED, RequestStatus.CANCELLED])
    def test_a_closed_request_cannot_be_answered(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal, status: RequestStatus
    ) -> None:
        sent = sent_request(client, runtime)
        set_status(runtime, sent.request_id, status)

        with pytest.raises(Conflict):
            portal.answer(sent.portal_request_id, person=sent.person, answer="confirmed")
        assert deliveries(runtime)[0].answer is None

    def test_a_request_past_its_window_cannot_be_answered(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal, clock: Any
    ) -> None:
        sent = sent_request(client, runtime)
        clock.advance(dt.timedelta(days=31))

        with pytest.raises(Conflict):
            portal.answer(sent.portal_request_id, person=sent.person, answer="confirmed")


class TestBuildPortal:
    def test_the_sandbox_in_dev_and_test(self, runtime: Runtime) -> None:
        assert isinstance(build_portal(runtime), SandboxPortal)

    def test_the_sandbox_is_refused_in_production(self, runtime: Runtime) -> None:
        production = production_settings(runtime.settings, portal_adapter="sandbox")

        with pytest.raises(PortalConfigError, match="SIMREG_PORTAL_ADAPTER"):
            build_portal(dataclasses.replace(runtime, settings=production))

    def test_http_needs_a_url_and_a_key(self, runtime: Runtime) -> None:
        settings = runtime.settings.model_copy(update={"portal_adapter": "http"})

        with pytest.raises(PortalConfigError, match="SIMREG_PORTAL_URL"):
            build_portal(dataclasses.replace(runtime, settings=settings))

    def test_http_is_built_from_the_settings(self, runtime: Runtime) -> None:
        settings = runtime.settings.model_copy(
            update={
                "portal_adapter": "http",
                "portal_url": "http://127.0.0.1:9",
                "portal_api_key": "k",
            }
        )

        portal = build_portal(dataclasses.replace(runtime, settings=settings))

        assert isinstance(portal, HttpPortal)
        portal.close()

    def test_production_refuses_the_default_signing_secret(self, runtime: Runtime) -> None:
        # Settings themselves refuse it, before any adapter is built.
        with pytest.raises(ValidationError, match="SIMREG_PORTAL_SIGNING_SECRET"):
            production_settings(
                runtime.settings,
                portal_adapter="http",
                portal_url="http://x",
                portal_api_key="k",
                portal_signing_secret=DEV_PORTAL_SECRET,
            )

    def test_an_unknown_adapter_is_refused(self, runtime: Runtime) -> None:
        settings = runtime.settings.model_copy(update={"portal_adapter": "carrier-pigeon"})

        with pytest.raises(PortalConfigError, match="unknown"):
            build_portal(dataclasses.replace(runtime, settings=settings))


def production_settings(base: Settings, **overrides: Any) -> Settings:
    """Production settings with real-looking secrets (production refuses the dev defaults)."""
    return Settings(  # type: ignore[call-arg]
        env=Environment.PRODUCTION,
        database_url=base.database_url,
        jwt_secret="prod-jwt-secret-0123456789-0123456789",
        pd_keys="prod1:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=",
        pd_active_key_id="prod1",
        pd_hash_key="prod-hash-key-0123456789",
        cursor_secret="prod-cursor-secret-0123456789",
        session_secret="prod-session-secret-0123456789",
        _env_file=None,
        **{"portal_signing_secret": "prod-portal-signing-secret-0123456789", **overrides},
    )
