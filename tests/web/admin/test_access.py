"""Who may open the cabinet: its admin and operator staff; another company's admin gets 404
everywhere, a person 403, nobody signed in the sign-in page; a form without its CSRF token is
refused and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.builders import make_person
from tests.web.signing import post_form, sign_in

GETS = (
    "",
    "/uploads",
    "/uploads/{upload}",
    "/uploads/{upload}/progress",
    "/uploads/{upload}/errors.csv",
    "/uploads/{upload}/errors.xlsx",
    "/numbers",
    "/numbers.csv",
    "/numbers.xlsx",
    "/numbers/{number}",
    "/claims",
    "/notifications",
)
POSTS = (
    ("/numbers/{number}/resend", {}),
    ("/claims/{claim}/approve", {}),
    ("/claims/{claim}/reject", {"reason": "не наш сотрудник"}),
    ("/notifications", {"email": "sim@romashka.ru"}),
)


def _path(world: dict[str, Any], template: str) -> str:
    ids = {"upload": world["upload_id"], "number": world["numbers"][0]["id"], "claim": 1}
    return f"/companies/{world['company']['id']}" + template.format(**ids)


@pytest.fixture
def uploaded(client: TestClient, world: dict[str, Any]) -> dict[str, Any]:
    """The world with one upload of its admin's (a check with a refused row)."""
    content = "Номер телефона;Фамилия\r\n+7 999 000-00-00;Иванов\r\n".encode("cp1251")
    response = client.post(
        f"/api/v1/companies/{world['company']['id']}/uploads",
        files={"file": ("list.csv", content, "text/csv")},
        data={"mode": "validate"},
        headers=world["admin"],
    )
    assert response.status_code == 202, response.text
    return {**world, "upload_id": response.json()["id"]}


class TestAnotherCompanysAdmin:
    @pytest.mark.parametrize("template", GETS)
    def test_every_page_is_not_found(
        self, client: TestClient, uploaded: dict[str, Any], template: str
    ) -> None:
        sign_in(client, "company_admin", company_id=uploaded["other"]["id"])
        response = client.get(_path(uploaded, template), follow_redirects=False)
        assert response.status_code == 404, response.text
        assert "не найден" in response.text or "нет" in response.text

    @pytest.mark.parametrize(("template", "data"), POSTS)
    def test_every_form_is_not_found(
        self, client: TestClient, uploaded: dict[str, Any], template: str, data: dict[str, str]
    ) -> None:
        sign_in(client, "company_admin", company_id=uploaded["other"]["id"])
        response: Any = post_form(client, _path(uploaded, template), data)
        assert response.status_code == 404, response.text

    def test_the_upload_form_is_not_found(
        self, client: TestClient, uploaded: dict[str, Any]
    ) -> None:
        sign_in(client, "company_admin", company_id=uploaded["other"]["id"])
        response: Any = post_form(
            client,
            _path(uploaded, "/uploads"),
            {"mode": "apply"},
            files={"file": ("list.csv", b"x;y\r\n", "text/csv")},
        )
        assert response.status_code == 404, response.text


class TestAPerson:
    @pytest.mark.parametrize("template", GETS)
    def test_every_page_is_forbidden(
        self, client: TestClient, uploaded: dict[str, Any], template: str
    ) -> None:
        person = make_person(client)
        sign_in(client, "person", subject=person["portal_subject"])
        response = client.get(_path(uploaded, template), follow_redirects=False)
        assert response.status_code == 403
        assert "Эта страница не для вашей учётной записи." in response.text

    @pytest.mark.parametrize(("template", "data"), POSTS)
    def test_every_form_is_forbidden(
        self, client: TestClient, uploaded: dict[str, Any], template: str, data: dict[str, str]
    ) -> None:
        person = make_person(client)
        sign_in(client, "person", subject=person["portal_subject"])
        response: Any = post_form(client, _path(uploaded, template), data)
        assert response.status_code == 403


class TestNobodySignedIn:
    @pytest.mark.parametrize("template", GETS)
    def test_every_page_leads_to_the_sign_in_page(
        self, client: TestClient, uploaded: dict[str, Any], template: str
    ) -> None:
        path = _path(uploaded, template)
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in?next=" + path


class TestStaff:
    @pytest.mark.parametrize("template", GETS)
    def test_operator_staff_open_any_company(
        self, client: TestClient, uploaded: dict[str, Any], template: str
    ) -> None:
        sign_in(client, "operator_staff", subject="staff@operator")
        response = client.get(_path(uploaded, template), follow_redirects=False)
        assert response.status_code == 200, response.text

    def test_staff_do_not_act_for_the_company(
        self, client: TestClient, uploaded: dict[str, Any]
    ) -> None:
        sign_in(client, "operator_staff", subject="staff@operator")
        response: Any = post_form(client, _path(uploaded, "/numbers/{number}/resend"), {})
        assert response.status_code == 403


class TestFormsWithoutTheirToken:
    @pytest.mark.parametrize(("template", "data"), POSTS)
    def test_are_refused_and_change_nothing(
        self, client: TestClient, uploaded: dict[str, Any], template: str, data: dict[str, str]
    ) -> None:
        company_id = uploaded["company"]["id"]
        sign_in(client, "company_admin", company_id=company_id)
        before = client.get(
            f"/api/v1/companies/{company_id}/notification-settings", headers=uploaded["admin"]
        ).json()

        response = client.post(_path(uploaded, template), data=data, follow_redirects=False)

        assert response.status_code == 403
        assert "Форма устарела" in response.text
        after = client.get(
            f"/api/v1/companies/{company_id}/notification-settings", headers=uploaded["admin"]
        ).json()
        assert after == before

    def test_an_upload_without_its_token_is_refused(
        self, client: TestClient, uploaded: dict[str, Any]
    ) -> None:
        company_id = uploaded["company"]["id"]
        sign_in(client, "company_admin", company_id=company_id)
        response = client.post(
            _path(uploaded, "/uploads"),
            data={"mode": "apply"},
            files={"file": ("list.csv", b"x;y\r\n", "text/csv")},
            follow_redirects=False,
        )
        assert response.status_code == 403
        listed = client.get(
            f"/api/v1/companies/{company_id}/uploads", headers=uploaded["admin"]
        ).json()
        assert [u["id"] for u in listed["items"]] == [uploaded["upload_id"]]
