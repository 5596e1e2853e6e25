"""Browser-hardening headers on API responses; CORS only for the origins configured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.core.clock import FixedClock
from app.main import create_app
from tests.builders import staff_headers

ORIGIN = "https://admin.example.ru"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


def client_for(settings: Settings, clock: FixedClock, **changes: object) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update=changes), clock=clock)
    with TestClient(app) as test_client:
        yield test_client
    app.state.runtime.engine.dispose()


@pytest.fixture
def cors_client(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    yield from client_for(settings, clock, cors_origins=[ORIGIN])


@pytest.fixture
def hsts_client(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    yield from client_for(settings, clock, hsts=True)


class TestSecurityHeaders:
    def test_on_an_api_response(self, client: TestClient) -> None:
        response = client.get("/api/v1/companies", headers=staff_headers(client))
        assert response.status_code == 200, response.text
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in response.headers

    def test_on_errors_too(self, client: TestClient) -> None:
        response = client.get("/api/v1/companies")
        assert response.status_code == 401
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"

    def test_on_an_unexpected_error_too(self, settings: Settings, clock: FixedClock) -> None:
        app = create_app(settings, clock=clock)

        @app.get("/api/v1/broken")
        def broken() -> None:
            raise RuntimeError("a secret value 4512 345678")

        try:
            with TestClient(app, raise_server_exceptions=False) as test_client:
                response = test_client.get("/api/v1/broken")
        finally:
            app.state.runtime.engine.dispose()

        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/internal-error")
        assert "4512" not in response.text
        assert "Traceback" not in response.text
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"
        assert "X-Request-ID" in response.headers

    def test_not_on_the_docs(self, client: TestClient) -> None:
        response = client.get("/docs")
        assert response.status_code == 200
        assert "X-Frame-Options" not in response.headers
        assert "Cache-Control" not in response.headers

    def test_hsts_only_when_enabled(self, hsts_client: TestClient) -> None:
        response = hsts_client.get("/healthz")
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")


class TestCors:
    def test_preflight_refused_by_default(self, client: TestClient) -> None:
        response = client.options("/api/v1/companies", headers=PREFLIGHT)
        assert response.status_code >= 400
        assert "Access-Control-Allow-Origin" not in response.headers

    def test_preflight_allowed_for_a_configured_origin(self, cors_client: TestClient) -> None:
        response = cors_client.options("/api/v1/companies", headers=PREFLIGHT)
        assert response.status_code == 200, response.text
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "POST" in response.headers["Access-Control-Allow-Methods"]

    def test_preflight_refused_for_another_origin(self, cors_client: TestClient) -> None:
        response = cors_client.options(
            "/api/v1/companies", headers={**PREFLIGHT, "Origin": "https://evil.example"}
        )
        assert response.status_code == 400
        assert "Access-Control-Allow-Origin" not in response.headers

    def test_a_simple_request_from_the_origin_gets_its_header(
        self, cors_client: TestClient
    ) -> None:
        response = cors_client.get("/healthz", headers={"Origin": ORIGIN})
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]

    def test_origins_read_from_the_environment_as_json(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SIMREG_CORS_ORIGINS", f'["{ORIGIN}", "https://other.example"]')
        assert Settings(_env_file=None).cors_origins == [ORIGIN, "https://other.example"]  # type: ignore[call-arg]
        monkeypatch.delenv("SIMREG_CORS_ORIGINS")
        assert Settings(_env_file=None).cors_origins == []  # type: ignore[call-arg]
