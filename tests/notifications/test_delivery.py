"""Delivering the outbox: backoff, dead letters, outages, leases, batches, two deliverers."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.notifications import delivery
from app.notifications.channels import Channel, ChannelRouter, OutgoingMessage
from app.notifications.delivery import deliver_due, lease_due, lease_duration, retry_delay
from app.notifications.jobs import deliver_notifications
from app.notifications.models import NotificationStatus
from tests.builders import make_company, token_headers
from tests.conftest import ENGINE
from tests.notifications.builders import (
    SECRET,
    configure,
    digest,
    load,
    person_row,
    queue,
    set_targets,
)
from tests.notifications.receivers import SmtpReceiver, WebhookReceiver

HOUR = dt.timedelta(hours=1)


def to_webhook(client: TestClient, world: dict[str, Any], receiver: WebhookReceiver) -> None:
    set_targets(
        client,
        world["company"]["id"],
        world["admin"],
        notify_webhook_url=receiver.url,
        webhook_secret=SECRET,
    )


def statuses(runtime: Runtime, ids: list[int]) -> list[NotificationStatus]:
    return [row.status for row in load(runtime, ids)]


class TestBackoff:
    def test_the_delay_doubles_from_the_base_up_to_the_cap(self) -> None:
        delays = [retry_delay(n, base=30, cap=900) for n in range(1, 9)]
        assert delays == [30, 60, 120, 240, 480, 900, 900, 900]
        assert retry_delay(10_000, base=30, cap=900) == 900

    def test_a_failing_message_waits_longer_each_time_and_dies_after_the_last_attempt(
        self, client: TestClient, runtime: Runtime, clock: FixedClock, world: dict[str, Any]
    ) -> None:
        configure(runtime, notify_max_attempts=4)
        to_webhook(client, world, WebhookReceiver(secret=SECRET))  # nobody listens
        [nid] = queue(runtime, [digest(world["company"])])

        for attempt, delay in ((1, 30), (2, 60), (3, 120)):
            report = deliver_due(runtime)
            assert report.as_dict() == {"picked": 1, "sent": 0, "retried": 1, "dead": 0}
            [row] = load(runtime, [nid])
            assert (row.status, row.attempts) == (NotificationStatus.PENDING, attempt)
            assert row.next_attempt_at == clock.now() + dt.timedelta(seconds=delay)
            assert row.lease_until is None
            # Not due again before its time.
            clock.advance(dt.timedelta(seconds=delay - 1))
            assert deliver_due(runtime).picked == 0
            clock.advance(dt.timedelta(seconds=1))

        report = deliver_due(runtime)

        assert report.as_dict() == {"picked": 1, "sent": 0, "retried": 0, "dead": 1}
        [row] = load(runtime, [nid])
        assert (row.status, row.attempts) == (NotificationStatus.DEAD, 4)
        assert row.last_error == "webhook unreachable"
        clock.advance(dt.timedelta(days=30))
        assert deliver_due(runtime).picked == 0
        assert load(runtime, [nid])[0].status is NotificationStatus.DEAD


class TestReceiverDownForAnHour:
    """The receiver goes away for an hour: messages wait with growing attempts, none is lost;
    it comes back, each message arrives exactly once, and a further run sends nothing."""

    @pytest.fixture(params=["smtp", "webhook"])
    def receiver(
        self,
        request: pytest.FixtureRequest,
        client: TestClient,
        runtime: Runtime,
        world: dict[str, Any],
    ) -> Any:
        if request.param == "smtp":
            smtp = SmtpReceiver()
            configure(runtime, smtp_host="127.0.0.1", smtp_port=smtp.port)
            set_targets(
                client, world["company"]["id"], world["admin"], notify_email="it@romashka.example"
            )
            yield smtp
            smtp.stop()
            return
        hook = WebhookReceiver(secret=SECRET)
        to_webhook(client, world, hook)
        configure(
            runtime,
            notify_person_channel="webhook",
            notify_person_webhook_url=hook.url,
            notify_person_webhook_secret=SECRET,
        )
        yield hook
        hook.stop()

    def rows(self, world: dict[str, Any], receiver: Any) -> list[dict[str, Any]]:
        rows = [digest(world["company"]) for _ in range(3)]
        if isinstance(receiver, WebhookReceiver):
            company_id = world["company"]["id"]
            rows += [person_row(company_id=company_id, number=n) for n in world["numbers"]]
        return rows

    def test_messages_wait_and_arrive_exactly_once_when_it_is_back(
        self, runtime: Runtime, clock: FixedClock, world: dict[str, Any], receiver: Any
    ) -> None:
        receiver.start()
        [before] = queue(runtime, [digest(world["company"])])
        assert deliver_notifications(runtime)["sent"] == 1
        receiver.stop()

        ids = queue(runtime, self.rows(world, receiver))
        went_down = clock.now()
        seen_attempts: list[int] = []
        while clock.now() - went_down < HOUR:  # the scheduler's 30-second tick
            deliver_notifications(runtime)
            seen_attempts.append(max(row.attempts for row in load(runtime, ids)))
            clock.advance(dt.timedelta(seconds=30))

        waiting = load(runtime, ids)
        assert [row.status for row in waiting] == [NotificationStatus.PENDING] * len(ids)
        # Tries at 0, 30, 90, 210, 450, 930, 1830 and 2730 seconds: 30 s doubling up to 900 s.
        assert [row.attempts for row in waiting] == [8] * len(ids)
        assert seen_attempts == sorted(seen_attempts)
        assert {row.last_error for row in waiting} <= {
            "smtp unreachable: ConnectionRefusedError",
            "webhook unreachable",
        }
        assert receiver.ids() == [before]

        receiver.start()
        clock.advance(dt.timedelta(seconds=runtime.settings.notify_retry_max_seconds))
        back = deliver_notifications(runtime)

        assert back["sent"] == len(ids)
        assert receiver.times_each() == dict.fromkeys([before, *ids], 1)
        delivered = load(runtime, ids)
        assert [row.status for row in delivered] == [NotificationStatus.SENT] * len(ids)
        assert [row.attempts for row in delivered] == [9] * len(ids)
        assert {row.sent_at for row in delivered} == {clock.now()}

        clock.advance(HOUR)
        again = deliver_notifications(runtime)
        assert again == {"picked": 0, "sent": 0, "retried": 0, "dead": 0, "batches": 0}
        assert receiver.times_each() == dict.fromkeys([before, *ids], 1)


class TestLeases:
    def test_a_lease_that_expired_is_taken_again(
        self,
        client: TestClient,
        runtime: Runtime,
        clock: FixedClock,
        world: dict[str, Any],
        webhook: WebhookReceiver,
    ) -> None:
        to_webhook(client, world, webhook)
        ids = queue(runtime, [digest(world["company"]), digest(world["company"])])
        # A deliverer leases both messages and dies before sending them.
        with runtime.sessions() as session:
            now = clock.now()
            leased = lease_due(
                session, count=10, now=now, lease_until=now + lease_duration(runtime.settings)
            )
            session.commit()
        assert [m.id for m in leased] == ids

        assert deliver_due(runtime).picked == 0  # still leased
        clock.advance(lease_duration(runtime.settings))
        report = deliver_due(runtime)

        assert (report.picked, report.sent) == (2, 2)
        assert webhook.times_each() == dict.fromkeys(ids, 1)
        assert [row.attempts for row in load(runtime, ids)] == [1, 1]

    def test_a_deliverer_that_outlived_its_lease_leaves_the_result_to_the_next(
        self,
        client: TestClient,
        runtime: Runtime,
        clock: FixedClock,
        world: dict[str, Any],
        webhook: WebhookReceiver,
    ) -> None:
        to_webhook(client, world, webhook)
        [nid] = queue(runtime, [digest(world["company"])])
        second: list[dict[str, int]] = []

        def stall() -> None:
            # The first deliverer hangs past its lease; a second one takes the message.
            clock.advance(lease_duration(runtime.settings) + dt.timedelta(seconds=1))
            second.append(deliver_due(runtime).as_dict())

        with StallingRouter(runtime, before_first_send=stall) as router:
            first = deliver_due(runtime, router=router)

        assert second == [{"picked": 1, "sent": 1, "retried": 0, "dead": 0}]
        assert (first.picked, first.sent) == (1, 0)  # its result was not recorded
        [row] = load(runtime, [nid])
        assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)
        # At least once: the receiver saw the same id twice and keeps one.
        assert webhook.ids() == [nid, nid]
        assert {d.headers["X-Simreg-Notification-Id"] for d in webhook.deliveries} == {str(nid)}

    def test_a_batch_out_of_time_hands_the_rest_back_untried(
        self,
        client: TestClient,
        runtime: Runtime,
        world: dict[str, Any],
        webhook: WebhookReceiver,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        to_webhook(client, world, webhook)
        ids = queue(runtime, [digest(world["company"]) for _ in range(3)])
        monkeypatch.setattr(delivery, "_SEND_WINDOW_SECONDS", 0.05)

        with StallingRouter(runtime, before_first_send=lambda: time.sleep(0.1)) as router:
            report = deliver_due(runtime, router=router)

        assert report.as_dict() == {"picked": 1, "sent": 1, "retried": 0, "dead": 0}
        rest = load(runtime, ids[1:])
        assert {(r.status, r.attempts, r.lease_until) for r in rest} == {
            (NotificationStatus.PENDING, 0, None)
        }
        assert deliver_due(runtime).sent == 2  # due again at once, not after the lease
        assert webhook.times_each() == dict.fromkeys(ids, 1)


class StallingRouter(ChannelRouter):
    """Runs `before_first_send` just before the first message goes out."""

    def __init__(self, runtime: Runtime, *, before_first_send: Callable[[], None]) -> None:
        super().__init__(runtime.settings, runtime.clock)
        self._hook: Callable[[], None] | None = before_first_send

    def channel_for(self, message: OutgoingMessage) -> Channel:
        channel = super().channel_for(message)
        router = self

        class Stalling:
            name = channel.name
            destination = channel.destination

            def send(self, outgoing: OutgoingMessage) -> None:
                hook, router._hook = router._hook, None
                if hook is not None:
                    hook()
                channel.send(outgoing)

        return Stalling()


class TestBatches:
    def test_one_call_takes_one_batch_and_the_job_takes_batches_until_none_is_due(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        configure(runtime, notify_batch=3)
        company_id = world["company"]["id"]
        ids = queue(
            runtime,
            [person_row(company_id=company_id, number=world["numbers"][i % 3]) for i in range(8)],
        )

        assert deliver_due(runtime).as_dict() == {"picked": 3, "sent": 3, "retried": 0, "dead": 0}
        result = deliver_notifications(runtime)

        assert result == {"picked": 5, "sent": 5, "retried": 0, "dead": 0, "batches": 2}
        assert statuses(runtime, ids) == [NotificationStatus.SENT] * 8

    def test_the_job_stops_after_its_bound_of_batches(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        configure(runtime, notify_batch=2)
        company_id = world["company"]["id"]
        ids = queue(
            runtime,
            [person_row(company_id=company_id, number=world["numbers"][0]) for _ in range(7)],
        )

        result = deliver_notifications(runtime, max_batches=2)

        assert (result["sent"], result["batches"]) == (4, 2)
        assert statuses(runtime, ids).count(NotificationStatus.PENDING) == 3

    def test_a_limit_spans_several_batches(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        configure(runtime, notify_batch=2)
        company_id = world["company"]["id"]
        queue(
            runtime,
            [person_row(company_id=company_id, number=world["numbers"][0]) for _ in range(7)],
        )

        assert deliver_due(runtime, limit=5).sent == 5
        assert deliver_due(runtime, limit=5).sent == 2

    def test_a_receiver_that_fails_is_tried_once_per_batch_and_others_still_get_theirs(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any], webhook: WebhookReceiver
    ) -> None:
        failing = WebhookReceiver(secret=SECRET, status=503).start()
        try:
            to_webhook(client, world, failing)
            other = make_company(client)
            set_targets(
                client,
                other["id"],
                token_headers(client, role="company_admin", company_id=other["id"]),
                notify_webhook_url=webhook.url,
                webhook_secret=SECRET,
            )
            down_ids = queue(runtime, [digest(world["company"]) for _ in range(3)])
            up_ids = queue(runtime, [digest(other) for _ in range(2)])

            report = deliver_due(runtime)
        finally:
            failing.stop()

        assert report.as_dict() == {"picked": 5, "sent": 2, "retried": 3, "dead": 0}
        assert failing.requests == 1
        assert webhook.times_each() == dict.fromkeys(up_ids, 1)
        assert {row.last_error for row in load(runtime, down_ids)} == {"webhook answered 503"}


class BrokenFirstRouter(ChannelRouter):
    """The channel of the first message raises an unexpected error."""

    def __init__(self, runtime: Runtime, broken_id: int) -> None:
        super().__init__(runtime.settings, runtime.clock)
        self._broken_id = broken_id

    def channel_for(self, message: OutgoingMessage) -> Channel:
        channel = super().channel_for(message)
        broken_id = self._broken_id

        class Broken:
            name = channel.name
            destination = channel.destination

            def send(self, outgoing: OutgoingMessage) -> None:
                if outgoing.id == broken_id:
                    raise ValueError("a bug, with +79120000000 in its message")
                channel.send(outgoing)

        return Broken()


def test_a_fault_in_a_channel_fails_that_message_alone(
    client: TestClient,
    runtime: Runtime,
    world: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    company_id = world["company"]["id"]
    ids = queue(runtime, [person_row(company_id=company_id, number=n) for n in world["numbers"]])

    with BrokenFirstRouter(runtime, ids[0]) as router:
        report = deliver_due(runtime, router=router)

    assert report.as_dict() == {"picked": 3, "sent": 2, "retried": 1, "dead": 0}
    first = load(runtime, ids)[0]
    assert (first.status, first.last_error) == (
        NotificationStatus.PENDING,
        "internal error: ValueError",
    )
    assert "+79120000000" not in capfd.readouterr().err


def _two_deliverers(runtime: Runtime, client: TestClient, world: dict[str, Any]) -> None:
    configure(runtime, notify_batch=10)
    receiver = WebhookReceiver(secret=SECRET).start()
    try:
        to_webhook(client, world, receiver)
        ids = queue(runtime, [digest(world["company"]) for _ in range(150)])
        start = threading.Barrier(2)

        def deliverer() -> dict[str, int]:
            start.wait()
            return deliver_notifications(runtime, max_batches=1000)

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = [f.result(timeout=120) for f in [pool.submit(deliverer) for _ in range(2)]]
    finally:
        receiver.stop()

    assert sum(r["sent"] for r in results) == 150
    assert all(r["sent"] > 0 for r in results), results  # both took part
    assert receiver.times_each() == dict.fromkeys(ids, 1)
    rows = load(runtime, ids)
    assert {(row.status, row.attempts) for row in rows} == {(NotificationStatus.SENT, 1)}


@pytest.mark.postgres_only
def test_two_deliverers_on_postgresql_deliver_each_message_exactly_once(
    client: TestClient, runtime: Runtime, world: dict[str, Any]
) -> None:
    _two_deliverers(runtime, client, world)


@pytest.mark.skipif(ENGINE != "sqlite", reason="the SQLite path of the same proof")
def test_two_deliverers_on_sqlite_deliver_each_message_exactly_once(
    client: TestClient, runtime: Runtime, world: dict[str, Any]
) -> None:
    _two_deliverers(runtime, client, world)


class TestNoPersonalDataInLogs:
    def test_numbers_addresses_urls_and_secrets_stay_out_of_logs_and_errors(
        self,
        client: TestClient,
        runtime: Runtime,
        clock: FixedClock,
        world: dict[str, Any],
        smtp: SmtpReceiver,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        company_id = world["company"]["id"]
        person_hook = WebhookReceiver(secret=SECRET)  # down
        hook_url = person_hook.url + "/token-q7w8e9r0"
        configure(
            runtime,
            notify_person_channel="webhook",
            notify_person_webhook_url=hook_url,
            notify_person_webhook_secret=SECRET,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
        )
        other = make_company(client)
        other_admin = token_headers(client, role="company_admin", company_id=other["id"])
        set_targets(client, company_id, world["admin"], notify_email="ivan.petrov@romashka.example")
        set_targets(
            client,
            other["id"],
            other_admin,
            notify_webhook_url=hook_url,
            webhook_secret="company-secret-abcdef123456",
        )
        ids = queue(
            runtime,
            [
                *(person_row(company_id=company_id, number=n) for n in world["numbers"]),
                digest(world["company"]),
                digest(other),
            ],
        )

        for _ in range(3):
            deliver_notifications(runtime)
            clock.advance(dt.timedelta(minutes=15))
        configure(runtime, notify_person_channel="log")
        deliver_notifications(runtime)

        captured = capfd.readouterr()
        logs = captured.err + captured.out
        assert "notification delivered" in logs
        assert "notification delivery failed" in logs
        stored = json.dumps([row.last_error for row in load(runtime, ids)])
        secrets = [
            *(n["msisdn"] for n in world["numbers"]),
            *(n["msisdn"].removeprefix("+") for n in world["numbers"]),
            "ivan.petrov",
            "romashka.example",
            "token-q7w8e9r0",
            SECRET,
            "company-secret",
        ]
        for secret in secrets:
            assert secret not in logs
            assert secret not in stored
