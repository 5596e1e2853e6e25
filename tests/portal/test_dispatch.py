"""Sending queued requests (rate limit, backoff, never losing one) and recording answers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.numbers.registration_rules import document_hash
from app.portal.answers import collect_answers
from app.portal.dispatch import backoff_seconds, send_queued
from app.portal.models import (
    ConfirmationRequest,
    PortalAnswer,
    PortalSendAllowance,
    RequestStatus,
    SandboxDelivery,
)
from app.portal.port import (
    PortalAnswerMessage,
    PortalRequest,
    SendOutcome,
    VerifiedIdentity,
)
from app.portal.sandbox_portal import SandboxBehaviour, SandboxPortal
from tests.builders import employee, make_company_with_numbers, make_person
from tests.portal.test_portal import (
    load_person,
    load_registration,
    load_request,
    queue_request,
    register,
    set_status,
)

BASE = 30.0  # portal_retry_base_seconds by default
CAP = 3600.0  # portal_retry_max_seconds by default


def queued(client: TestClient, runtime: Runtime, count: int) -> list[int]:
    """`count` queued requests for one operator's numbers; returns their ids."""
    world = make_company_with_numbers(client, count=count)
    return [queue_request(runtime, register(client, world, i)) for i in range(count)]


def statuses(runtime: Runtime, ids: Sequence[int]) -> list[RequestStatus]:
    return [load_request(runtime, i).status for i in ids]


