"""Which channel each message takes: the company's webhook, else e-mail, else the log; persons
by SIMREG_NOTIFY_PERSON_CHANNEL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.notifications.channels import (
    ChannelRouter,
    DeliveryFailed,
    OutgoingMessage,
    company_channel_name,
)
from app.notifications.delivery import deliver_due
from app.notifications.models import Audience, NotificationStatus
from tests.notifications.builders import (
    SECRET,
    configure,
    digest,
    load,
    person_row,
    queue,
    set_targets,
)
from tests.notifications.receivers import WebhookReceiver

AT = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.UTC)
COMPANY_HOOK = "https://hooks.romashka.example/simreg"
PERSON_HOOK = "https://sms-gateway.example/simreg"


def message(audience: Audience, **targets: Any) -> OutgoingMessage:
    return OutgoingMessage(
        id=1,
        audience=audience,
        event="digest" if audience is Audience.COMPANY else "flag",
        subscriber_id=1,
        number_id=None if audience is Audience.COMPANY else 5,
        threshold=None,
        deadline_at=None,
        created_at=AT,
        attempts=0,
        lease_until=AT,
        **targets,
    )


def route(settings: Settings, outgoing: OutgoingMessage, **changes: Any) -> tuple[str, str]:
    with ChannelRouter(settings.model_copy(update=changes), FixedClock(AT)) as router:
        channel = router.channel_for(outgoing)
        return channel.name, channel.destination


ALL_TARGETS = {
    "notify_email": "it@romashka.example",
    "notify_webhook_url": COMPANY_HOOK,
    "webhook_secret": SECRET,
}


class TestCompanyMessages:
    def test_the_webhook_comes_first(self, settings: Settings) -> None:
        outgoing = message(Audience.COMPANY, **ALL_TARGETS)
        assert route(settings, outgoing, smtp_host="smtp.example") == (
            "webhook",
            f"webhook:{COMPANY_HOOK}",
        )

    def test_then_e_mail_when_the_registry_has_an_smtp_server(self, settings: Settings) -> None:
        outgoing = message(Audience.COMPANY, notify_email="it@romashka.example")
        assert route(settings, outgoing, smtp_host="smtp.example", smtp_port=2525) == (
            "email",
            "smtp:smtp.example:2525",
        )

    def test_an_e_mail_address_without_an_smtp_server_leaves_the_log(
        self, settings: Settings
    ) -> None:
        outgoing = message(Audience.COMPANY, notify_email="it@romashka.example")
        assert route(settings, outgoing, smtp_host=None) == ("log", "log")

    def test_no_targets_leave_the_log(self, settings: Settings) -> None:
        assert route(settings, message(Audience.COMPANY), smtp_host="smtp.example")[0] == "log"

    def test_a_webhook_without_a_secret_is_a_failure_not_an_unsigned_post(
        self, settings: Settings
    ) -> None:
        outgoing = message(Audience.COMPANY, notify_webhook_url=COMPANY_HOOK)
        with pytest.raises(DeliveryFailed, match="no secret"):
            route(settings, outgoing)

    @pytest.mark.parametrize(
        ("webhook", "email", "smtp", "expected"),
        [
            (COMPANY_HOOK, "a@b.example", "smtp", "webhook"),
            (COMPANY_HOOK, None, None, "webhook"),
            (None, "a@b.example", "smtp", "email"),
            (None, "a@b.example", None, "log"),
            (None, None, "smtp", "log"),
        ],
    )
    def test_the_rule_in_one_table(
        self, webhook: str | None, email: str | None, smtp: str | None, expected: str
    ) -> None:
        assert (
            company_channel_name(notify_webhook_url=webhook, notify_email=email, smtp_host=smtp)
            == expected
        )


class TestPersonMessages:
    def test_the_log_by_default_whatever_the_company_has(self, settings: Settings) -> None:
        outgoing = message(Audience.PERSON, **ALL_TARGETS)
        assert route(settings, outgoing, smtp_host="smtp.example") == ("log", "log")

    def test_the_person_webhook_when_configured(self, settings: Settings) -> None:
        outgoing = message(Audience.PERSON, **ALL_TARGETS)
        assert route(
            settings,
            outgoing,
            notify_person_channel="webhook",
            notify_person_webhook_url=PERSON_HOOK,
            notify_person_webhook_secret=SECRET,
        ) == ("webhook", f"webhook:{PERSON_HOOK}")

    @pytest.mark.parametrize(
        ("changes", "reason"),
        [
            ({"notify_person_webhook_secret": SECRET}, "SIMREG_NOTIFY_PERSON_WEBHOOK_URL"),
            ({"notify_person_webhook_url": PERSON_HOOK}, "SIMREG_NOTIFY_PERSON_WEBHOOK_SECRET"),
        ],
    )
    def test_a_webhook_channel_half_configured_is_a_failure_naming_the_setting(
        self, settings: Settings, changes: dict[str, str], reason: str
    ) -> None:
        with pytest.raises(DeliveryFailed, match=reason):
            route(settings, message(Audience.PERSON), notify_person_channel="webhook", **changes)


def test_in_one_run_persons_and_companies_reach_their_own_receivers(
    client: TestClient, runtime: Runtime, world: dict[str, Any], webhook: WebhookReceiver
) -> None:
    company_hook = WebhookReceiver(secret="company-secret-0123456789").start()
    try:
        company = world["company"]
        set_targets(
            client,
            company["id"],
            world["admin"],
            notify_webhook_url=company_hook.url,
            webhook_secret="company-secret-0123456789",
        )
        configure(
            runtime,
            notify_person_channel="webhook",
            notify_person_webhook_url=webhook.url,
            notify_person_webhook_secret=SECRET,
        )
        person_ids = queue(
            runtime, [person_row(company_id=company["id"], number=n) for n in world["numbers"]]
        )
        [digest_id] = queue(runtime, [digest(company)])

        report = deliver_due(runtime)
    finally:
        company_hook.stop()

    assert report.sent == 4
    assert sorted(webhook.ids()) == sorted(person_ids)
    assert company_hook.ids() == [digest_id]
    assert webhook.bad_signatures == company_hook.bad_signatures == 0
    assert {row.status for row in load(runtime, [*person_ids, digest_id])} == {
        NotificationStatus.SENT
    }


def test_a_person_webhook_not_configured_keeps_the_messages_waiting(
    client: TestClient, runtime: Runtime, world: dict[str, Any]
) -> None:
    configure(runtime, notify_person_channel="webhook")
    [nid] = queue(
        runtime, [person_row(company_id=world["company"]["id"], number=world["numbers"][0])]
    )

    assert deliver_due(runtime).retried == 1
    [row] = load(runtime, [nid])
    assert row.status is NotificationStatus.PENDING
    assert row.last_error == "SIMREG_NOTIFY_PERSON_WEBHOOK_URL is not set"
