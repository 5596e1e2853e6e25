"""Fixtures of the portal tests: the sandbox portal, well-behaved before and after each test,
and a client of an app with the portal's routes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.runtime import Runtime
from app.portal.sandbox_portal import BEHAVIOUR, SandboxBehaviour, SandboxPortal
from tests.portal.test_portal import mount_portal_routes


@pytest.fixture(autouse=True)
def behaviour() -> Iterator[SandboxBehaviour]:
    """The process-wide sandbox behaviour, well-behaved before and after each test."""
    BEHAVIOUR.reset()
    yield BEHAVIOUR
    BEHAVIOUR.reset()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    mount_portal_routes(app)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def portal(runtime: Runtime) -> SandboxPortal:
    return SandboxPortal.from_runtime(runtime)
