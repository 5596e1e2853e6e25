"""The HTTP adapter against a local fake portal: sends, downtime, signed answers, timeouts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from prometheus_client import REGISTRY

from app.portal.http_portal import HttpPortal, canonical_json, sign_answer
from app.portal.port import PortalUnavailable
from tests.portal.test_portal import portal_request

SECRET = "test-portal-signing-secret"


@dataclass
class FakePortalState:
    """What the fake portal answers, and what it was sent."""

    send_status: int = 200
    # Maps one sent item to its result (None: left out); by default every item is accepted.
    send_result: Callable[[dict[str, Any]], dict[str, Any] | None] = field(
        default=lambda item: {
            "request_id": item["request_id"],
            "portal_request_id": "p-" + item["request_id"],
        }
    )
    answers: list[dict[str, Any]] = field(default_factory=list)
    answers_status: int = 200
    delay_seconds: float = 0.0
    received: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)


def _handler(state: FakePortalState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

        def do_POST(self) -> None:
            state.headers.append(dict(self.headers))
            if state.delay_seconds:
                time.sleep(state.delay_seconds)
            if self.path == "/v1/confirmation-requests":
                items = self._body()
                state.received.append(items)
                if state.send_status != 200:
                    self._reply(state.send_status, {"error": "down"})
                    return
                results = [state.send_result(item) for item in items]
                self._reply(200, {"results": [r for r in results if r is not None]})
            elif self.path == "/v1/answers/ack":
                state.acked.extend(self._body()["ids"])
                self._reply(200, {})
            else:
                self._reply(404, {})

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path != "/v1/answers":
                self._reply(404, {})
                return
            state.limits.extend(parse_qs(url.query).get("limit", []))
            if state.delay_seconds:
                time.sleep(state.delay_seconds)
            self._reply(state.answers_status, {"answers": state.answers})

    return Handler


@pytest.fixture
def fake() -> Iterator[tuple[str, FakePortalState]]:
    state = FakePortalState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def portal(fake: tuple[str, FakePortalState]) -> Iterator[HttpPortal]:
    with HttpPortal(fake[0], api_key="key-1", signing_secret=SECRET, timeout=2.0) as adapter:
        yield adapter


def answer_body(**overrides: Any) -> dict[str, Any]:
    """An answer as the portal sends it, before signing."""
    body: dict[str, Any] = {
        "portal_request_id": "p-cr-1",
        "request_id": "cr-1",
        "answer": "confirmed",
        "portal_subject": "esia-42",
        "verified": {
            "last_name": "Иванов",
            "first_name": "Иван",
            "patronymic": "Иванович",
            "birth_date": "1985-04-12",
            "doc_type": "ru_passport",
            "doc_series": "4512",
            "doc_number": "345678",
        },
    }
    body.update(overrides)
    return body


def signed(body: dict[str, Any], secret: str = SECRET) -> dict[str, Any]:
    return {**body, "signature": sign_answer(body, secret)}


def rejected(reason: str) -> float:
    value = REGISTRY.get_sample_value("simreg_portal_answers_rejected_total", {"reason": reason})
    return value or 0.0


class TestSend:
    def test_requests_go_as_a_json_list_with_the_api_key(
        self, portal: HttpPortal, fake: tuple[str, FakePortalState]
    ) -> None:
        outcomes = portal.send([portal_request(), portal_request(request_id="cr-2")])

        assert [(o.request_id, o.portal_request_id, o.error) for o in outcomes] == [
            ("cr-1", "p-cr-1", None),
            ("cr-2", "p-cr-2", None),
        ]
        [batch] = fake[1].received
        assert [item["request_id"] for item in batch] == ["cr-1", "cr-2"]
        assert batch[0]["doc_number"] == "345678"
        assert fake[1].headers[0]["Authorization"] == "Bearer key-1"

    def test_nothing_to_send_makes_no_call(
        self, portal: HttpPortal, fake: tuple[str, FakePortalState]
    ) -> None:
        assert portal.send([]) == []
        assert fake[1].received == []


class TestPortalDown:
    @pytest.mark.parametrize("status", [500, 502, 503, 429, 401])
    def test_a_server_fault_is_unavailable(
        self, portal: HttpPortal, fake: tuple[str, FakePortalState], status: int
    ) -> None:
        fake[1].send_status = status

        with pytest.raises(PortalUnavailable):
            portal.send([portal_request()])

    def test_a_closed_port_is_unavailable(self) -> None:
        probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        port = probe.server_address[1]
        probe.server_close()
        with (
            HttpPortal(
                f"http://127.0.0.1:{port}", api_key="k", signing_secret=SECRET, timeout=1.0
            ) as adapter,
            pytest.raises(PortalUnavailable),
        ):
            adapter.send([portal_request()])

    def test_a_timeout_is_unavailable(self, fake: tuple[str, FakePortalState]) -> None:
        fake[1].delay_seconds = 0.5
        with HttpPortal(fake[0], api_key="k", signing_secret=SECRET, timeout=0.1) as adapter:
            with pytest.raises(PortalUnavailable):
                adapter.send([portal_request()])
            with pytest.raises(PortalUnavailable):
                adapter.fetch_answers()


class TestPerItemErrors:
    def test_a_refused_item_is_not_retryable_and_a_busy_one_is(
        self, portal: HttpPortal, fake: tuple[str, FakePortalState]
    ) -> None:
        def result(item: dict[str, Any]) -> dict[str, Any] | None:
            if item["request_id"] == "cr-4":
                return None
            if item["request_id"] == "cr-2":
                return {"request_id": "cr-2", "status": 400, "error": "unknown document type"}
            if item["request_id"] == "cr-3":
                return {"request_id": "cr-3", "status": 503, "error": "busy"}
            return {"request_id": item["request_id"], "portal_request_id": "p-1"}

        fake[1].send_result = result

        ok, refused, busy, missing = portal.send(
            [portal_request(request_id=f"cr-{n}") for n in (1, 2, 3)]
            + [portal_request(request_id="cr-4")]
        )

        assert (ok.portal_request_id, ok.error) == ("p-1", None)
        assert (refused.error, refused.retryable) == ("unknown document type", False)
        assert (busy.error, busy.retryable) == ("busy", True)
        assert missing.portal_request_id is None
        assert missing.retryable is True

    def test_a_batch_refused_as_a_whole_refuses_each_item(
        self, portal: HttpPortal, fake: tuple[str, FakePortalState]
    ) -> None:
        fake[1].send_status = 400

        outcomes = portal.send([portal_request(), portal_request(request_id="cr-2")])

        assert [(o.portal_request_id, o.retryable) for o in outcomes] == [
            (None, False),
            (None, False),
        ]


class TestSignedAnswers:
    def test_signed_answers_are_accepted_and_acknowledged(
        self, portal: HttpPortal, fake: tuple[str, FakePortalState]
    ) -> None:
        fake[1].answers = [
            signed(answer_body()),
            signed(answer_body(portal_request_id="p-cr-2", answer="declined", verified=None)),
        ]

        confirmed, declined = portal.fetch_answers(limit=50)
        portal.acknowledge([confirmed.portal_request_id, declined.portal_request_id])

        assert fake[1].limits == ["50"]
        assert confirmed.answer == "confirmed"
        assert confirmed.verified is not None
        assert confirmed.verified.doc_number == "345678"
        assert confirmed.portal_subject == "esia-42"
        assert (declined.answer, declined.verified) == ("declined", None)
        assert fake[1].acked == ["p-cr-1", "p-cr-2"]

    def test_the_signature_covers_sorted_compact_json(self) -> None:
        body = {"b": 1, "a": "ё"}

        assert canonical_json({**body, "signature": "x"}) == '{"a":"ё","b":1}'.encode()


class TestRejectedAnswers:
    def test_a_tampered_answer_is_skipped_and_counted(
        self, portal: HttpPortal, fake: tuple[str, FakePortalState]
    ) -> None:
        tampered = signed(answer_body(portal_request_id="p-cr-2"))
        tampered["verified"] = {**tampered["verified"], "birth_date": "1990-01-01"}
        fake[1].answers = [
            signed(answer_body()),
            tampered,
            signed(answer_body(portal_request_id="p-cr-3"), secret="another-key"),
            {k: v for k, v in signed(answer_body()).items() if k != "signature"},
        ]
        before = rejected("signature")

        messages = portal.fetch_answers()

        assert [m.portal_request_id for m in messages] == ["p-cr-1"]
        assert rejected("signature") == before + 3

    @pytest.mark.parametrize(
        "body",
        [
            answer_body(answer="maybe"),
            answer_body(verified=None),
            answer_body(portal_subject=17),
            answer_body(portal_request_id=""),
            answer_body(portal_request_id="p" * 65),
            answer_body(verified={"last_name": "Иванов"}),
            answer_body(verified={**answer_body()["verified"], "birth_date": "12.04.1985"}),
            answer_body(verified="Иванов Иван"),
        ],
    )
    def test_a_wrong_shape_is_skipped_and_counted(
        self, portal: HttpPortal, fake: tuple[str, FakePortalState], body: dict[str, Any]
    ) -> None:
        fake[1].answers = [signed(body), signed(answer_body(portal_request_id="p-ok"))]
        before = rejected("shape")

        messages = portal.fetch_answers()

        assert [m.portal_request_id for m in messages] == ["p-ok"]
        assert rejected("shape") == before + 1

    def test_an_answer_that_is_not_an_object_is_skipped(
        self, portal: HttpPortal, fake: tuple[str, FakePortalState]
    ) -> None:
        fake[1].answers = ["p-cr-1", None]  # type: ignore[list-item]
        before = rejected("shape")

        assert portal.fetch_answers() == []
        assert rejected("shape") == before + 2

    def test_rejections_log_no_personal_data(
        self,
        portal: HttpPortal,
        fake: tuple[str, FakePortalState],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        from app.core.logging import configure_logging

        configure_logging("INFO")
        tampered = signed(answer_body())
        tampered["answer"] = "declined"
        fake[1].answers = [tampered, signed(answer_body(answer="maybe"))]

        portal.fetch_answers()

        logged = capsys.readouterr().err
        assert "portal answer rejected" in logged
        for secret in ("345678", "4512", "1985-04-12", "Иванов"):
            assert secret not in logged

    def test_an_unreadable_answers_list_is_unavailable(
        self, portal: HttpPortal, fake: tuple[str, FakePortalState]
    ) -> None:
        fake[1].answers_status = 503

        with pytest.raises(PortalUnavailable):
            portal.fetch_answers()
