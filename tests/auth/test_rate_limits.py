"""Guard rails: a person's /me requests and failed sign-ins from one address are rate limited,
each refusal a 429 problem+json with Retry-After; other callers are not held back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.core.rate_limit import RateLimiter
from app.main import create_app
from tests.builders import make_person, staff_headers, token_headers


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


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    application: FastAPI = create_app(
        settings.model_copy(
            update={
                "person_requests_per_minute": 6,
                "person_requests_burst": 3,
                "failed_logins_per_minute": 6,
                "failed_logins_burst": 4,
            }
        )
    )
    try:
        with TestClient(application) as client:
            yield client
    finally:
        application.state.runtime.engine.dispose()


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
    def test_an_address_that_keeps_failing_is_refused_even_with_a_valid_token(
        self, limited: TestClient
    ) -> None:
        staff = staff_headers(limited)
        bad = {"Authorization": "Bearer not-a-token"}
        wrong_key = {"X-API-Key": "sk_guessed"}
        failures = [
            limited.get("/api/v1/jobs", headers=bad if i % 2 else wrong_key).status_code
            for i in range(4)
        ]
        assert failures == [401, 401, 401, 401]

        _assert_429(limited.get("/api/v1/jobs", headers=bad))
        # While the address is held back, a valid token from it waits too: it may be a guess.
        _assert_429(limited.get("/api/v1/jobs", headers=staff))

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
