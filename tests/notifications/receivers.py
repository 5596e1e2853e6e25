"""Real local receivers for the delivery channels: an SMTP server and a webhook endpoint that
checks every signature the way a receiver of simreg's messages must."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- webhook --------------------------------------------------------------------------------


@dataclass
class Delivery:
    """One POST the webhook receiver accepted."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class WebhookReceiver:
    """An HTTP endpoint in a thread. It refuses (401) a delivery whose X-Simreg-Signature does
    not match the HMAC-SHA256 of timestamp + "." + body under `secret`, and otherwise answers
    `status` with `answer` as its body (after `delay` seconds)."""

    secret: str
    port: int = field(default_factory=free_port)
    status: int = 200
    delay: float = 0.0
    answer: bytes = b""
    deliveries: list[Delivery] = field(default_factory=list)
    requests: int = 0
    bad_signatures: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simreg/hook"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.requests += 1
                timestamp = self.headers.get("X-Simreg-Timestamp", "")
                expected = (
                    "sha256="
                    + hmac.new(
                        receiver.secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256
                    ).hexdigest()
                )
                signature = self.headers.get("X-Simreg-Signature", "")
                if receiver.delay:
                    time.sleep(receiver.delay)
                if not hmac.compare_digest(expected, signature):
                    with receiver._lock:
                        receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                if 200 <= receiver.status < 300:
                    with receiver._lock:
                        receiver.deliveries.append(
                            Delivery(self.path, dict(self.headers.items()), json.loads(raw))
                        )
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> list[int]:
        with self._lock:
            return [d.body["id"] for d in self.deliveries]

    def times_each(self) -> Counter[int]:
        return Counter(self.ids())


# --- SMTP -----------------------------------------------------------------------------------


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None


class _MailBox:
    def __init__(self, refuse_recipients: bool) -> None:
        self.mails: list[ReceivedMail] = []
        self.refuse_recipients = refuse_recipients

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse_recipients:
            return f"550 5.1.1 <{address}>: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        self.mails.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message, login))
        return "250 OK"


class SmtpReceiver:
    """An SMTP server (aiosmtpd) on 127.0.0.1; optionally STARTTLS and AUTH required."""

    def __init__(
        self,
        *,
        port: int | None = None,
        tls_context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
        refuse_recipients: bool = False,
    ) -> None:
        self.port = port or free_port()
        self._tls_context = tls_context
        self._credentials = credentials
        self._box = _MailBox(refuse_recipients)
        self._controller: Controller | None = None

    @property
    def mails(self) -> list[ReceivedMail]:
        return self._box.mails

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if (
            self._credentials is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == self._credentials
        ):
            return AuthResult(success=True, auth_data=auth_data.login)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpReceiver:
        # aiosmtpd logs every command it receives, addresses included: that is the test
        # server's log, not simreg's, and would hide what simreg itself writes.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        kwargs: dict[str, Any] = {}
        if self._tls_context is not None:
            kwargs.update(tls_context=self._tls_context, require_starttls=True)
        if self._credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self._controller = Controller(self._box, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def ids(self) -> list[int]:
        return [int(m.message["X-Simreg-Notification-Id"]) for m in self.mails]

    def times_each(self) -> Counter[int]:
        return Counter(self.ids())


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "smtp.pem"
    key_path = directory / "smtp.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
