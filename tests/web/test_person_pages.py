"""The employee's page «Мои номера»: their numbers, answering a confirmation request, a claim,
and who may open it."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.core.runtime import Runtime
from app.portal.models import ConfirmationRequest, RequestStatus
from tests.builders import employee, make_company_with_numbers, make_person, token_headers
from tests.portal.test_portal import load_request
from tests.web.signing import post_form, sign_in

_CONFIRM = re.compile(r'action="/me/confirmation-requests/(\d+)/confirm"')
OTHER_PASSPORT = {"last_name": "Петрова", "first_name": "Анна", "patronymic": "Сергеевна"}


def register(client: TestClient, world: dict[str, Any], index: int, **person: Any) -> str:
    """Name the employee of the world's `index`-th number as its admin; its msisdn."""
    number = world["numbers"][index]
    response = client.put(
        f"/api/v1/companies/{world['company']['id']}/numbers/{number['id']}/registration",
        json=employee(**person),
        headers=world["admin"],
    )
    assert response.status_code == 200, response.text
    msisdn: str = number["msisdn"]
    return msisdn


def run_matching(client: TestClient, world: dict[str, Any]) -> dict[str, Any]:
    """The operator's matching run: asks the people named, decides answered requests."""
    response = client.post(
        "/api/v1/operator/matching-runs", headers={"X-API-Key": world["operator"]["api_key"]}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def asked_world(client: TestClient) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A person (Иванов) named as the user of a company's first number and asked to confirm
    it: (world, person, msisdn)."""
    person = make_person(client)
    world = make_company_with_numbers(client, count=2)
    msisdn = register(client, world, 0)
    assert run_matching(client, world)["requests_sent"] == 1
    return world, person, msisdn


def text_of(page: str) -> str:
    """The page's text as a reader sees it: tags dropped, entities and spaces undone."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def my_page(client: TestClient, **headers: str) -> str:
    response = client.get("/me", headers=headers)
    assert response.status_code == 200, response.text
    return response.text


def request_id_on(page: str) -> int:
    found = _CONFIRM.search(page)
    assert found, "no request to confirm on the page"
    return int(found.group(1))


class TestMyNumbers:
    def test_the_person_sees_their_number_its_status_and_next_step_in_russian(
        self, client: TestClient
    ) -> None:
        world, person, msisdn = asked_world(client)
        sign_in(client, "person", subject=person["portal_subject"])

        page = text_of(my_page(client))

        assert msisdn in page
        assert world["company"]["name"] in page
        assert "Подтвердите на Госуслугах" in page
        assert "Запрос ждёт вашего ответа на Госуслугах до" in page
        # Their own data, as the company gave them, are theirs to see in clear.
        assert "Иванов Иван Иванович" in page
        assert "4512 345678" in page or "45 12 345678" in page

    def test_a_person_without_numbers_is_told_what_to_do(self, client: TestClient) -> None:
        person = make_person(client, passport="4600 111111")
        sign_in(client, "person", subject=person["portal_subject"])

        page = text_of(my_page(client))

        assert "На вас пока не зарегистрирован ни один корпоративный номер" in page
        assert "попросите её администратора указать вас пользователем номера" in page
        assert "Вы ещё не подавали заявок" in page

    def test_one_person_never_sees_anothers_numbers(self, client: TestClient) -> None:
        world, _, ivans_number = asked_world(client)
        anna = make_person(client, passport="4600 222222", **OTHER_PASSPORT)
        annas_number = register(
            client, world, 1, doc_number="4600 222222", snils=None, **OTHER_PASSPORT
        )
        run_matching(client, world)
        sign_in(client, "person", subject=anna["portal_subject"])

        page = text_of(my_page(client))

        assert annas_number in page
        assert ivans_number not in page
        assert "Иванов" not in page
        assert "4512" not in page

    def test_english_on_request(self, client: TestClient) -> None:
        _, person, _ = asked_world(client)
        sign_in(client, "person", subject=person["portal_subject"])

        response = client.get("/me", headers={"Accept-Language": "en-GB,en"})

        page = text_of(response.text)
        assert response.headers["content-language"] == "en"
        assert "Numbers registered to you" in page
        assert "The request is waiting" in page
        assert "Мои номера" not in page


class TestAnswering:
    def test_a_confirmation_on_the_page_makes_the_number_active(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        world, person, msisdn = asked_world(client)
        sign_in(client, "person", subject=person["portal_subject"])
        request_id = request_id_on(my_page(client))

        response = post_form(client, f"/me/confirmation-requests/{request_id}/confirm", {})

        assert response.status_code == 303  # type: ignore[attr-defined]
        assert response.headers["location"] == "/me#requests"  # type: ignore[attr-defined]
        flashed = text_of(my_page(client))
        assert f"Вы подтвердили, что пользуетесь номером {msisdn}" in flashed
        assert load_request(runtime, request_id).status is RequestStatus.ANSWERED
        assert run_matching(client, world)["confirmed_active"] == 1
        page = text_of(my_page(client))
        assert "Номер зарегистрирован на вас и подтверждён." in page
        assert "Вы подтвердили номер, данные совпали" in page  # in the answered requests
        assert "/confirm" not in my_page(client)
        # The flash is shown once.
        assert "Вы подтвердили, что пользуетесь" not in page

    def test_a_decline_on_the_page(self, client: TestClient, runtime: Runtime) -> None:
        world, person, msisdn = asked_world(client)
        sign_in(client, "person", subject=person["portal_subject"])
        request_id = request_id_on(my_page(client))

        post_form(client, f"/me/confirmation-requests/{request_id}/decline", {})

        assert f"Вы ответили, что не пользуетесь номером {msisdn}" in text_of(my_page(client))
        assert load_request(runtime, request_id).answer == "declined"
        run_matching(client, world)
        assert "Вы ответили, что не пользуетесь этим номером." in text_of(my_page(client))

    def test_a_second_different_answer_is_refused_in_words(self, client: TestClient) -> None:
        _, person, _ = asked_world(client)
        sign_in(client, "person", subject=person["portal_subject"])
        request_id = request_id_on(my_page(client))
        post_form(client, f"/me/confirmation-requests/{request_id}/confirm", {})
        my_page(client)  # the first flash, read

        response = post_form(client, f"/me/confirmation-requests/{request_id}/decline", {})

        assert response.status_code == 303  # type: ignore[attr-defined]
        assert "уже" in text_of(my_page(client))  # confirmation.already_answered

    def test_someone_elses_request_cannot_be_answered(
        self, app: FastAPI, client: TestClient, runtime: Runtime
    ) -> None:
        asked_world(client)
        with runtime.sessions() as session:
            request_id = session.scalars(select(ConfirmationRequest.id)).one()
        other = TestClient(app)
        stranger = make_person(other, passport="4600 333333", **OTHER_PASSPORT)
        sign_in(other, "person", subject=stranger["portal_subject"])

        post_form(other, f"/me/confirmation-requests/{request_id}/confirm", {})

        assert f"Запрос подтверждения {request_id} не найден" in text_of(my_page(other))
        assert load_request(runtime, request_id).answer is None


class TestClaims:
    def test_a_claim_through_the_form_shows_in_the_earlier_requests(
        self, client: TestClient
    ) -> None:
        world = make_company_with_numbers(client, count=1)
        person = make_person(client)
        sign_in(client, "person", subject=person["portal_subject"])
        msisdn = world["numbers"][0]["msisdn"]

        response = post_form(
            client,
            "/me/claims",
            {
                "msisdn": msisdn,
                "company_inn": world["company"]["inn"],
                "company_name": world["company"]["name"],
            },
        )

        assert response.status_code == 303  # type: ignore[attr-defined]
        page = text_of(my_page(client))
        assert f"Заявка на номер {msisdn} подана и ждёт решения администратора компании" in page
        claims = page.split("Заявки на номера", 1)[1]
        assert msisdn in claims
        assert "Ждёт решения компании" in claims
        mine = client.get(
            "/api/v1/me/claims",
            headers=token_headers(client, role="person", subject=person["portal_subject"]),
        ).json()
        assert [(c["msisdn"], c["status"]) for c in mine] == [(msisdn, "pending")]

    def test_a_bad_claim_keeps_what_was_typed_and_says_what_is_wrong(
        self, client: TestClient
    ) -> None:
        person = make_person(client)
        sign_in(client, "person", subject=person["portal_subject"])

        response = post_form(
            client,
            "/me/claims",
            {"msisdn": "12345", "company_inn": "7707083894", "company_name": 'ООО "Ромашка"'},
        )

        assert response.status_code == 422  # type: ignore[attr-defined]
        page = response.text  # type: ignore[attr-defined]
        assert 'value="12345"' in page
        assert 'value="7707083894"' in page
        assert 'value="ООО &#34;Ромашка&#34;"' in page or 'value="ООО &quot;Ромашка&quot;"' in page
        assert 'id="claim-msisdn-error"' in page
        assert 'id="claim-company_inn-error"' in page
        assert "Заявка не подана: исправьте 2 поля." in text_of(page)
        assert "контрольн" in text_of(page)  # the INN's check digit, in Russian

    def test_an_empty_field_is_named_in_russian(self, client: TestClient) -> None:
        person = make_person(client)
        sign_in(client, "person", subject=person["portal_subject"])

        response = post_form(
            client, "/me/claims", {"msisdn": "+79120000001", "company_inn": "", "company_name": ""}
        )

        assert response.status_code == 422  # type: ignore[attr-defined]
        page = response.text  # type: ignore[attr-defined]
        assert 'value="+79120000001"' in page
        assert "слишком коротко" in text_of(page)
        assert "Заявка не подана: исправьте 2 поля." in text_of(page)


class TestAccess:
    def test_no_session_leads_to_sign_in(self, client: TestClient) -> None:
        response = client.get("/me", follow_redirects=False)

        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in?next=/me"

    def test_staff_and_admins_are_refused(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=1)
        sign_in(client, "operator_staff", subject="staff@demo")
        assert client.get("/me").status_code == 403
        sign_in(client, "company_admin", company_id=world["company"]["id"])
        assert client.get("/me").status_code == 403

    def test_answers_and_claims_without_the_csrf_token_change_nothing(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        world, person, msisdn = asked_world(client)
        sign_in(client, "person", subject=person["portal_subject"])
        request_id = request_id_on(my_page(client))

        for verb in ("confirm", "decline"):
            response = client.post(
                f"/me/confirmation-requests/{request_id}/{verb}", follow_redirects=False
            )
            assert response.status_code == 403
        claim = {"msisdn": msisdn, "company_inn": world["company"]["inn"], "company_name": "x"}
        response = client.post("/me/claims", data=claim, follow_redirects=False)
        assert response.status_code == 403

        assert load_request(runtime, request_id).answer is None
        assert "Вы ещё не подавали заявок" in text_of(my_page(client))
