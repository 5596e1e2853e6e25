"""Fixtures of the portal tests: the sandbox portal, well-behaved before and after each test,
and a client of an app with the portal's routes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.runtime import Runtime
from app.portal.dispatch import send_queued
from app.portal.port import SendOutcome
from app.portal.sandbox_portal import BEHAVIOUR, SandboxBehaviour, SandboxPortal
from tests.builders import make_company_with_numbers
from tests.portal.test_dispatch import SCRIPTED_PORTAL_ID, ScriptedPortal
from tests.portal.test_portal import (
    Sent,
    mount_portal_routes,
    queue_request,
    register,
    sent_request,
)


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


@pytest.fixture
def confirmed(client: TestClient, runtime: Runtime, portal: SandboxPortal) -> Sent:
    """A request the sandbox portal delivered and its person confirmed (not yet fetched)."""
    sent = sent_request(client, runtime)
    portal.answer(sent.portal_request_id, person=sent.person, answer="confirmed")
    return sent


@pytest.fixture
def sent_to_scripted_portal(client: TestClient, runtime: Runtime) -> int:
    """One request sent to a scripted portal, which took it as SCRIPTED_PORTAL_ID; its id."""
    world = make_company_with_numbers(client, count=1)
    request_id = queue_request(runtime, register(client, world, 0))
    send_queued(
        runtime,
        ScriptedPortal(lambda r: SendOutcome(r.request_id, SCRIPTED_PORTAL_ID, None, False)),
    )
    return request_id
