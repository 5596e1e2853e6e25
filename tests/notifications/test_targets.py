"""Company webhooks reach receivers on the internet only: never this machine (outside a
development setting), a private network, a link-local address or anything reserved; checked
when the URL is set, and again at each delivery after the name is looked up, the request then
going to the address checked. What the admin reads of a failure names no cause and no answer."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.companies.models import CorporateSubscriber
from app.core.runtime import Runtime
from app.notifications import targets
from app.notifications.delivery import deliver_due
from app.notifications.models import NotificationStatus
from app.notifications.targets import TargetRefused, address_allowed, pin
from tests.companies.test_api import assert_problem, fields_of
from tests.notifications.builders import SECRET, configure, digest, load, queue, set_targets
from tests.notifications.receivers import WebhookReceiver

NAME = "hooks.romashka.example"


def settings_path(company_id: int) -> str:
    return f"/api/v1/companies/{company_id}/notification-settings"


def put_url(client: TestClient, world: dict[str, Any], url: str) -> Any:
    return client.put(
        settings_path(world["company"]["id"]),
        json={"notify_webhook_url": url, "webhook_secret": SECRET},
        headers=world["admin"],
    )


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """What names resolve to, as the test says; a name it does not list does not resolve.
    Nothing else in the process may look NAME up: a second look-up would be a rebinding."""
    answers: dict[str, list[str]] = {}
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    real = socket.getaddrinfo

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        assert host != NAME, "the name was looked up a second time, not through the check"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(targets, "resolve", resolve)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    answers["__looked_up__"] = looked_up  # the test may read how often it was asked
    return answers


class TestAddresses:
    @pytest.mark.parametrize(
        "address", ["8.8.8.8", "77.88.55.242", "2a02:6b8::2:242", "2001:4860:4860::8888"]
    )
    def test_public_addresses_are_allowed(self, address: str) -> None:
        assert address_allowed(ipaddress.ip_address(address), allow_loopback=False)

    @pytest.mark.parametrize(
        "address",
        [
            "10.0.0.5", "172.16.3.4", "192.168.1.1", "100.64.0.1", "169.254.169.254",
            "0.0.0.0", "255.255.255.255", "224.0.1.1", "198.18.0.1", "fc00::1", "fd12::1",
            "fe80::1", "::", "ff02::1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::",
        ],
    )  # fmt: skip
    def test_private_link_local_and_reserved_never_are(self, address: str) -> None:
        assert not address_allowed(ipaddress.ip_address(address), allow_loopback=True)

    @pytest.mark.parametrize("address", ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"])
    def test_loopback_only_when_allowed(self, address: str) -> None:
        ip = ipaddress.ip_address(address)
        assert not address_allowed(ip, allow_loopback=False)
        assert address_allowed(ip, allow_loopback=True)


class TestWhenTheUrlIsSet:
    @pytest.mark.parametrize(
        "url",
        [
            "https://10.0.0.5/hook",
            "https://192.168.0.10:8443/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[fd00::1]/hook",
            "https://[fe80::1]/hook",
            "https://0.0.0.0/hook",
            "https://127.0.0.1:5432/",
            "https://127.1/hook",
            "https://2130706433/hook",
            "https://0x7f000001/hook",
            "https://localhost/hook",
            "https://db.localhost/hook",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
        ],
    )
    def test_addresses_that_are_not_public_are_refused(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any], url: str
    ) -> None:
        configure(runtime, webhook_allow_loopback=False)
        problem = assert_problem(put_url(client, world, url), 422, "invalid-input")
        assert fields_of(problem) == {"notify_webhook_url": "notify_webhook_url.address"}

    def test_loopback_is_allowed_with_the_development_setting(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        # tests/notifications/conftest.py turns SIMREG_WEBHOOK_ALLOW_LOOPBACK on.
        for url in ("https://127.0.0.1:9000/h", "http://localhost:9000/h", "http://[::1]:9/h"):
            assert put_url(client, world, url).status_code == 200, url

    def test_plain_http_to_this_machine_needs_the_development_setting(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any]
    ) -> None:
        configure(runtime, webhook_allow_loopback=False)
        problem = assert_problem(
            put_url(client, world, "http://127.0.0.1:9000/h"), 422, "invalid-input"
        )
        assert fields_of(problem) == {"notify_webhook_url": "notify_webhook_url.insecure"}

    def test_plain_http_elsewhere_is_refused(
        self, client: TestClient, world: dict[str, Any]
    ) -> None:
        problem = assert_problem(put_url(client, world, f"http://{NAME}/h"), 422, "invalid-input")
        assert fields_of(problem) == {"notify_webhook_url": "notify_webhook_url.insecure"}

    def test_names_are_not_looked_up_then(
        self, client: TestClient, world: dict[str, Any], resolver: dict[str, Any]
    ) -> None:
        # An answer that depended on the look-up would tell an admin which internal names exist.
        resolver[NAME] = ["10.0.0.5"]
        assert put_url(client, world, f"https://{NAME}/hook").status_code == 200
        assert resolver["__looked_up__"] == []


class TestAtEachDelivery:
    def _queue_digest(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any], url: str
    ) -> int:
        set_targets(
            client,
            world["company"]["id"],
            world["admin"],
            notify_webhook_url=url,
            webhook_secret=SECRET,
        )
        [nid] = queue(runtime, [digest(world["company"])])
        return nid

    def test_a_name_that_resolves_to_a_private_address_gets_nothing(
        self,
        client: TestClient,
        runtime: Runtime,
        world: dict[str, Any],
        webhook: WebhookReceiver,
        resolver: dict[str, Any],
    ) -> None:
        resolver[NAME] = ["10.20.30.40"]
        nid = self._queue_digest(client, runtime, world, f"https://{NAME}:{webhook.port}/hook")

        assert deliver_due(runtime).retried == 1
        [row] = load(runtime, [nid])
        assert (row.status, row.last_error) == (NotificationStatus.PENDING, "webhook unreachable")
        assert webhook.requests == 0

    def test_one_private_address_among_public_ones_is_enough_to_refuse(
        self, resolver: dict[str, Any]
    ) -> None:
        resolver[NAME] = ["93.184.216.34", "192.168.1.7"]
        with pytest.raises(TargetRefused):
            pin(f"https://{NAME}/hook", allow_loopback=False)

    def test_the_request_goes_to_the_address_checked_with_the_name_in_host(
        self,
        client: TestClient,
        runtime: Runtime,
        world: dict[str, Any],
        webhook: WebhookReceiver,
        resolver: dict[str, Any],
    ) -> None:
        # Loopback stands for a public receiver here (the development setting allows it).
        resolver[NAME] = ["127.0.0.1"]
        url = f"http://{NAME}:{webhook.port}/simreg/hook"
        set_targets(
            client,
            world["company"]["id"],
            world["admin"],
            notify_webhook_url=f"http://localhost:{webhook.port}/simreg/hook",
            webhook_secret=SECRET,
        )
        # Plain http to a name is refused when set: the test writes it as if the name were
        # an https receiver's.
        with runtime.sessions() as session:
            session.get_one(CorporateSubscriber, world["company"]["id"]).notify_webhook_url = url
            session.commit()
        [nid] = queue(runtime, [digest(world["company"])])

        assert deliver_due(runtime).sent == 1
        [delivery] = webhook.deliveries
        assert delivery.headers["Host"] == f"{NAME}:{webhook.port}"
        # Looked up once, by the check; the connection used the address it checked.
        assert resolver["__looked_up__"] == [NAME]
        assert load(runtime, [nid])[0].status is NotificationStatus.SENT

    def test_a_name_that_does_not_resolve_reads_like_any_unreachable_receiver(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any], resolver: dict[str, Any]
    ) -> None:
        nid = self._queue_digest(client, runtime, world, f"https://{NAME}/hook")
        deliver_due(runtime)
        assert load(runtime, [nid])[0].last_error == "webhook unreachable"

    def test_the_receivers_answer_is_never_shown(
        self, client: TestClient, runtime: Runtime, world: dict[str, Any], webhook: WebhookReceiver
    ) -> None:
        webhook.status = 500
        webhook.answer = b"PostgreSQL 16.2 on x86_64: FATAL password authentication failed"
        nid = self._queue_digest(client, runtime, world, webhook.url)

        deliver_due(runtime)

        company = world["company"]["id"]
        outbox = client.get(f"/api/v1/companies/{company}/notifications", headers=world["admin"])
        [item] = outbox.json()["items"]
        assert item["id"] == nid
        assert item["last_error"] == "webhook answered 500"
        assert "PostgreSQL" not in outbox.text
