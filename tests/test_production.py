"""Production: no sandbox, no development secrets, unusable keys refused, the wall clock."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.config import DEV_JWT_SECRET, Environment, Settings
from app.core.clock import FixedClock, SystemClock
from app.core.errors import PROBLEM_JSON, TYPE_BASE
from app.core.personal_data import KeyConfigError
from app.core.runtime import Runtime, clock_from_settings
from app.main import create_app

PROD_KEY = base64.b64encode(b"p" * 32).decode()

# Settings read from the environment that these tests set explicitly.
_OWN_VARIABLES = (
    "SIMREG_ENV",
    "SIMREG_JWT_SECRET",
    "SIMREG_PD_KEYS",
    "SIMREG_PD_ACTIVE_KEY_ID",
    "SIMREG_PD_HASH_KEY",
    "SIMREG_CURSOR_SECRET",
    "SIMREG_SESSION_SECRET",
    "SIMREG_NOW",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _OWN_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def production_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": Environment.PRODUCTION,
        "database_url": database_url,
        "jwt_secret": "prod-jwt-secret-0123456789-abcdefghijklmnop",
        "pd_keys": f"prod1:{PROD_KEY}",
        "pd_active_key_id": "prod1",
        "pd_hash_key": "prod-hash-key-0123456789-abcdef",
        "cursor_secret": "prod-cursor-secret-0123456789",
        "portal_signing_secret": "prod-portal-signing-secret-0123456789",
        "session_secret": "prod-session-secret-0123456789",
        "upload_resume_on_start": False,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


def sandbox_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings of the test environment, where the sandbox and SIMREG_NOW work."""
    return Settings(
        env=Environment.TEST,
        database_url=database_url,
        upload_resume_on_start=False,
        _env_file=None,
        **overrides,
    )


@pytest.fixture
def production_app(database_url: str) -> Iterator[FastAPI]:
    application = create_app(production_settings(database_url))
    yield application
    application.state.runtime.engine.dispose()


