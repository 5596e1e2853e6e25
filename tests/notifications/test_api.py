"""Notification settings and the outbox through the HTTP API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from app.companies.models import CorporateSubscriber
from app.config import Environment
from app.core.clock import FixedClock
from app.core.messages import say
from app.core.runtime import Runtime
from app.notifications.delivery import deliver_due
from app.notifications.service import check_notify_email
from tests.builders import (
    make_company,
    make_operator,
    make_person,
    staff_headers,
    token_headers,
)
from tests.companies.test_api import assert_problem, fields_of
from tests.notifications.builders import SECRET, configure, digest, person_row, queue

GOOD = {
    "notify_email": "sim-admin@romashka.example",
    "notify_webhook_url": "https://hooks.romashka.example/simreg",
    "webhook_secret": SECRET,
}


def settings_path(company_id: int) -> str:
    return f"/api/v1/companies/{company_id}/notification-settings"


def outbox_path(company_id: int) -> str:
    return f"/api/v1/companies/{company_id}/notifications"


def stored_secret(runtime: Runtime, company_id: int) -> str | None:
    with runtime.sessions() as session:
        return session.scalar(
            select(CorporateSubscriber.webhook_secret).where(CorporateSubscriber.id == company_id)
        )


class TestSettings:
    def test_a_new_company_has_none_and_its_messages_go_to_the_log(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        company_id = world["company"]["id"]
        response = client.get(settings_path(company_id), headers=world["admin"])
        assert response.status_code == 200, response.text
        assert response.json() == {
            "company_id": company_id,
            "notify_email": None,
            "notify_webhook_url": None,
            "webhook_secret_set": False,
            "channel": "log",
        }

    def test_the_admin_sets_them_and_the_secret_is_never_shown(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        company_id = world["company"]["id"]

        response = client.put(settings_path(company_id), json=GOOD, headers=world["admin"])

        assert response.status_code == 200, response.text
        expected = {
            "company_id": company_id,
            "notify_email": GOOD["notify_email"],
            "notify_webhook_url": GOOD["notify_webhook_url"],
            "webhook_secret_set": True,
            "channel": "webhook",
        }
        assert response.json() == expected
        assert SECRET not in response.text
        again = client.get(settings_path(company_id), headers=world["admin"])
        assert again.json() == expected
        assert SECRET not in again.text
        assert stored_secret(runtime, company_id) == SECRET

    def test_e_mail_is_the_channel_when_the_registry_has_an_smtp_server(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        configure(runtime, smtp_host="smtp.example")
        body = {"notify_email": "it@romashka.example"}
        response = client.put(
            settings_path(world["company"]["id"]), json=body, headers=world["admin"]
        )
        assert response.json()["channel"] == "email"

    def test_a_secret_left_out_is_kept_and_a_null_one_removed(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        company_id = world["company"]["id"]
        client.put(settings_path(company_id), json=GOOD, headers=world["admin"])

        kept = client.put(
            settings_path(company_id),
            json={"notify_webhook_url": "https://new.romashka.example/hook"},
            headers=world["admin"],
        )
        assert kept.status_code == 200, kept.text
        assert kept.json()["webhook_secret_set"] is True
        assert kept.json()["notify_email"] is None  # PUT replaces what it is not given
        assert stored_secret(runtime, company_id) == SECRET

        cleared = client.put(
            settings_path(company_id), json={"webhook_secret": None}, headers=world["admin"]
        )
        assert cleared.status_code == 200, cleared.text
        assert cleared.json() == {
            "company_id": company_id,
            "notify_email": None,
            "notify_webhook_url": None,
            "webhook_secret_set": False,
            "channel": "log",
        }
        assert stored_secret(runtime, company_id) is None

    def test_staff_may_set_them_too(self, client: TestClient, world: dict[str, Any]) -> None:
        response = client.put(
            settings_path(world["company"]["id"]), json=GOOD, headers=staff_headers(client)
        )
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize(
        "url", ["http://localhost:8080/hook", "http://127.0.0.1:9000/simreg", "HTTPS://X.RU/h"]
    )
    def test_plain_http_to_this_machine_is_allowed_outside_production(
        self, client: TestClient, world: dict[str, Any], url: str
    ) -> None:
        response = client.put(
            settings_path(world["company"]["id"]),
            json={"notify_webhook_url": url, "webhook_secret": SECRET},
            headers=world["admin"],
        )
        assert response.status_code == 200, response.text

    def test_production_refuses_plain_http_even_to_localhost(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        configure(runtime, env=Environment.PRODUCTION)
        response = client.put(
            settings_path(world["company"]["id"]),
            json={"notify_webhook_url": "http://localhost:8080/hook", "webhook_secret": SECRET},
            headers=world["admin"],
        )
        problem = assert_problem(response, 422, "invalid-input")
        assert fields_of(problem) == {"notify_webhook_url": "notify_webhook_url.insecure"}
        assert problem["errors"][0]["message"] == say("webhook_url.insecure.production")

    @pytest.mark.parametrize(
        "address", ["admin@почта.рф", "first.last+sim@sub.romashka.example", "a@b.co"]
    )
    def test_addresses_mail_systems_accept_are_accepted(
        self, client: TestClient, world: dict[str, Any], address: str
    ) -> None:
        response = client.put(
            settings_path(world["company"]["id"]),
            json={"notify_email": address},
            headers=world["admin"],
        )
        assert response.status_code == 200, response.text
        assert response.json()["notify_email"] == address

    def test_an_empty_address_means_none(self, client: TestClient, world: dict[str, Any]) -> None:
        response = client.put(
            settings_path(world["company"]["id"]),
            json={"notify_email": "  ", "notify_webhook_url": ""},
            headers=world["admin"],
        )
        assert response.status_code == 200, response.text
        assert response.json()["notify_email"] is None
        assert response.json()["notify_webhook_url"] is None


class TestSettingsValidation:
    def put(self, client: TestClient, world: dict[str, Any], body: dict[str, Any]) -> Any:
        return client.put(settings_path(world["company"]["id"]), json=body, headers=world["admin"])

    @pytest.mark.parametrize(
        "address",
        [
            "no-at-sign.example",
            "@romashka.example",
            "admin@",
            "admin@localhost",
            "two words@romashka.example",
            "admin@romashka..example",
            "admin@-romashka.example",
            "admin@romashka.123",
            "admin@romashka.example\r\nBcc: x@y.example",
            "a" * 65 + "@romashka.example",
        ],
    )
    def test_a_bad_e_mail_is_named(
        self, client: TestClient, world: dict[str, Any], address: str
    ) -> None:
        problem = assert_problem(
            self.put(client, world, {"notify_email": address}), 422, "invalid-input"
        )
        assert fields_of(problem) == {"notify_email": "notify_email.invalid"}

    @pytest.mark.parametrize(
        ("url", "code"),
        [
            ("ftp://hooks.romashka.example/h", "notify_webhook_url.scheme"),
            ("hooks.romashka.example/simreg", "notify_webhook_url.scheme"),
            ("https://", "notify_webhook_url.scheme"),
            ("http://hooks.romashka.example/h", "notify_webhook_url.insecure"),
            ("http://10.0.0.5/h", "notify_webhook_url.insecure"),
            ("https://user:pw@hooks.romashka.example/h", "notify_webhook_url.credentials"),
            ("https://hooks.romashka.example:99999/h", "notify_webhook_url.invalid"),
            ("https://hooks.romashka.example/a b", "notify_webhook_url.invalid"),
        ],
    )
    def test_a_bad_webhook_url_is_named(
        self, client: TestClient, world: dict[str, Any], url: str, code: str
    ) -> None:
        body = {"notify_webhook_url": url, "webhook_secret": SECRET}
        problem = assert_problem(self.put(client, world, body), 422, "invalid-input")
        assert fields_of(problem) == {"notify_webhook_url": code}

    def test_a_short_secret_is_named(self, client: TestClient, world: dict[str, Any]) -> None:
        body = {**GOOD, "webhook_secret": "too-short"}
        problem = assert_problem(self.put(client, world, body), 422, "invalid-input")
        assert fields_of(problem) == {"webhook_secret": "string_too_short"}

    def test_a_webhook_needs_a_secret(self, client: TestClient, world: dict[str, Any]) -> None:
        body = {"notify_webhook_url": GOOD["notify_webhook_url"]}
        problem = assert_problem(self.put(client, world, body), 422, "invalid-input")
        assert fields_of(problem) == {"webhook_secret": "webhook_secret.required"}

    def test_every_bad_field_is_named_at_once(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        body = {"notify_email": "nope", "notify_webhook_url": "ftp://x.example"}
        problem = assert_problem(self.put(client, world, body), 422, "invalid-input")
        assert fields_of(problem) == {
            "notify_email": "notify_email.invalid",
            "notify_webhook_url": "notify_webhook_url.scheme",
            "webhook_secret": "webhook_secret.required",
        }

    @pytest.mark.parametrize(
        ("body", "field", "code"),
        [
            ({"webhook_token": "x"}, "webhook_token", "extra_forbidden"),
            ({"webhook_secret_set": True}, "webhook_secret_set", "extra_forbidden"),
            ({"notify_email": 5}, "notify_email", "string_type"),
            ({"notify_email": "a@b.example" * 40}, "notify_email", "string_too_long"),
            ({"notify_webhook_url": "https://x.example/" + "a" * 2000}, "notify_webhook_url",
             "string_too_long"),
            ({"webhook_secret": "s" * 201}, "webhook_secret", "string_too_long"),
        ],
    )  # fmt: skip
    def test_a_body_of_the_wrong_shape_is_named(
        self,
        client: TestClient,
        world: dict[str, Any],
        body: dict[str, Any],
        field: str,
        code: str,
    ) -> None:
        problem = assert_problem(self.put(client, world, body), 422, "invalid-input")
        assert fields_of(problem) == {field: code}

    def test_nothing_changes_when_the_body_is_refused(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        company_id = world["company"]["id"]
        client.put(settings_path(company_id), json=GOOD, headers=world["admin"])
        self.put(client, world, {**GOOD, "notify_email": "broken", "webhook_secret": "x" * 20})
        assert (
            client.get(settings_path(company_id), headers=world["admin"]).json()["notify_email"]
            == (GOOD["notify_email"])
        )
        assert stored_secret(runtime, company_id) == SECRET


@given(st.emails())
def test_every_address_of_the_standard_form_is_accepted(address: str) -> None:
    assert check_notify_email(address) is None


@given(st.emails(), st.sampled_from([" ", "\n", "\r\n", "\t"]), st.integers(min_value=0))
def test_whitespace_anywhere_in_an_address_is_refused(
    address: str, space: str, position: int
) -> None:
    at = position % (len(address) + 1)
    assert check_notify_email(address[:at] + space + address[at:]) is not None


class TestAccess:
    @pytest.mark.parametrize("method", ["GET", "PUT"])
    def test_no_token_is_401(self, client: TestClient, world: dict[str, Any], method: str) -> None:
        response = client.request(method, settings_path(world["company"]["id"]), json=GOOD)
        assert_problem(response, 401, "unauthorized")

    def test_no_token_for_the_outboxes_is_401(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        assert_problem(client.get(outbox_path(world["company"]["id"])), 401, "unauthorized")
        assert_problem(client.get("/api/v1/notifications"), 401, "unauthorized")

    @pytest.mark.parametrize("method", ["GET", "PUT"])
    def test_a_person_or_an_operator_system_is_403(
        self, client: TestClient, world: dict[str, Any], method: str
    ) -> None:
        subject = make_person(client)["portal_subject"]
        person = token_headers(client, role="person", subject=subject)
        operator = {"X-API-Key": make_operator(client)["api_key"]}
        for headers in (person, operator):
            for path in (
                settings_path(world["company"]["id"]),
                outbox_path(world["company"]["id"]),
            ):
                if method == "PUT" and path.endswith("/notifications"):
                    continue
                response = client.request(method, path, json=GOOD, headers=headers)
                assert_problem(response, 403, "forbidden")

    def test_only_staff_see_every_company_s_outbox(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        assert_problem(
            client.get("/api/v1/notifications", headers=world["admin"]), 403, "forbidden"
        )

    def test_the_admin_of_another_company_gets_404_even_with_a_bad_body(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        other = make_company(client)
        path = settings_path(other["id"])
        assert_problem(client.get(path, headers=world["admin"]), 404, "not-found")
        for body in (GOOD, {"notify_email": "broken"}):
            response = client.put(path, json=body, headers=world["admin"])
            assert_problem(response, 404, "not-found")
        assert_problem(
            client.get(outbox_path(other["id"]), headers=world["admin"]), 404, "not-found"
        )
        assert stored_secret(runtime, other["id"]) is None

    def test_a_company_that_does_not_exist_is_404_for_staff(self, client: TestClient) -> None:
        staff = staff_headers(client)
        assert_problem(client.get(settings_path(999_999), headers=staff), 404, "not-found")
        assert_problem(
            client.put(settings_path(999_999), json=GOOD, headers=staff), 404, "not-found"
        )
        assert_problem(client.get(outbox_path(999_999), headers=staff), 404, "not-found")


class TestCompanyOutbox:
    def test_newest_first_a_page_at_a_time(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        company = world["company"]
        ids = queue(runtime, [digest(company) for _ in range(5)])
        queue(runtime, [digest(make_company(client))])  # another company's: never listed

        seen: list[int] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            response = client.get(outbox_path(company["id"]), params=params, headers=world["admin"])
            assert response.status_code == 200, response.text
            page = response.json()
            seen += [item["id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break

        assert seen == sorted(ids, reverse=True)
        assert pages == 3

    def test_an_item_shows_its_delivery_and_payload(
        self, client: TestClient, runtime: Runtime, clock: FixedClock, world: dict[str, Any]
    ) -> None:
        company = world["company"]
        row = digest(company)
        [nid] = queue(runtime, [row])
        deliver_due(runtime)

        [item] = client.get(outbox_path(company["id"]), headers=world["admin"]).json()["items"]

        assert item["id"] == nid
        assert (item["audience"], item["event"], item["status"]) == ("company", "digest", "sent")
        assert (item["channel"], item["attempts"], item["last_error"]) == ("log", 1, None)
        assert item["payload"] == row["payload"]
        assert item["subscriber_id"] == company["id"]
        assert dt.datetime.fromisoformat(item["sent_at"]) == clock.now()

    def test_the_status_filter(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        company = world["company"]
        sent = queue(runtime, [digest(company)])
        deliver_due(runtime)
        pending = queue(
            runtime, [person_row(company_id=company["id"], number=n) for n in world["numbers"]]
        )

        def ids(status: str) -> list[int]:
            response = client.get(
                outbox_path(company["id"]), params={"status": status}, headers=world["admin"]
            )
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        assert ids("pending") == sorted(pending, reverse=True)
        assert ids("sent") == sent
        assert ids("dead") == []

    def test_a_bad_status_or_limit_is_named(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        path = outbox_path(world["company"]["id"])
        problem = assert_problem(
            client.get(path, params={"status": "lost"}, headers=world["admin"]),
            422,
            "invalid-input",
        )
        assert fields_of(problem) == {"query.status": "enum"}
        problem = assert_problem(
            client.get(path, params={"limit": 0}, headers=world["admin"]), 422, "invalid-input"
        )
        assert fields_of(problem) == {"query.limit": "greater_than_equal"}

    def test_a_tampered_or_foreign_cursor_is_refused(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        company = world["company"]
        queue(runtime, [digest(company) for _ in range(3)])
        page = client.get(
            outbox_path(company["id"]), params={"limit": 1}, headers=world["admin"]
        ).json()
        cursor = page["next_cursor"]

        tampered = client.get(
            outbox_path(company["id"]),
            params={"cursor": cursor[:-2] + "xx"},
            headers=world["admin"],
        )
        assert fields_of(assert_problem(tampered, 400, "bad-request")) == {
            "cursor": "cursor.invalid"
        }
        numbers_cursor = client.get(
            f"/api/v1/companies/{company['id']}/numbers",
            params={"limit": 1},
            headers=world["admin"],
        ).json()["next_cursor"]
        foreign = client.get(
            outbox_path(company["id"]), params={"cursor": numbers_cursor}, headers=world["admin"]
        )
        assert_problem(foreign, 400, "bad-request")


class TestStaffOutbox:
    def test_every_company_newest_first_with_the_backlog(
        self,
        client: TestClient,
        runtime: Runtime,
        clock: FixedClock,
        world: dict[str, Any],
    ) -> None:
        configure(runtime, notify_max_attempts=2)
        down = world["company"]
        client.put(
            settings_path(down["id"]),
            json={"notify_webhook_url": "http://127.0.0.1:9/nobody", "webhook_secret": SECRET},
            headers=world["admin"],
        )
        fine = make_company(client)
        [a1, b1] = queue(runtime, [digest(down), digest(fine)])
        deliver_due(runtime)  # a1 fails once, b1 is sent
        clock.advance(dt.timedelta(seconds=30))
        [a2] = queue(runtime, [digest(down)])
        a2_created = clock.now()
        deliver_due(runtime)  # a1 dies, a2 fails once
        [b2] = queue(runtime, [digest(fine)])  # due now
        staff = staff_headers(client)

        board = client.get("/api/v1/notifications", headers=staff)

        assert board.status_code == 200, board.text
        body = board.json()
        assert [item["id"] for item in body["items"]] == [b2, a2, b1, a1]
        assert [item["status"] for item in body["items"]] == ["pending", "pending", "sent", "dead"]
        backlog = body["backlog"]
        assert {k: v for k, v in backlog.items() if k != "oldest_pending_at"} == {
            "pending": 2,
            "due": 1,
            "failing": 1,
            "dead": 1,
        }
        assert dt.datetime.fromisoformat(backlog["oldest_pending_at"]) == a2_created

        dead = client.get("/api/v1/notifications", params={"status": "dead"}, headers=staff)
        assert [item["id"] for item in dead.json()["items"]] == [a1]
        assert dead.json()["items"][0]["last_error"] == "webhook unreachable"

        one = client.get("/api/v1/notifications", params={"company_id": fine["id"]}, headers=staff)
        assert [item["id"] for item in one.json()["items"]] == [b2, b1]
        assert one.json()["backlog"] == {
            "pending": 1,
            "due": 1,
            "failing": 0,
            "dead": 0,
            "oldest_pending_at": one.json()["backlog"]["oldest_pending_at"],
        }

    def test_an_empty_outbox(self, client: TestClient) -> None:
        response = client.get("/api/v1/notifications", headers=staff_headers(client))
        assert response.json() == {
            "items": [],
            "next_cursor": None,
            "backlog": {"pending": 0, "due": 0, "failing": 0, "dead": 0, "oldest_pending_at": None},
        }
