"""Each channel against a real receiver: the log, an SMTP server, a signed webhook."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import ssl
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.clock import MOSCOW, FixedClock
from app.core.runtime import Runtime
from app.notifications.channels import ChannelRouter, sign_webhook
from app.notifications.delivery import deliver_due
from app.notifications.models import NotificationStatus
from tests.notifications.builders import (
    DEADLINE,
    SECRET,
    configure,
    digest,
    load,
    person_row,
    queue,
    set_targets,
)
from tests.notifications.receivers import SmtpReceiver, WebhookReceiver, free_port

COMPANY_EMAIL = "sim-admin@romashka.example"


def log_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    captured = capfd.readouterr()
    return [
        json.loads(line)
        for line in (captured.err + captured.out).splitlines()
        if line.startswith("{")
    ]


def use_smtp(runtime: Runtime, receiver: SmtpReceiver, **extra: Any) -> None:
    configure(runtime, smtp_host="127.0.0.1", smtp_port=receiver.port, **extra)


class TestLogChannel:
    def test_a_person_message_is_one_log_line_of_ids(
        self,
        client: TestClient,
        runtime: Runtime,
        world: dict[str, Any],
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        number = world["numbers"][0]
        [nid] = queue(runtime, [person_row(company_id=world["company"]["id"], number=number)])
        capfd.readouterr()

        report = deliver_due(runtime)

        assert report.as_dict() == {"picked": 1, "sent": 1, "retried": 0, "dead": 0}
        delivered = [line for line in log_lines(capfd) if line["event"] == "notification delivered"]
        assert len(delivered) == 1
        line = delivered[0]
        assert line["notification_id"] == nid
        assert (line["audience"], line["notification_event"]) == ("person", "flag")
        assert line["subscriber_id"] == world["company"]["id"]
        assert line["number_id"] == number["id"]
        assert number["msisdn"] not in json.dumps(line)
        [row] = load(runtime, [nid])
        assert (row.status, row.channel, row.attempts) == (NotificationStatus.SENT, "log", 1)

    def test_a_company_without_targets_is_told_in_the_log(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        [nid] = queue(runtime, [digest(world["company"])])

        deliver_due(runtime)

        [row] = load(runtime, [nid])
        assert (row.status, row.channel) == (NotificationStatus.SENT, "log")


class TestEmailChannel:
    def test_a_digest_arrives_as_russian_text_with_an_english_line_and_stable_ids(
        self,
        client: TestClient,
        runtime: Runtime,
        clock: FixedClock,
        world: dict[str, Any],
        smtp: SmtpReceiver,
    ) -> None:
        use_smtp(runtime, smtp, smtp_from="registry@simreg.example")
        company = world["company"]
        set_targets(client, company["id"], world["admin"], notify_email=COMPANY_EMAIL)
        [nid] = queue(runtime, [digest(company)])

        report = deliver_due(runtime)

        assert report.sent == 1
        [mail] = smtp.mails
        assert mail.mail_from == "registry@simreg.example"
        assert mail.rcpt_tos == [COMPANY_EMAIL]
        message = mail.message
        assert message["To"] == COMPANY_EMAIL
        assert message["Message-ID"] == f"<simreg-notification-{nid}@simreg.example>"
        assert message["X-Simreg-Notification-Id"] == str(nid)
        assert message["Subject"].startswith("simreg: Сводка")
        assert company["name"] in message["Subject"]
        assert message.get_content_type() == "text/plain"
        body = message.get_content()
        assert f"(ИНН {company['inn']})" in body
        assert "30 дней: 4" in body
        assert "14 дней: 2" in body
        assert "1 день: 1" in body
        assert "Обслуживание приостановлено: 3" in body
        # 21:00 UTC on 30 November is midnight of 1 December in Moscow.
        assert "Ближайший срок регистрации: 01.12.2026 00:00 (МСК)" in body
        assert f"/api/v1/companies/{company['id']}/report" in body
        assert (
            "English: 7 number(s) have no confirmed user yet, 3 suspended, 0 terminated; "
            "next deadline 01 Dec 2026 00:00 Moscow time." in body
        )
        [row] = load(runtime, [nid])
        assert (row.status, row.channel, row.sent_at) == (
            NotificationStatus.SENT,
            "email",
            clock.now(),
        )

    def test_starttls_and_login_when_the_server_requires_them(
        self,
        client: TestClient,
        runtime: Runtime,
        world: dict[str, Any],
        server_tls: ssl.SSLContext,
        client_tls: ssl.SSLContext,
    ) -> None:
        receiver = SmtpReceiver(tls_context=server_tls, credentials=("simreg", "smtp-password"))
        receiver.start()
        try:
            use_smtp(
                runtime,
                receiver,
                smtp_starttls=True,
                smtp_username="simreg",
                smtp_password="smtp-password",
            )
            set_targets(client, world["company"]["id"], world["admin"], notify_email=COMPANY_EMAIL)
            [nid] = queue(runtime, [digest(world["company"])])
            with ChannelRouter(runtime.settings, runtime.clock, smtp_ssl_context=client_tls) as r:
                report = deliver_due(runtime, router=r)
        finally:
            receiver.stop()

        assert report.sent == 1
        [mail] = receiver.mails
        assert mail.login == "simreg"
        assert receiver.ids() == [nid]

    def test_a_wrong_password_is_a_failure_to_retry(
        self,
        client: TestClient,
        runtime: Runtime,
        world: dict[str, Any],
        server_tls: ssl.SSLContext,
        client_tls: ssl.SSLContext,
    ) -> None:
        receiver = SmtpReceiver(tls_context=server_tls, credentials=("simreg", "right")).start()
        try:
            use_smtp(
                runtime, receiver, smtp_starttls=True, smtp_username="simreg", smtp_password="no"
            )
            set_targets(client, world["company"]["id"], world["admin"], notify_email=COMPANY_EMAIL)
            [nid] = queue(runtime, [digest(world["company"])])
            with ChannelRouter(runtime.settings, runtime.clock, smtp_ssl_context=client_tls) as r:
                report = deliver_due(runtime, router=r)
        finally:
            receiver.stop()

        assert (report.sent, report.retried) == (0, 1)
        [row] = load(runtime, [nid])
        assert row.status is NotificationStatus.PENDING
        assert row.last_error == "smtp SMTPAuthenticationError (535)"

    def test_an_untrusted_certificate_is_a_failure(
        self,
        client: TestClient,
        runtime: Runtime,
        world: dict[str, Any],
        server_tls: ssl.SSLContext,
    ) -> None:
        receiver = SmtpReceiver(tls_context=server_tls).start()
        try:
            use_smtp(runtime, receiver, smtp_starttls=True)
            set_targets(client, world["company"]["id"], world["admin"], notify_email=COMPANY_EMAIL)
            [nid] = queue(runtime, [digest(world["company"])])
            report = deliver_due(runtime)  # the system's trust store: no test certificate
        finally:
            receiver.stop()

        assert report.retried == 1
        assert receiver.mails == []
        [row] = load(runtime, [nid])
        assert row.last_error == "smtp unreachable: SSLCertVerificationError"

    def test_a_refused_recipient_is_a_failure_that_does_not_name_the_address(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        receiver = SmtpReceiver(refuse_recipients=True).start()
        try:
            use_smtp(runtime, receiver)
            set_targets(client, world["company"]["id"], world["admin"], notify_email=COMPANY_EMAIL)
            [nid] = queue(runtime, [digest(world["company"])])
            report = deliver_due(runtime)
        finally:
            receiver.stop()

        assert report.retried == 1
        [row] = load(runtime, [nid])
        assert row.last_error == "smtp refused the recipient (550)"

    def test_no_server_listening_is_a_failure(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        configure(runtime, smtp_host="127.0.0.1", smtp_port=free_port())
        set_targets(client, world["company"]["id"], world["admin"], notify_email=COMPANY_EMAIL)
        [nid] = queue(runtime, [digest(world["company"])])

        report = deliver_due(runtime)

        assert report.retried == 1
        [row] = load(runtime, [nid])
        assert row.status is NotificationStatus.PENDING
        assert row.last_error == "smtp unreachable: ConnectionRefusedError"


class TestWebhookChannel:
    def test_a_person_message_is_posted_signed_with_every_field(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any], webhook: WebhookReceiver
    ) -> None:
        configure(
            runtime,
            notify_person_channel="webhook",
            notify_person_webhook_url=webhook.url,
            notify_person_webhook_secret=SECRET,
        )
        number = world["numbers"][1]
        row = person_row(company_id=world["company"]["id"], number=number, threshold=14)
        [nid] = queue(runtime, [row])

        report = deliver_due(runtime)

        assert report.sent == 1
        assert webhook.bad_signatures == 0
        [delivery] = webhook.deliveries
        assert delivery.path == "/simreg/hook"
        assert delivery.body == {
            "id": nid,
            "event": "flag",
            "audience": "person",
            "company_id": world["company"]["id"],
            "msisdn": number["msisdn"],
            "threshold": 14,
            "deadline_at": DEADLINE.isoformat(),
            "payload": None,
            "created_at": runtime.clock.now().isoformat(),
            "text": (
                f"Номер {number['msisdn']}: компания «{world['company']['name']}» указала вас "
                "его пользователем. Подтвердите это на Госуслугах до "
                f"{DEADLINE.astimezone(MOSCOW):%d.%m.%Y} — иначе обслуживание номера будет "
                "приостановлено."
            ),
        }
        headers = {k.lower(): v for k, v in delivery.headers.items()}
        assert headers["x-simreg-notification-id"] == str(nid)
        assert headers["x-simreg-timestamp"] == str(int(runtime.clock.now().timestamp()))
        assert headers["content-type"] == "application/json"
        [stored] = load(runtime, [nid])
        assert (stored.status, stored.channel) == (NotificationStatus.SENT, "webhook")

    def test_a_digest_goes_to_the_company_webhook_with_its_payload_as_an_object(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any], webhook: WebhookReceiver
    ) -> None:
        company = world["company"]
        set_targets(
            client,
            company["id"],
            world["admin"],
            notify_webhook_url=webhook.url,
            webhook_secret=SECRET,
        )
        row = digest(company, run_id="run-42")
        [nid] = queue(runtime, [row])

        deliver_due(runtime)

        [delivery] = webhook.deliveries
        assert delivery.body["id"] == nid
        assert delivery.body["event"] == "digest"
        assert delivery.body["audience"] == "company"
        assert delivery.body["msisdn"] is None
        assert delivery.body["payload"] == row["payload"]

    def test_the_signature_is_hmac_sha256_of_timestamp_dot_body(self) -> None:
        body = b'{"id":1}'
        expected = hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
        assert sign_webhook("k" * 16, "1700000000", body) == f"sha256={expected}"

    def test_a_receiver_with_another_secret_refuses_and_the_message_waits(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        receiver = WebhookReceiver(secret="a-different-secret-0000").start()
        try:
            set_targets(
                client,
                world["company"]["id"],
                world["admin"],
                notify_webhook_url=receiver.url,
                webhook_secret=SECRET,
            )
            [nid] = queue(runtime, [digest(world["company"])])
            report = deliver_due(runtime)
        finally:
            receiver.stop()

        assert receiver.bad_signatures == 1
        assert report.retried == 1
        [row] = load(runtime, [nid])
        assert row.last_error == "webhook answered 401"

    @pytest.mark.parametrize("status", [200, 201, 202, 204])
    def test_any_2xx_is_a_delivery(
        self,
        client: TestClient,
        runtime: Runtime,
        world: dict[str, Any],
        webhook: WebhookReceiver,
        status: int,
    ) -> None:
        webhook.status = status
        set_targets(
            client,
            world["company"]["id"],
            world["admin"],
            notify_webhook_url=webhook.url,
            webhook_secret=SECRET,
        )
        [nid] = queue(runtime, [digest(world["company"])])

        assert deliver_due(runtime).sent == 1
        assert load(runtime, [nid])[0].status is NotificationStatus.SENT

    @pytest.mark.parametrize("status", [302, 400, 410, 500, 503])
    def test_anything_else_is_a_failure(
        self,
        client: TestClient,
        runtime: Runtime,
        world: dict[str, Any],
        webhook: WebhookReceiver,
        status: int,
    ) -> None:
        webhook.status = status
        set_targets(
            client,
            world["company"]["id"],
            world["admin"],
            notify_webhook_url=webhook.url,
            webhook_secret=SECRET,
        )
        [nid] = queue(runtime, [digest(world["company"])])

        report = deliver_due(runtime)

        assert (report.sent, report.retried) == (0, 1)
        [row] = load(runtime, [nid])
        assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
        assert row.last_error == f"webhook answered {status}"

    def test_no_receiver_listening_is_a_failure(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        receiver = WebhookReceiver(secret=SECRET)  # never started
        set_targets(
            client,
            world["company"]["id"],
            world["admin"],
            notify_webhook_url=receiver.url,
            webhook_secret=SECRET,
        )
        [nid] = queue(runtime, [digest(world["company"])])

        assert deliver_due(runtime).retried == 1
        assert load(runtime, [nid])[0].last_error == "webhook unreachable"

    def test_a_receiver_slower_than_the_timeout_is_a_failure(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any], webhook: WebhookReceiver
    ) -> None:
        configure(runtime, notify_timeout_seconds=0.2)
        webhook.delay = 1.0
        set_targets(
            client,
            world["company"]["id"],
            world["admin"],
            notify_webhook_url=webhook.url,
            webhook_secret=SECRET,
        )
        [nid] = queue(runtime, [digest(world["company"])])

        assert deliver_due(runtime).retried == 1
        assert load(runtime, [nid])[0].last_error == "webhook unreachable"


def test_message_texts_show_moscow_time_for_a_number_event(runtime: Runtime) -> None:
    from app.notifications.channels import OutgoingMessage, email_body, email_subject
    from app.notifications.models import Audience

    message = OutgoingMessage(
        id=7,
        audience=Audience.COMPANY,
        event="flag",
        subscriber_id=1,
        number_id=2,
        threshold=3,
        deadline_at=dt.datetime(2026, 12, 4, 20, 59, tzinfo=dt.UTC),
        created_at=runtime.clock.now(),
        attempts=0,
        lease_until=runtime.clock.now(),
        msisdn="+79120000000",
        company_name='ООО "Ромашка"',
    )
    body = email_body(message)
    assert "04.12.2026 23:59 (МСК)" in body
    assert "(осталось 3 дня)" in body
    assert "English: a number has no confirmed user; its deadline is 04 Dec 2026 23:59" in body
    assert (
        email_subject(message) == 'simreg: Номер без подтверждённого пользователя — ООО "Ромашка"'
    )
