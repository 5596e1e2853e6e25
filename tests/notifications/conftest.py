"""Receivers for the notification channels, started and stopped around each test."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.builders import make_company_with_numbers
from tests.notifications.builders import SECRET
from tests.notifications.receivers import SmtpReceiver, WebhookReceiver, self_signed_certificate


@pytest.fixture
def world(client: TestClient) -> dict[str, Any]:
    """A company with three numbers and its admin's headers."""
    return make_company_with_numbers(client, count=3)


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret=SECRET).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts the test certificate (and nothing else)."""
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receivers of these tests listen on this machine: loopback is allowed (development)."""
    return settings.model_copy(update={"webhook_allow_loopback": True})
