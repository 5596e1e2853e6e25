"""A refused or replayed upload request leaves nothing on disk: the spooled file goes with it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.auth.service import Principal, Role
from app.config import Settings
from app.uploads import intake
from tests.builders import make_company_with_numbers, staff_headers
from tests.uploads.builders import EMPLOYEE_HEADER, csv_bytes, employee_row, upload


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    return make_company_with_numbers(client, count=2)


def _content(world: dict[str, Any], index: int = 0) -> bytes:
    return csv_bytes(EMPLOYEE_HEADER, [employee_row(world["numbers"][index]["msisdn"], n=index)])


def _incoming(settings: Settings) -> list[Path]:
    directory = Path(settings.upload_dir) / "incoming"
    return sorted(directory.iterdir()) if directory.exists() else []


def _kept(settings: Settings) -> list[Path]:
    """The uploads' own files (outside `incoming`)."""
    directory = Path(settings.upload_dir)
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.exists() else []


class TestRefusedRequestsLeaveNoFile:
    def test_a_reused_idempotency_key_for_another_file(
        self, client: TestClient, world: dict[str, Any], settings: Settings
    ) -> None:
        cid = world["company"]["id"]
        assert upload(client, cid, world["admin"], _content(world, 0), key="k").status_code == 202
        response = upload(client, cid, world["admin"], _content(world, 1), key="k")
        assert response.status_code == 409
        assert _incoming(settings) == []

    def test_a_company_that_does_not_exist(
        self, client: TestClient, app: FastAPI, settings: Settings
    ) -> None:
        # An admin token naming a company gone from the registry (the sandbox mints none).
        token = app.state.tokens.mint(
            Principal(Role.COMPANY_ADMIN, "admin@gone", company_id=987_654),
            now=dt.datetime.now(dt.UTC),
            ttl=dt.timedelta(minutes=5),
        )
        admin = {"Authorization": f"Bearer {token}"}
        response = upload(client, 987_654, admin, b"phone;name\r\n1;2\r\n")
        # The registry does not hold the company its token names: refused at sign-in.
        assert response.status_code == 401
        assert _incoming(settings) == []
        assert _kept(settings) == []

    def test_a_liquidated_company(
        self, client: TestClient, world: dict[str, Any], settings: Settings
    ) -> None:
        liquidated = client.post(
            f"/api/v1/companies/{world['company']['id']}/liquidation",
            json={"liquidated_on": "2026-10-01"},
            headers=staff_headers(client),
        )
        assert liquidated.status_code == 200, liquidated.text
        response = upload(client, world["company"]["id"], world["admin"], _content(world))
        assert response.status_code == 409
        assert _incoming(settings) == []
        assert _kept(settings) == []

    def test_an_empty_file(
        self, client: TestClient, world: dict[str, Any], settings: Settings
    ) -> None:
        response = upload(client, world["company"]["id"], world["admin"], b"")
        assert response.status_code == 422
        assert _incoming(settings) == []

    def test_another_tenants_company(
        self, client: TestClient, world: dict[str, Any], settings: Settings
    ) -> None:
        other = make_company_with_numbers(client, count=1)
        response = upload(client, other["company"]["id"], world["admin"], _content(world))
        assert response.status_code == 404
        assert _incoming(settings) == []

    def test_a_body_over_the_limit(
        self, client: TestClient, world: dict[str, Any], settings: Settings
    ) -> None:
        settings.upload_max_bytes = 2_000
        big = csv_bytes(EMPLOYEE_HEADER, [employee_row(world["numbers"][0]["msisdn"])] * 100)
        response = upload(client, world["company"]["id"], world["admin"], big)
        assert response.status_code == 413
        assert _incoming(settings) == []


class TestReplaysLeaveNoFile:
    def test_the_same_key_and_file_again(
        self, client: TestClient, world: dict[str, Any], settings: Settings
    ) -> None:
        cid = world["company"]["id"]
        upload(client, cid, world["admin"], _content(world), key="k")
        response = upload(client, cid, world["admin"], _content(world), key="k")
        assert response.status_code == 200
        assert _incoming(settings) == []

    def test_the_same_file_again(
        self, client: TestClient, world: dict[str, Any], settings: Settings
    ) -> None:
        cid = world["company"]["id"]
        upload(client, cid, world["admin"], _content(world))
        response = upload(client, cid, world["admin"], _content(world))
        assert response.status_code == 202  # checked again: a new upload took the file
        assert _incoming(settings) == []


@pytest.fixture
def lenient_client(app: FastAPI) -> Iterator[TestClient]:
    """A client that gets the 500 answer instead of the server's exception."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


class TestAFailureAfterTheFileWasMovedIn:
    def test_the_new_uploads_file_goes_too(
        self,
        lenient_client: TestClient,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        world = make_company_with_numbers(lenient_client, count=1)
        receive = intake.receive_upload

        def receive_then_break(*args: Any, **kwargs: Any) -> Any:
            upload, created = receive(*args, **kwargs)
            # What a commit that fails (the database gone, a clash) leaves to clean up.
            upload.size_bytes = None  # type: ignore[assignment]
            return upload, created

        monkeypatch.setattr(intake, "receive_upload", receive_then_break)
        response = upload(lenient_client, world["company"]["id"], world["admin"], _content(world))
        assert response.status_code in (409, 500), response.text
        assert _incoming(settings) == []
        assert _kept(settings) == []