@pytest.fixture
def production_client(production_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(production_app) as client:
        yield client


def assert_not_found(response: Any) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["type"] == TYPE_BASE + "not-found"


class TestNoSandboxInProduction:
    def test_tokens_cannot_be_minted(self, production_client: TestClient) -> None:
        response = production_client.post(
            "/api/v1/sandbox/tokens", json={"role": "operator_staff", "subject": "x"}
        )

        assert_not_found(response)

    def test_no_demo_tokens(self, production_client: TestClient) -> None:
        assert_not_found(production_client.get("/api/v1/sandbox/demo-tokens/person"))

    def test_no_sandbox_people(self, production_client: TestClient) -> None:
        response = production_client.post(
            "/api/v1/sandbox/people",
            json={
                "last_name": "Иванов",
                "first_name": "Иван",
                "birth_date": "1985-04-12",
                "passport": "4512 345678",
            },
        )

        assert_not_found(response)

    def test_the_service_is_alive(self, production_client: TestClient) -> None:
        response = production_client.get("/healthz")

        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_the_api_still_demands_credentials(self, production_client: TestClient) -> None:
        response = production_client.get("/api/v1/companies")

        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert response.json()["type"] == TYPE_BASE + "unauthorized"


class TestProductionRefusesDevelopmentSecrets:
    def test_every_defaulted_secret_is_named(self) -> None:
        with pytest.raises(ValidationError) as caught:
            Settings(env=Environment.PRODUCTION, _env_file=None)  # type: ignore[call-arg]

        message = str(caught.value)
        for name in (
            "SIMREG_JWT_SECRET",
            "SIMREG_PD_KEYS",
            "SIMREG_PD_HASH_KEY",
            "SIMREG_CURSOR_SECRET",
        ):
            assert name in message

    def test_one_remaining_default_is_named_alone(self, database_url: str) -> None:
        with pytest.raises(ValidationError) as caught:
            production_settings(database_url, jwt_secret=DEV_JWT_SECRET)

        message = str(caught.value)
        assert "SIMREG_JWT_SECRET" in message
        assert "SIMREG_PD_KEYS" not in message
        assert "SIMREG_CURSOR_SECRET" not in message

    def test_development_defaults_are_fine_outside_production(self) -> None:
        settings = Settings(env=Environment.DEV, _env_file=None)  # type: ignore[call-arg]

        assert settings.is_sandbox is True


class TestUnusableKeysAreRefused:
    @pytest.mark.parametrize(
        ("overrides", "setting"),
        [
            ({"pd_keys": "k1:this is not base64!"}, "SIMREG_PD_KEYS"),
            ({"pd_keys": "k1:" + base64.b64encode(b"x" * 16).decode()}, "SIMREG_PD_KEYS"),
            ({"pd_keys": "no-separator"}, "SIMREG_PD_KEYS"),
            ({"pd_keys": " , "}, "SIMREG_PD_KEYS"),
            ({"pd_active_key_id": "missing"}, "SIMREG_PD_ACTIVE_KEY_ID"),
            ({"pd_hash_key": "short"}, "SIMREG_PD_HASH_KEY"),
        ],
        ids=[
            "not-base64",
            "16-byte-key",
            "no-kid",
            "empty-ring",
            "active-not-in-ring",
            "short-hash-key",
        ],
    )
    def test_runtime_build_names_the_setting(
        self, database_url: str, overrides: dict[str, str], setting: str
    ) -> None:
        settings = production_settings(database_url, **overrides)

        with pytest.raises(KeyConfigError, match=setting):
            Runtime.build(settings)

    def test_create_app_refuses_a_key_of_the_wrong_length(self, database_url: str) -> None:
        short = base64.b64encode(b"x" * 31).decode()

        with pytest.raises(KeyConfigError, match="SIMREG_PD_KEYS") as caught:
            create_app(sandbox_settings(database_url, pd_keys=f"dev1:{short}"))

        assert "32 bytes" in str(caught.value)

    def test_keys_from_the_environment_are_checked_too(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SIMREG_PD_KEYS", "k1:%%%")
        monkeypatch.setenv("SIMREG_PD_ACTIVE_KEY_ID", "k1")

        settings = sandbox_settings(database_url)

        assert settings.pd_keys == "k1:%%%"
        with pytest.raises(KeyConfigError, match="SIMREG_PD_KEYS"):
            create_app(settings)


class TestPinnedClock:
    PINNED = "2026-12-01T00:00:00Z"

    def test_simreg_now_is_ignored_in_production(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SIMREG_NOW", self.PINNED)

        settings = production_settings(database_url)

        assert settings.now == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
        assert isinstance(clock_from_settings(settings), SystemClock)

    def test_the_production_app_runs_on_the_wall_clock(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SIMREG_NOW", self.PINNED)

        application = create_app(production_settings(database_url))
        try:
            assert isinstance(application.state.runtime.clock, SystemClock)
        finally:
            application.state.runtime.engine.dispose()

    def test_simreg_now_pins_the_clock_in_test(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SIMREG_NOW", self.PINNED)

        clock = clock_from_settings(sandbox_settings(database_url))

        assert isinstance(clock, FixedClock)
        assert clock.now() == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    def test_a_naive_simreg_now_is_taken_as_utc(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SIMREG_NOW", "2026-12-01T09:30:00")

        clock = clock_from_settings(sandbox_settings(database_url))

        assert clock.now() == dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)

    def test_without_simreg_now_the_test_env_uses_the_wall_clock(self, database_url: str) -> None:
        assert isinstance(clock_from_settings(sandbox_settings(database_url)), SystemClock)


class TestApiDocsInProduction:
    PATHS = ("/docs", "/redoc", "/openapi.json")

    def test_off_by_default(self, production_client: TestClient) -> None:
        for path in self.PATHS:
            assert production_client.get(path).status_code == 404, path

    def test_on_when_the_setting_asks(self, database_url: str) -> None:
        app = create_app(production_settings(database_url, api_docs_in_production=True))
        try:
            with TestClient(app) as client:
                for path in self.PATHS:
                    assert client.get(path).status_code == 200, path
        finally:
            app.state.runtime.engine.dispose()

    def test_always_on_outside_production(self, database_url: str) -> None:
        app = create_app(sandbox_settings(database_url))
        try:
            with TestClient(app) as client:
                assert client.get("/openapi.json").status_code == 200
        finally:
            app.state.runtime.engine.dispose()


class TestDevelopmentOnlySettings:
    def test_webhooks_to_loopback_are_refused_in_production(self, database_url: str) -> None:
        with pytest.raises(ValidationError, match="SIMREG_WEBHOOK_ALLOW_LOOPBACK"):
            production_settings(database_url, webhook_allow_loopback=True)