def delivery_count(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return len(list(session.scalars(select(SandboxDelivery.id))))


# The portal's id of the request the `sent_to_scripted_portal` fixture sends.
SCRIPTED_PORTAL_ID = "p-8"


class ScriptedPortal:
    """A portal whose outcomes and answers a test dictates."""

    def __init__(
        self,
        outcome: Any = None,
        answers: Sequence[PortalAnswerMessage] = (),
    ) -> None:
        self._outcome = outcome
        self.answers = list(answers)
        self.sent: list[PortalRequest] = []
        self.acked: list[str] = []

    def send(self, requests: Sequence[PortalRequest]) -> list[SendOutcome]:
        self.sent.extend(requests)
        outcomes = [self._outcome(r) if self._outcome else None for r in requests]
        return [o for o in outcomes if o is not None]

    def fetch_answers(self, *, limit: int = 1000) -> list[PortalAnswerMessage]:
        return self.answers[:limit]

    def acknowledge(self, portal_request_ids: Sequence[str]) -> None:
        self.acked.extend(portal_request_ids)


def within(value: dt.datetime | None, now: dt.datetime, seconds: float) -> bool:
    """`value` is `seconds` after `now`, give or take the 10% jitter."""
    assert value is not None
    delay = (value - now).total_seconds()
    return seconds * 0.9 - 0.001 <= delay <= seconds * 1.1 + 0.001


class TestSendQueued:
    def test_a_queued_request_is_sent(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal, clock: FixedClock
    ) -> None:
        [request_id] = queued(client, runtime, 1)

        report = send_queued(runtime, portal)

        assert (report.picked, report.sent) == (1, 1)
        request = load_request(runtime, request_id)
        assert request.status is RequestStatus.SENT
        assert request.sent_at == clock.now()
        assert request.attempts == 1
        assert request.next_attempt_at is None
        with runtime.sessions() as session:
            delivery = session.scalars(select(SandboxDelivery)).one()
        assert delivery.portal_request_id == request.portal_request_id
        assert delivery.request_id == f"cr-{request_id}"

    def test_the_request_carries_the_company_and_the_registration_data(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        world = make_company_with_numbers(client, count=1)
        number_id = register(client, world, 0, employee(patronymic=None))
        queue_request(runtime, number_id)
        scripted = ScriptedPortal(lambda r: SendOutcome(r.request_id, "p-1", None, False))

        send_queued(runtime, scripted)

        [sent] = scripted.sent
        assert sent.msisdn == world["numbers"][0]["msisdn"]
        assert (sent.company_name, sent.company_inn) == (
            world["company"]["name"],
            world["company"]["inn"],
        )
        assert (sent.last_name, sent.first_name, sent.patronymic) == ("Иванов", "Иван", None)
        assert (sent.doc_type, sent.doc_series, sent.doc_number) == (
            "ru_passport",
            "4512",
            "345678",
        )
        assert sent.birth_date == "1985-04-12"

    def test_a_request_waiting_for_its_retry_is_not_sent(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal, clock: FixedClock
    ) -> None:
        [request_id] = queued(client, runtime, 1)
        with runtime.sessions() as session:
            session.get_one(ConfirmationRequest, request_id).next_attempt_at = (
                clock.now() + dt.timedelta(minutes=1)
            )
            session.commit()

        assert send_queued(runtime, portal).picked == 0
        clock.advance(dt.timedelta(minutes=1))
        assert send_queued(runtime, portal).sent == 1

    def test_a_request_past_its_window_is_left_for_expiry(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        world = make_company_with_numbers(client, count=1)
        request_id = queue_request(
            runtime, register(client, world, 0), expires_in=dt.timedelta(seconds=0)
        )

        assert send_queued(runtime, portal).picked == 0
        assert load_request(runtime, request_id).status is RequestStatus.QUEUED

    def test_a_request_whose_user_was_removed_is_cancelled_not_sent(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        world = make_company_with_numbers(client, count=1)
        number_id = register(client, world, 0)
        request_id = queue_request(runtime, number_id)
        response = client.delete(
            f"/api/v1/companies/{world['company']['id']}/numbers/{number_id}/registration",
            headers=world["admin"],
        )
        assert response.status_code == 200, response.text

        send_queued(runtime, portal)

        assert load_request(runtime, request_id).status is RequestStatus.CANCELLED
        assert delivery_count(runtime) == 0

    def test_the_limit_bounds_one_call(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        ids = queued(client, runtime, 3)

        assert send_queued(runtime, portal, limit=2).sent == 2
        assert sorted(statuses(runtime, ids)) == sorted(
            [RequestStatus.SENT, RequestStatus.SENT, RequestStatus.QUEUED]
        )


def paused_until(runtime: Runtime, operator_id: int = 1) -> dt.datetime | None:
    with runtime.sessions() as session:
        row = session.get(PortalSendAllowance, operator_id)
        return row.paused_until if row else None


class TestPortalDown:
    def test_the_operator_waits_with_backoff_and_the_queue_goes_out_in_order_when_it_is_back(
        self,
        client: TestClient,
        runtime: Runtime,
        portal: SandboxPortal,
        clock: FixedClock,
        behaviour: SandboxBehaviour,
    ) -> None:
        ids = queued(client, runtime, 3)
        behaviour.fail_sends = True

        report = send_queued(runtime, portal)

        assert report.portal_unavailable
        assert report.sent == 0
        assert statuses(runtime, ids) == [RequestStatus.QUEUED] * 3
        assert all(load_request(runtime, i).attempts == 0 for i in ids)
        assert within(paused_until(runtime), clock.now(), BASE)
        # Paused: a second run at once does not hammer the portal.
        assert send_queued(runtime, portal).picked == 0

        clock.advance(dt.timedelta(seconds=40))
        assert send_queued(runtime, portal).portal_unavailable
        assert within(paused_until(runtime), clock.now(), 2 * BASE)

        behaviour.fail_sends = False
        clock.advance(dt.timedelta(seconds=70))
        report = send_queued(runtime, portal)

        assert report.sent == 3
        assert statuses(runtime, ids) == [RequestStatus.SENT] * 3
        assert delivery_count(runtime) == 3
        assert paused_until(runtime) is None


class TestRateLimit:
    def test_one_call_sends_at_most_the_rate_for_one_operator(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal, clock: FixedClock
    ) -> None:
        assert runtime.settings.portal_rate_per_operator == 10
        ids = queued(client, runtime, 13)

        assert send_queued(runtime, portal).sent == 10
        assert statuses(runtime, ids).count(RequestStatus.QUEUED) == 3
        # Same instant: the bucket is empty.
        assert send_queued(runtime, portal).sent == 0

        clock.advance(dt.timedelta(seconds=1))
        assert send_queued(runtime, portal).sent == 3
        assert statuses(runtime, ids) == [RequestStatus.SENT] * 13

    def test_each_operator_has_its_own_rate(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        first = queued(client, runtime, 12)
        second = queued(client, runtime, 11)

        assert send_queued(runtime, portal).sent == 20
        assert statuses(runtime, first).count(RequestStatus.SENT) == 10
        assert statuses(runtime, second).count(RequestStatus.SENT) == 10

    def test_a_fraction_of_a_second_refills_a_share(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal, clock: FixedClock
    ) -> None:
        queued(client, runtime, 15)
        send_queued(runtime, portal)

        clock.advance(dt.timedelta(milliseconds=300))

        assert send_queued(runtime, portal).sent == 3


class TestPerItemErrors:
    def test_a_passing_error_waits_the_backoff_and_a_refusal_the_longest(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        busy, refused, silent = queued(client, runtime, 3)

        def outcome(request: PortalRequest) -> SendOutcome | None:
            if request.request_id == f"cr-{busy}":
                return SendOutcome(request.request_id, None, "busy", True)
            if request.request_id == f"cr-{refused}":
                return SendOutcome(request.request_id, None, "bad document", False)
            return None

        report = send_queued(runtime, ScriptedPortal(outcome))

        assert (report.retry_later, report.refused, report.sent) == (2, 1, 0)
        busy_row, refused_row, silent_row = (
            load_request(runtime, i) for i in (busy, refused, silent)
        )
        assert {busy_row.status, refused_row.status, silent_row.status} == {RequestStatus.QUEUED}
        assert busy_row.last_error == "busy"
        assert within(busy_row.next_attempt_at, clock.now(), BASE)
        assert refused_row.last_error == "bad document"
        assert within(refused_row.next_attempt_at, clock.now(), CAP)
        assert silent_row.last_error == "no outcome from the portal"
        assert within(silent_row.next_attempt_at, clock.now(), BASE)


class TestBackoff:
    @pytest.mark.parametrize(("attempts", "expected"), [(1, 30), (2, 60), (3, 120), (7, 1920)])
    def test_it_doubles_with_jitter(self, attempts: int, expected: float) -> None:
        for _ in range(50):
            delay = backoff_seconds(attempts, base=BASE, cap=CAP)
            assert expected * 0.9 <= delay <= expected * 1.1

    def test_it_stops_at_the_cap(self) -> None:
        delays = [backoff_seconds(40, base=BASE, cap=CAP) for _ in range(50)]

        assert all(CAP * 0.9 <= d <= CAP * 1.1 for d in delays)
        assert len(set(delays)) > 1


def sent_with_person(
    client: TestClient, runtime: Runtime, portal: SandboxPortal, **person: Any
) -> tuple[int, int, str]:
    """A sent request for a registered employee and a sandbox person; (request, number, subject)."""
    subject = make_person(client, **person)["portal_subject"]
    world = make_company_with_numbers(client, count=1)
    number_id = register(client, world, 0)
    request_id = queue_request(runtime, number_id)
    send_queued(runtime, portal)
    return request_id, number_id, subject


def answer(
    runtime: Runtime, portal: SandboxPortal, request_id: int, subject: str, kind: Any
) -> None:
    portal_request_id = load_request(runtime, request_id).portal_request_id
    assert portal_request_id is not None
    portal.answer(portal_request_id, person=load_person(runtime, subject), answer=kind)


def verified_message(portal_request_id: str) -> PortalAnswerMessage:
    return PortalAnswerMessage(
        portal_request_id=portal_request_id,
        request_id="cr-0",
        answer="confirmed",
        portal_subject="esia-1",
        verified=VerifiedIdentity(
            "Иванов", "Иван", None, "1985-04-12", "ru_passport", "45 12", "345678"
        ),
    )


class TestCollectAnswers:
    def test_a_confirmation_is_recorded_as_hashes_equal_to_the_registrations(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal, clock: FixedClock
    ) -> None:
        request_id, number_id, subject = sent_with_person(client, runtime, portal)
        answer(runtime, portal, request_id, subject, "confirmed")
        clock.advance(dt.timedelta(hours=2))

        report = collect_answers(runtime, portal)

        assert (report.fetched, report.recorded) == (1, 1)
        request = load_request(runtime, request_id)
        registration = load_registration(runtime, number_id)
        assert request.status is RequestStatus.ANSWERED
        assert request.answer is PortalAnswer.CONFIRMED
        assert request.portal_subject == subject
        assert request.answered_at == clock.now()
        assert request.verified_name_key == registration.name_key
        assert request.verified_doc_hash == registration.doc_hash
        assert request.verified_birth_hash == registration.birth_date_hash
        # Acknowledged: the portal does not hand it out again.
        assert portal.fetch_answers() == []

    def test_a_different_birth_date_gives_a_different_hash(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        request_id, number_id, subject = sent_with_person(
            client, runtime, portal, birth_date="1986-01-02"
        )
        answer(runtime, portal, request_id, subject, "confirmed")

        collect_answers(runtime, portal)

        request = load_request(runtime, request_id)
        registration = load_registration(runtime, number_id)
        assert request.verified_birth_hash != registration.birth_date_hash
        assert request.verified_doc_hash == registration.doc_hash
        assert request.verified_name_key == registration.name_key

    def test_a_decline_is_recorded_without_identity(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        request_id, _, subject = sent_with_person(client, runtime, portal)
        answer(runtime, portal, request_id, subject, "declined")

        collect_answers(runtime, portal)

        request = load_request(runtime, request_id)
        assert (request.status, request.answer) == (RequestStatus.ANSWERED, PortalAnswer.DECLINED)
        assert request.verified_doc_hash is None
        assert request.verified_birth_hash is None

    def test_a_spaced_document_from_the_portal_hashes_like_the_companys(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        world = make_company_with_numbers(client, count=1)
        number_id = register(client, world, 0)
        request_id = queue_request(runtime, number_id)
        send_queued(
            runtime, ScriptedPortal(lambda r: SendOutcome(r.request_id, "p-7", None, False))
        )

        collect_answers(runtime, ScriptedPortal(answers=[verified_message("p-7")]))

        request = load_request(runtime, request_id)
        assert request.verified_doc_hash == load_registration(runtime, number_id).doc_hash
        assert request.verified_doc_hash == document_hash(runtime.vault, "ru_passport:4512345678")

    def test_the_verified_plaintext_is_never_stored(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        request_id, _, subject = sent_with_person(client, runtime, portal, birth_date="1986-01-02")
        answer(runtime, portal, request_id, subject, "confirmed")

        collect_answers(runtime, portal)

        request = load_request(runtime, request_id)
        stored = " ".join(
            str(getattr(request, column.key)) for column in ConfirmationRequest.__table__.columns
        )
        for secret in ("345678", "4512", "1986-01-02", "1986"):
            assert secret not in stored

    def test_an_unknown_answer_is_ignored_counted_and_acknowledged(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        before = REGISTRY.get_sample_value("simreg_portal_answers_unknown_total") or 0.0
        scripted = ScriptedPortal(answers=[verified_message("p-nobody")])

        report = collect_answers(runtime, scripted)

        assert (report.unknown, report.recorded) == (1, 0)
        assert REGISTRY.get_sample_value("simreg_portal_answers_unknown_total") == before + 1
        assert scripted.acked == ["p-nobody"]

    @pytest.mark.parametrize("status", [RequestStatus.EXPIRED, RequestStatus.CANCELLED])
    def test_a_late_answer_changes_nothing(
        self, runtime: Runtime, sent_to_scripted_portal: int, status: RequestStatus
    ) -> None:
        request_id = sent_to_scripted_portal
        set_status(runtime, request_id, status)

        report = collect_answers(
            runtime, ScriptedPortal(answers=[verified_message(SCRIPTED_PORTAL_ID)])
        )

        assert report.late == 1
        request = load_request(runtime, request_id)
        assert (request.status, request.answer, request.verified_doc_hash) == (status, None, None)

    def test_the_same_answer_twice_is_a_duplicate(
        self, runtime: Runtime, clock: FixedClock, sent_to_scripted_portal: int
    ) -> None:
        request_id = sent_to_scripted_portal
        scripted = ScriptedPortal(answers=[verified_message(SCRIPTED_PORTAL_ID)])
        collect_answers(runtime, scripted)
        first = load_request(runtime, request_id).answered_at
        clock.advance(dt.timedelta(minutes=5))

        report = collect_answers(runtime, scripted)

        assert (report.duplicate, report.recorded) == (1, 0)
        assert load_request(runtime, request_id).answered_at == first

    def test_a_lost_answer_leaves_the_request_waiting(
        self,
        client: TestClient,
        runtime: Runtime,
        portal: SandboxPortal,
        behaviour: SandboxBehaviour,
    ) -> None:
        request_id, _, subject = sent_with_person(client, runtime, portal)
        answer(runtime, portal, request_id, subject, "confirmed")
        behaviour.lose_answers = True

        report = collect_answers(runtime, portal)

        assert report.fetched == 0
        assert load_request(runtime, request_id).status is RequestStatus.SENT

    def test_a_slow_portal_still_gets_its_requests(
        self,
        client: TestClient,
        runtime: Runtime,
        portal: SandboxPortal,
        behaviour: SandboxBehaviour,
    ) -> None:
        behaviour.delay_seconds = 0.05
        ids = queued(client, runtime, 2)

        assert send_queued(runtime, portal).sent == 2
        assert statuses(runtime, ids) == [RequestStatus.SENT] * 2


@pytest.mark.postgres_only
class TestTwoDispatchers:
    def test_rows_locked_by_one_dispatcher_are_skipped_by_another(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal
    ) -> None:
        ids = queued(client, runtime, 4)
        with runtime.sessions() as other:
            # Another dispatcher holds the first two requests mid-send.
            held = list(
                other.scalars(
                    select(ConfirmationRequest)
                    .where(ConfirmationRequest.id.in_(ids[:2]))
                    .with_for_update()
                )
            )
            assert len(held) == 2

            report = send_queued(runtime, portal)

            assert report.sent == 2
            other.rollback()
        assert statuses(runtime, ids) == [RequestStatus.QUEUED] * 2 + [RequestStatus.SENT] * 2
