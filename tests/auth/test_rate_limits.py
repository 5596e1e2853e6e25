"""Guard rails: a person's /me requests, and failed sign-ins from one address or with one
credential, are rate limited, each refusal a 429 problem+json with Retry-After; other callers,
and valid credentials, are not held back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.core.rate_limit import RateLimiter
from app.main import create_app
from tests.builders import make_operator, make_person, staff_headers, token_headers


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


class TestTokenBucket:
    def test_a_burst_then_the_average_rate(self) -> None:
        ticks = Ticks()
        limiter = RateLimiter(per_minute=60, burst=3, clock=ticks)

        assert [limiter.take("k") for _ in range(3)] == [0, 0, 0]
        assert limiter.take("k") == pytest.approx(1.0)
        ticks.at += 1.0
        assert limiter.take("k") == 0
        assert limiter.take("k") == pytest.approx(1.0)

    def test_keys_are_counted_apart(self) -> None:
        limiter = RateLimiter(per_minute=60, burst=1, clock=Ticks())

        assert limiter.take("a") == 0
        assert limiter.take("a") > 0
        assert limiter.take("b") == 0

    def test_wait_spends_nothing(self) -> None:
        limiter = RateLimiter(per_minute=60, burst=1, clock=Ticks())

        assert limiter.wait("k") == limiter.wait("k") == 0
        assert limiter.take("k") == 0
        assert limiter.wait("k") == pytest.approx(1.0)

    def test_asking_about_an_unknown_key_stores_nothing(self) -> None:
        ticks = Ticks()
        limiter = RateLimiter(per_minute=1, burst=1, max_keys=2, clock=ticks)
        limiter.take("spent")
        for address in ("a", "b", "c"):
            assert limiter.wait(address) == 0

        assert limiter.wait("spent") > 0  # not pushed out by the addresses only asked about

    def test_memory_is_bounded_by_forgetting_the_longest_idle_key(self) -> None:
        ticks = Ticks()
        limiter = RateLimiter(per_minute=1, burst=1, max_keys=2, clock=ticks)
        limiter.take("old")
        limiter.take("mid")
        limiter.take("new")  # "old" is forgotten: it starts again with a full bucket

        assert limiter.take("old") == 0
        assert limiter.take("new") > 0

    @pytest.mark.parametrize(("per_minute", "burst"), [(0, 1), (-1, 1), (10, 0)])
    def test_a_limit_that_could_never_let_anything_through_is_refused(
        self, per_minute: float, burst: int
    ) -> None:
        with pytest.raises(ValueError, match="positive rate"):
            RateLimiter(per_minute=per_minute, burst=burst)


@contextmanager
def _limited_client(
    settings: Settings, *, client: tuple[str, int] = ("testclient", 50000), **changes: object
) -> Iterator[TestClient]:
    application: FastAPI = create_app(
        settings.model_copy(
            update={
                "person_requests_per_minute": 6,
                "person_requests_burst": 3,
                "failed_logins_per_minute": 6,
                "failed_logins_burst": 4,
                **changes,
            }
        )
    )
    try:
        with TestClient(application, client=client) as test_client:
            yield test_client
    finally:
        application.state.runtime.engine.dispose()


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    with _limited_client(settings) as client:
        yield client


def _assert_429(response: object) -> None:
    assert response.status_code == 429, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["type"].endswith("/too-many-requests")
    retry_after = int(response.headers["Retry-After"])  # type: ignore[attr-defined]
    assert 1 <= retry_after <= 60
    assert body["retry_after_seconds"] == retry_after


class TestPersonEndpoints:
    def test_a_person_over_the_limit_gets_429_with_retry_after(self, limited: TestClient) -> None:
        person = make_person(limited)
        me = token_headers(limited, role="person", subject=person["portal_subject"])

        answers = [limited.get("/api/v1/me/numbers", headers=me).status_code for _ in range(3)]
        assert answers == [200, 200, 200]
        _assert_429(limited.get("/api/v1/me/numbers", headers=me))
        # Every /me endpoint draws on the same allowance.
        _assert_429(limited.get("/api/v1/me/confirmation-requests", headers=me))
        _assert_429(limited.get("/api/v1/me/claims", headers=me))

    def test_one_persons_flood_does_not_hold_back_another(self, limited: TestClient) -> None:
        first = make_person(limited, passport="4512 111111")
        second = make_person(limited, passport="4512 222222")
        one = token_headers(limited, role="person", subject=first["portal_subject"])
        two = token_headers(limited, role="person", subject=second["portal_subject"])
        for _ in range(4):
            limited.get("/api/v1/me", headers=one)

        assert limited.get("/api/v1/me", headers=one).status_code == 429
        assert limited.get("/api/v1/me", headers=two).status_code == 200

    def test_staff_are_not_counted_as_persons(self, limited: TestClient) -> None:
        staff = staff_headers(limited)
        codes = {limited.get("/api/v1/jobs", headers=staff).status_code for _ in range(10)}
        assert codes == {200}


class TestFailedSignIns:
    def test_an_address_that_keeps_failing_gets_429_for_its_bad_credentials(
        self, limited: TestClient
    ) -> None:
        failures = [
            limited.get("/api/v1/jobs", headers={"X-API-Key": f"sk_guess_{i}"}).status_code
            for i in range(4)
        ]
        assert failures == [401, 401, 401, 401]

        _assert_429(limited.get("/api/v1/jobs", headers={"Authorization": "Bearer not-a-token"}))
        _assert_429(limited.get("/api/v1/jobs", headers={"X-API-Key": "sk_guess_5"}))

    def test_a_valid_token_is_let_through_from_an_address_held_back(
        self, limited: TestClient
    ) -> None:
        staff = staff_headers(limited)
        for i in range(5):
            limited.get("/api/v1/jobs", headers={"X-API-Key": f"sk_guess_{i}"})
        _assert_429(limited.get("/api/v1/jobs", headers={"X-API-Key": "sk_guess_6"}))

        # Someone else failing from the same address (a NAT, an office) holds nobody back.
        assert limited.get("/api/v1/jobs", headers=staff).status_code == 200

    def test_a_valid_api_key_is_let_through_from_an_address_held_back(
        self, limited: TestClient
    ) -> None:
        key = make_operator(limited)["api_key"]
        for i in range(5):
            limited.get("/api/v1/jobs", headers={"X-API-Key": f"sk_guess_{i}"})

        response = limited.get("/api/v1/operator/numbers", headers={"X-API-Key": key})
        assert response.status_code == 200, response.text

    def test_one_credential_tried_from_many_addresses_is_held_back(
        self, settings: Settings
    ) -> None:
        proxy = "10.0.0.2"
        with _limited_client(settings, trusted_proxies=[proxy], client=(proxy, 443)) as client:
            codes = [
                client.get(
                    "/api/v1/jobs",
                    headers={"X-API-Key": "sk_leaked", "X-Forwarded-For": f"203.0.113.{i}"},
                ).status_code
                for i in range(4)
            ]
            assert codes == [401, 401, 401, 401]
            _assert_429(
                client.get(
                    "/api/v1/jobs",
                    headers={"X-API-Key": "sk_leaked", "X-Forwarded-For": "203.0.113.99"},
                )
            )

    def test_behind_a_trusted_proxy_each_client_is_counted_apart(self, settings: Settings) -> None:
        proxy = "10.0.0.2"
        with _limited_client(settings, trusted_proxies=[proxy], client=(proxy, 443)) as client:

            def attempt(client_address: str, n: int) -> int:
                return client.get(
                    "/api/v1/jobs",
                    headers={"X-API-Key": f"sk_{n}", "X-Forwarded-For": client_address},
                ).status_code

            assert [attempt("203.0.113.7", n) for n in range(4)] == [401] * 4
            assert attempt("203.0.113.7", 5) == 429
            # Another client behind the same proxy is not the one who failed.
            assert attempt("198.51.100.3", 6) == 401

    def test_x_forwarded_for_is_ignored_from_a_proxy_that_is_not_trusted(
        self, limited: TestClient
    ) -> None:
        codes = [
            limited.get(
                "/api/v1/jobs",
                headers={"X-API-Key": f"sk_{n}", "X-Forwarded-For": f"203.0.113.{n}"},
            ).status_code
            for n in range(6)
        ]
        assert codes == [401, 401, 401, 401, 429, 429]

    def test_requests_without_credentials_are_not_sign_in_attempts(
        self, limited: TestClient
    ) -> None:
        codes = [limited.get("/api/v1/jobs").status_code for _ in range(8)]
        assert codes == [401] * 8
        assert limited.get("/api/v1/jobs", headers=staff_headers(limited)).status_code == 200

    def test_successful_sign_ins_spend_nothing(self, limited: TestClient) -> None:
        staff = staff_headers(limited)
        assert {limited.get("/api/v1/jobs", headers=staff).status_code for _ in range(10)} == {200}
        assert limited.get("/api/v1/jobs", headers={"X-API-Key": "sk_x"}).status_code == 401


class TestLimitsOff:
    def test_zero_turns_a_limit_off(self, settings: Settings) -> None:
        application = create_app(
            settings.model_copy(
                update={"person_requests_per_minute": 0, "failed_logins_per_minute": 0}
            )
        )
        try:
            with TestClient(application) as client:
                bad = {"Authorization": "Bearer not-a-token"}
                codes = {client.get("/api/v1/jobs", headers=bad).status_code for _ in range(30)}
                assert codes == {401}
                person = make_person(client)
                me = token_headers(client, role="person", subject=person["portal_subject"])
                codes = {client.get("/api/v1/me", headers=me).status_code for _ in range(70)}
                assert codes == {200}
        finally:
            application.state.runtime.engine.dispose()
