"""The dispatcher keeps up with the portal: it drains the queue at the rate, shared by every
instance, exactly once per request, through kills, outages and changes of the rate."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.config import Settings
from app.core.actors import Actor, ActorKind
from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.numbers.models import PhoneNumber
from app.numbers.service import remove_registration
from app.portal.dispatch import dispatch, send_queued
from app.portal.models import ConfirmationRequest, RequestStatus, SandboxDelivery
from app.portal.port import PortalRequest, SendOutcome
from app.portal.sandbox_portal import SandboxBehaviour, SandboxPortal
from tests.portal.test_dispatch import queued, statuses

RATE = 10


def sent_count(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(
            session.scalar(
                select(func.count()).where(ConfirmationRequest.status == RequestStatus.SENT)
            )
            or 0
        )


def deliveries_per_request(runtime: Runtime) -> list[int]:
    with runtime.sessions() as session:
        return [
            int(n)
            for (n,) in session.execute(
                select(func.count())
                .select_from(SandboxDelivery)
                .group_by(SandboxDelivery.request_id)
            ).all()
        ]


def another_instance(settings: Settings, clock: FixedClock, **changes: Any) -> Runtime:
    """A second simreg process on the same database (its own engine, the same clock)."""
    return Runtime.build(settings.model_copy(update=changes), clock=clock)


class TestDraining:
    def test_a_backlog_goes_out_at_the_rate_as_the_clock_moves(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal, clock: FixedClock
    ) -> None:
        ids = queued(client, runtime, 45)

        assert dispatch(runtime, portal, seconds=0).sent == RATE  # one second's burst
        clock.advance(dt.timedelta(seconds=2))
        assert dispatch(runtime, portal, seconds=0).sent == 2 * RATE
        clock.advance(dt.timedelta(seconds=5))
        assert dispatch(runtime, portal, seconds=0).sent == 15

        assert statuses(runtime, ids) == [RequestStatus.SENT] * 45

    def test_a_tick_of_the_dev_clock_sends_a_ticks_worth_in_one_run(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal, clock: FixedClock
    ) -> None:
        queued(client, runtime, 40)
        dispatch(runtime, portal, seconds=0)
        clock.advance(dt.timedelta(seconds=3))

        report = dispatch(runtime, portal, seconds=0)

        assert report.sent == 30  # 3 s at 10/s: the whole jump is credited
        assert sent_count(runtime) == 40

    def test_on_the_wall_clock_one_run_keeps_sending_as_the_rate_refills(
        self, client: TestClient, settings: Settings, app: FastAPI
    ) -> None:
        from app.core.clock import SystemClock

        rt = another_instance(settings, SystemClock(), portal_rate_per_operator=20.0)  # type: ignore[arg-type]
        queued(client, rt, 50)

        report = dispatch(rt, SandboxPortal.from_runtime(rt), seconds=10)

        # 20 at once, then 20 a second: about 1.5 s of wall time, well within the run.
        assert report.sent == 50
        assert report.passes >= 3
        rt.engine.dispose()

    def test_the_send_batch_bounds_each_call_to_the_portal(
        self, client: TestClient, runtime: Runtime, clock: FixedClock
    ) -> None:
        queued(client, runtime, 30)
        runtime.settings = runtime.settings.model_copy(
            update={"portal_send_batch": 7, "portal_rate_per_operator": 0.0}
        )
        sizes: list[int] = []
        sandbox = SandboxPortal.from_runtime(runtime)

        class Counting:
            def send(self, requests: Sequence[PortalRequest]) -> list[SendOutcome]:
                sizes.append(len(requests))
                return sandbox.send(requests)

            def fetch_answers(self, *, limit: int = 1000) -> list[Any]:
                return []

            def acknowledge(self, ids: Sequence[str]) -> None:
                pass

        assert dispatch(runtime, Counting(), seconds=5).sent == 30
        assert sizes == [7, 7, 7, 7, 2]


class TestTheRateIsShared:
    def test_two_instances_at_the_same_moment_send_one_rate_between_them(
        self,
        client: TestClient,
        runtime: Runtime,
        settings: Settings,
        clock: FixedClock,
    ) -> None:
        queued(client, runtime, 30)
        other = another_instance(settings, clock)

        first = send_queued(runtime, SandboxPortal.from_runtime(runtime)).sent
        second = send_queued(other, SandboxPortal.from_runtime(other)).sent

        assert first + second == RATE
        other.engine.dispose()

    def test_a_changed_rate_applies_from_the_next_second(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal, clock: FixedClock
    ) -> None:
        queued(client, runtime, 60)
        assert dispatch(runtime, portal, seconds=0).sent == RATE

        runtime.settings = runtime.settings.model_copy(update={"portal_rate_per_operator": 25.0})
        clock.advance(dt.timedelta(seconds=1))
        assert dispatch(runtime, portal, seconds=0).sent == 25

        runtime.settings = runtime.settings.model_copy(update={"portal_rate_per_operator": 5.0})
        clock.advance(dt.timedelta(seconds=1))
        assert dispatch(runtime, portal, seconds=0).sent == 5


class DiesAfterSending:
    """The sandbox portal takes the batch; then the sender dies before recording it."""

    def __init__(self, sandbox: SandboxPortal) -> None:
        self.sandbox = sandbox

    def send(self, requests: Sequence[PortalRequest]) -> list[SendOutcome]:
        self.sandbox.send(requests)
        raise KeyboardInterrupt("killed")  # not an Exception: nothing catches it on the way

    def fetch_answers(self, *, limit: int = 1000) -> list[Any]:
        return []

    def acknowledge(self, ids: Sequence[str]) -> None:
        pass


class TestExactlyOnce:
    def test_a_sender_killed_after_the_portal_took_the_batch_sends_nobody_twice(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal, clock: FixedClock
    ) -> None:
        ids = queued(client, runtime, 8)

        with pytest.raises(KeyboardInterrupt):
            send_queued(runtime, DiesAfterSending(portal))
        # The batch is still queued: the sender never recorded it.
        assert statuses(runtime, ids) == [RequestStatus.QUEUED] * 8

        clock.advance(dt.timedelta(seconds=1))
        assert send_queued(runtime, portal).sent == 8

        assert deliveries_per_request(runtime) == [1] * 8
        with runtime.sessions() as session:
            delivered = dict(
                session.execute(
                    select(SandboxDelivery.request_id, SandboxDelivery.portal_request_id)
                ).all()
            )
            for request in session.scalars(select(ConfirmationRequest)):
                assert delivered[f"cr-{request.id}"] == request.portal_request_id

    def test_a_registration_ended_while_queued_is_cancelled_and_never_sent(
        self, client: TestClient, runtime: Runtime, portal: SandboxPortal, clock: FixedClock
    ) -> None:
        ids = queued(client, runtime, 3)
        with runtime.sessions() as session:
            number = session.get_one(PhoneNumber, load_number_id(runtime, ids[1]))
            remove_registration(
                session,
                number=number,
                actor=Actor(ActorKind.COMPANY_ADMIN, "admin"),
                reason="the employee left",
                now=clock.now(),
            )
            session.commit()

        report = send_queued(runtime, portal)

        assert (report.sent, report.cancelled) == (2, 1)
        assert statuses(runtime, ids) == [
            RequestStatus.SENT,
            RequestStatus.CANCELLED,
            RequestStatus.SENT,
        ]
        assert sum(deliveries_per_request(runtime)) == 2

    @pytest.mark.postgres_only
    def test_two_dispatchers_at_once_send_each_request_once(
        self, client: TestClient, runtime: Runtime, settings: Settings, clock: FixedClock
    ) -> None:
        queued(client, runtime, 400)
        fast = {"portal_rate_per_operator": 0.0, "portal_send_batch": 25}
        instances = [another_instance(settings, clock, **fast) for _ in range(2)]
        reports: list[int] = []

        def run(rt: Runtime) -> None:
            reports.append(dispatch(rt, SandboxPortal.from_runtime(rt), seconds=60).sent)

        threads = [threading.Thread(target=run, args=(rt,)) for rt in instances]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sum(reports) == 400
        assert all(count > 0 for count in reports)  # both took a share
        assert deliveries_per_request(runtime) == [1] * 400
        for rt in instances:
            rt.engine.dispose()


def load_number_id(runtime: Runtime, request_id: int) -> int:
    with runtime.sessions() as session:
        return session.get_one(ConfirmationRequest, request_id).number_id


class TestPortalDownForAnHour:
    def test_requests_wait_then_go_at_the_rate_none_lost_none_twice(
        self,
        client: TestClient,
        runtime: Runtime,
        portal: SandboxPortal,
        clock: FixedClock,
        behaviour: SandboxBehaviour,
    ) -> None:
        ids = queued(client, runtime, 120)
        behaviour.fail_sends = True
        tick = dt.timedelta(seconds=10)
        for _ in range(360):  # an hour of dispatch ticks
            dispatch(runtime, portal, seconds=0)
            clock.advance(tick)
        assert statuses(runtime, ids) == [RequestStatus.QUEUED] * 120

        behaviour.fail_sends = False
        sent: list[int] = []
        while sent_count(runtime) < 120:
            clock.advance(dt.timedelta(seconds=1))
            sent.append(dispatch(runtime, portal, seconds=0).sent)

        # Within the longest pause (5 minutes) of its return, then back at the rate, one
        # second at a time: no burst of what was saved while it was down.
        assert len(sent) <= 300 + 12
        resumed = sent[next(i for i, n in enumerate(sent) if n) :]
        assert resumed == [RATE] * 12
        assert deliveries_per_request(runtime) == [1] * 120
