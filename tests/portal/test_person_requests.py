"""The person's confirmation requests through the API, the portal webhook, the sandbox switches."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from app.core.clock import FixedClock
from app.core.errors import PROBLEM_JSON
from app.core.runtime import Runtime
from app.portal.dispatch import send_queued
from app.portal.http_portal import sign_answer
from app.portal.models import PortalAnswer, RequestStatus
from app.portal.sandbox_portal import BEHAVIOUR, SandboxBehaviour, SandboxPortal
from tests.builders import (
    employee,
    logged_data,
    make_company_with_numbers,
    make_person,
    staff_headers,
)
from tests.portal.test_portal import (
    load_registration,
    load_request,
    person_headers,
    queue_request,
    register,
    set_status,
)


def world_with_request(
    client: TestClient, runtime: Runtime, *, send: bool = True, **registration: Any
) -> tuple[dict[str, Any], int, int]:
    """A company whose first number is registered to an employee, with a request for it;
    sent to the sandbox portal unless `send` is false. Returns (world, number id, request id)."""
    world = make_company_with_numbers(client, count=1)
    number_id = register(client, world, 0, employee(**registration))
    request_id = queue_request(runtime, number_id)
    if send:
        assert send_queued(runtime, SandboxPortal.from_runtime(runtime)).sent == 1
    return world, number_id, request_id


def act(client: TestClient, headers: dict[str, str], request_id: int, verb: str) -> Any:
    return client.post(f"/api/v1/me/confirmation-requests/{request_id}/{verb}", headers=headers)


class TestMyRequests:
    def test_a_person_sees_every_request_naming_their_document_with_what_came_of_it(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        me = person_headers(client, make_person(client))
        world, _, sent = world_with_request(client, runtime)
        world_with_request(client, runtime, doc_number="4600 112233")
        _, _, closed = world_with_request(client, runtime)
        set_status(runtime, closed, RequestStatus.EXPIRED)
        # Last, so that no later send picks it up.
        _, _, waiting = world_with_request(client, runtime, send=False)

        response = client.get("/api/v1/me/confirmation-requests", headers=me)

        assert response.status_code == 200, response.text
        items = response.json()
        assert [item["id"] for item in items] == [sent, closed, waiting]
        assert [item["status"] for item in items] == ["sent", "expired", "queued"]
        first = items[0]
        assert first["msisdn"] == world["numbers"][0]["msisdn"]
        assert first["company_name"] == world["company"]["name"]
        assert first["company_inn"] == world["company"]["inn"]
        assert first["answer"] is None
        assert first["expires_at"].startswith("2026-12-23")
        assert first["outcome_text"] == "Запрос ждёт вашего ответа на Госуслугах до 23.12.2026."
        assert "не ответили вовремя" in items[1]["outcome_text"]
        # Not sent yet: when it will go, at the portal's rate (the first in the queue: now).
        assert items[2]["expected_send_at"] is not None
        assert "ещё не отправлен" in items[2]["outcome_text"]

    def test_english_on_request(self, client: TestClient, runtime: Runtime) -> None:
        me = person_headers(client, make_person(client))
        world_with_request(client, runtime)

        response = client.get(
            "/api/v1/me/confirmation-requests", headers={**me, "Accept-Language": "en-GB,en"}
        )

        assert response.json()[0]["outcome_text"].startswith("The request is waiting")

    def test_other_roles_are_refused(self, client: TestClient) -> None:
        response = client.get("/api/v1/me/confirmation-requests", headers=staff_headers(client))

        assert response.status_code == 403


class TestConfirmEndToEnd:
    def test_a_confirmation_is_answered_with_hashes_equal_to_the_registrations(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        person = make_person(client)
        _, number_id, request_id = world_with_request(client, runtime)

        response = act(client, person_headers(client, person), request_id, "confirm")

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["id"], body["status"], body["answer"]) == (request_id, "answered", "confirmed")
        request = load_request(runtime, request_id)
        registration = load_registration(runtime, number_id)
        assert request.portal_subject == person["portal_subject"]
        assert request.answered_at == clock.now()
        assert request.verified_name_key == registration.name_key
        assert request.verified_doc_hash == registration.doc_hash
        assert request.verified_birth_hash == registration.birth_date_hash

    def test_a_person_with_another_birth_date_gets_a_different_birth_hash(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        person = make_person(client, birth_date="1986-01-02")
        _, number_id, request_id = world_with_request(client, runtime)

        response = act(client, person_headers(client, person), request_id, "confirm")

        assert response.status_code == 200, response.text
        request = load_request(runtime, request_id)
        registration = load_registration(runtime, number_id)
        assert request.verified_doc_hash == registration.doc_hash
        assert request.verified_birth_hash != registration.birth_date_hash

    def test_a_decline_is_answered(self, client: TestClient, runtime: Runtime) -> None:
        person = make_person(client)
        _, _, request_id = world_with_request(client, runtime)

        response = act(client, person_headers(client, person), request_id, "decline")

        assert response.status_code == 200, response.text
        assert response.json()["answer"] == "declined"
        request = load_request(runtime, request_id)
        assert (request.status, request.answer) == (RequestStatus.ANSWERED, PortalAnswer.DECLINED)

    def test_a_lost_answer_leaves_the_request_sent(
        self, client: TestClient, runtime: Runtime, behaviour: SandboxBehaviour
    ) -> None:
        person = make_person(client)
        _, _, request_id = world_with_request(client, runtime)
        behaviour.lose_answers = True

        response = act(client, person_headers(client, person), request_id, "confirm")

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "sent"
        assert load_request(runtime, request_id).answer is None


class TestBadAnswers:
    def test_someone_elses_request_is_not_found(self, client: TestClient, runtime: Runtime) -> None:
        make_person(client)
        stranger = make_person(client, last_name="Петров", passport="4600 112233")
        _, _, request_id = world_with_request(client, runtime)

        response = act(client, person_headers(client, stranger), request_id, "confirm")

        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON
        assert load_request(runtime, request_id).status is RequestStatus.SENT

    def test_a_missing_request_is_not_found(self, client: TestClient) -> None:
        person = make_person(client)

        assert act(client, person_headers(client, person), 999_999, "confirm").status_code == 404

    def test_answering_twice_gives_the_same_answer(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        headers = person_headers(client, make_person(client))
        _, _, request_id = world_with_request(client, runtime)
        first = act(client, headers, request_id, "confirm")
        clock.advance(dt.timedelta(minutes=3))

        again = act(client, headers, request_id, "confirm")

        assert again.status_code == 200, again.text
        assert again.json() == first.json()

    def test_changing_the_answer_is_a_conflict(self, client: TestClient, runtime: Runtime) -> None:
        headers = person_headers(client, make_person(client))
        _, _, request_id = world_with_request(client, runtime)
        act(client, headers, request_id, "confirm")

        response = act(client, headers, request_id, "decline")

        assert response.status_code == 409
        assert response.json()["code"] == "already_answered"
        assert load_request(runtime, request_id).answer is PortalAnswer.CONFIRMED

    def test_an_expired_request_is_a_conflict(self, client: TestClient, runtime: Runtime) -> None:
        headers = person_headers(client, make_person(client))
        _, _, request_id = world_with_request(client, runtime)
        set_status(runtime, request_id, RequestStatus.EXPIRED)

        response = act(client, headers, request_id, "confirm")

        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["code"] == "request_closed"

    def test_a_request_past_its_window_is_a_conflict(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        headers = person_headers(client, make_person(client))
        _, _, request_id = world_with_request(client, runtime)
        clock.advance(dt.timedelta(days=30, seconds=1))

        assert act(client, headers, request_id, "confirm").status_code == 409

    def test_a_request_not_delivered_yet_is_a_conflict(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        headers = person_headers(client, make_person(client))
        _, _, request_id = world_with_request(client, runtime, send=False)

        response = act(client, headers, request_id, "confirm")

        assert response.status_code == 409
        assert response.json()["code"] == "not_delivered_yet"

    def test_with_the_real_portal_the_person_answers_there(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        headers = person_headers(client, make_person(client))
        _, _, request_id = world_with_request(client, runtime)
        runtime.settings = runtime.settings.model_copy(update={"portal_adapter": "http"})

        response = act(client, headers, request_id, "confirm")

        assert response.status_code == 409
        assert response.json()["code"] == "answer_in_portal"
        assert load_request(runtime, request_id).status is RequestStatus.SENT


def pushed(runtime: Runtime, portal_request_id: str, **overrides: Any) -> dict[str, Any]:
    """A signed answer as the real portal pushes it."""
    body: dict[str, Any] = {
        "portal_request_id": portal_request_id,
        "request_id": "cr-1",
        "answer": "confirmed",
        "portal_subject": "esia-77",
        "verified": {
            "last_name": "Иванов",
            "first_name": "Иван",
            "patronymic": "Иванович",
            "birth_date": "1985-04-12",
            "doc_type": "ru_passport",
            "doc_series": "4512",
            "doc_number": "345678",
        },
    }
    body.update(overrides)
    return {**body, "signature": sign_answer(body, runtime.settings.portal_signing_secret)}


def rejected(reason: str) -> float:
    value = REGISTRY.get_sample_value("simreg_portal_answers_rejected_total", {"reason": reason})
    return value or 0.0


class TestWebhook:
    def test_a_signed_answer_is_recorded(self, client: TestClient, runtime: Runtime) -> None:
        _, number_id, request_id = world_with_request(client, runtime)
        portal_request_id = load_request(runtime, request_id).portal_request_id
        assert portal_request_id is not None

        response = client.post("/api/v1/portal/answers", json=pushed(runtime, portal_request_id))

        assert (response.status_code, response.json()) == (202, {"status": "recorded"})
        request = load_request(runtime, request_id)
        assert request.status is RequestStatus.ANSWERED
        assert request.portal_subject == "esia-77"
        assert request.verified_doc_hash == load_registration(runtime, number_id).doc_hash

    def test_the_same_answer_again_is_a_duplicate(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        _, _, request_id = world_with_request(client, runtime)
        body = pushed(runtime, str(load_request(runtime, request_id).portal_request_id))
        client.post("/api/v1/portal/answers", json=body)

        response = client.post("/api/v1/portal/answers", json=body)

        assert (response.status_code, response.json()) == (202, {"status": "duplicate"})

    def test_an_unknown_request_is_ignored_and_counted(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        before = REGISTRY.get_sample_value("simreg_portal_answers_unknown_total") or 0.0

        response = client.post("/api/v1/portal/answers", json=pushed(runtime, "p-nobody"))

        assert (response.status_code, response.json()) == (202, {"status": "ignored"})
        assert REGISTRY.get_sample_value("simreg_portal_answers_unknown_total") == before + 1

    def test_a_bad_signature_is_rejected_and_counted(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        _, _, request_id = world_with_request(client, runtime)
        body = pushed(runtime, str(load_request(runtime, request_id).portal_request_id))
        body["verified"]["birth_date"] = "1990-01-01"
        before = rejected("signature")

        response = client.post("/api/v1/portal/answers", json=body)

        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM_JSON
        assert rejected("signature") == before + 1
        assert load_request(runtime, request_id).status is RequestStatus.SENT

    def test_a_missing_signature_is_rejected(self, client: TestClient, runtime: Runtime) -> None:
        body = pushed(runtime, "p-1")
        del body["signature"]

        assert client.post("/api/v1/portal/answers", json=body).status_code == 401

    @pytest.mark.parametrize(
        "overrides",
        [{"answer": "perhaps"}, {"verified": None}, {"portal_subject": ""}, {"verified": []}],
    )
    def test_a_wrong_shape_is_rejected_and_counted(
        self, client: TestClient, runtime: Runtime, overrides: dict[str, Any]
    ) -> None:
        before = rejected("shape")

        response = client.post("/api/v1/portal/answers", json=pushed(runtime, "p-1", **overrides))

        assert response.status_code == 400
        assert response.json()["code"] == "invalid_answer"
        assert rejected("shape") == before + 1

    def test_a_body_that_is_not_an_object_is_rejected(self, client: TestClient) -> None:
        response = client.post("/api/v1/portal/answers", json=["not", "an", "answer"])

        assert response.status_code == 400


class TestNoPersonalDataInLogs:
    def test_the_whole_flow_logs_no_passport_or_birth_date(
        self, client: TestClient, runtime: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        person = make_person(client, birth_date="1986-01-02")
        _, _, request_id = world_with_request(client, runtime)
        headers = person_headers(client, person)
        client.get("/api/v1/me/confirmation-requests", headers=headers)
        act(client, headers, request_id, "confirm")
        tampered = pushed(runtime, "p-x")
        tampered["answer"] = "declined"
        client.post("/api/v1/portal/answers", json=tampered)
        client.post("/api/v1/portal/answers", json=pushed(runtime, "p-unknown"))

        logged = logged_data(capsys.readouterr().err)

        assert "portal answer rejected" in logged
        assert "portal answers" in logged
        for secret in ("4512", "345678", "1985-04-12", "1986-01-02", "12.04.1985"):
            assert secret not in logged


class TestSandboxBehaviourApi:
    def test_staff_switch_the_sandbox_portal(self, client: TestClient, runtime: Runtime) -> None:
        response = client.post(
            "/api/v1/sandbox/portal/behaviour",
            json={"fail_sends": True, "delay_seconds": 0.01},
            headers=staff_headers(client),
        )

        assert response.status_code == 200, response.text
        assert response.json() == {
            "delay_seconds": 0.01,
            "fail_sends": True,
            "lose_answers": False,
            "answers_delayed": False,
        }
        _, _, request_id = world_with_request(client, runtime, send=False)
        assert send_queued(runtime, SandboxPortal.from_runtime(runtime)).portal_unavailable
        assert load_request(runtime, request_id).status is RequestStatus.QUEUED

    def test_fields_left_out_keep_their_value(
        self, client: TestClient, behaviour: SandboxBehaviour
    ) -> None:
        behaviour.lose_answers = True

        response = client.post(
            "/api/v1/sandbox/portal/behaviour",
            json={"answers_delayed": True},
            headers=staff_headers(client),
        )

        assert response.json()["lose_answers"] is True
        assert behaviour.answers_delayed is True

    def test_only_staff_may_switch_it(self, client: TestClient) -> None:
        headers = person_headers(client, make_person(client))

        response = client.post(
            "/api/v1/sandbox/portal/behaviour", json={"fail_sends": True}, headers=headers
        )

        assert response.status_code == 403
        assert BEHAVIOUR.fail_sends is False

    def test_unknown_fields_are_refused(self, client: TestClient) -> None:
        response = client.post(
            "/api/v1/sandbox/portal/behaviour",
            json={"explode": True},
            headers=staff_headers(client),
        )

        assert response.status_code == 422
