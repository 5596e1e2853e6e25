"""How a notification leaves the registry: a log line, an e-mail or a signed webhook.

Routing: a company's message goes to the company's webhook when it has one, else by e-mail to
its notification address when an SMTP server is configured, else to the log. A person's
message goes by SIMREG_NOTIFY_PERSON_CHANNEL: the log, or a webhook (an SMS gateway, the
portal's inbox).

Webhook wire format (the registry's side of the contract with receivers):

- ``POST`` of a JSON body ``{"id", "event", "audience", "company_id", "msisdn", "threshold",
  "deadline_at", "payload", "created_at"}`` (times in UTC, ISO 8601); a person's message also
  has ``"text"``, what they read, in Russian (what happened and what to do);
- headers ``X-Simreg-Notification-Id`` (the stable id: a receiver drops an id it has seen,
  since delivery is at least once), ``X-Simreg-Timestamp`` (Unix seconds) and
  ``X-Simreg-Signature: sha256=<hex HMAC-SHA256 of timestamp + "." + body>`` keyed with the
  receiver's secret;
- any 2xx answer means delivered; anything else, or no answer, is tried again later.

A channel raises DeliveryFailed with a short reason that names no person, address or URL: the
reason is stored on the row and may be logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Final, Literal, Protocol

import httpx
import structlog

from app.config import Settings
from app.core.clock import MOSCOW, Clock, moscow_day, moscow_moment
from app.core.messages import DEFAULT, Language, say
from app.notifications import targets
from app.notifications.models import Audience
from app.notifications.targets import TargetRefused

log = structlog.get_logger("simreg.notifications")

ChannelName = Literal["log", "email", "webhook"]
LOG: Final = "log"
EMAIL: Final = "email"
WEBHOOK: Final = "webhook"

NOTIFICATION_ID_HEADER = "X-Simreg-Notification-Id"
TIMESTAMP_HEADER = "X-Simreg-Timestamp"
SIGNATURE_HEADER = "X-Simreg-Signature"


class DeliveryFailed(Exception):
    """One message could not be delivered now; it is tried again after its backoff.

    `receiver_down` says the receiver itself failed (unreachable, refusing every message), so
    the other messages of the batch bound for it wait too instead of each costing a timeout."""

    def __init__(self, reason: str, *, receiver_down: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.receiver_down = receiver_down


@dataclass(frozen=True)
class OutgoingMessage:
    """A leased notification with what its channel needs, read before sending so that no
    transaction stays open while a receiver answers. Contacts and secrets stay out of repr."""

    id: int
    audience: Audience
    event: str
    subscriber_id: int
    number_id: int | None
    threshold: int | None
    deadline_at: dt.datetime | None
    created_at: dt.datetime
    attempts: int
    lease_until: dt.datetime
    msisdn: str | None = field(default=None, repr=False)
    payload_json: str | None = field(default=None, repr=False)
    company_name: str = field(default="", repr=False)
    company_inn: str = field(default="", repr=False)
    notify_email: str | None = field(default=None, repr=False)
    notify_webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)

    def payload(self) -> dict[str, Any] | None:
        """The digest's payload as an object; DeliveryFailed when the stored text is not one."""
        if self.payload_json is None:
            return None
        try:
            value = json.loads(self.payload_json)
        except ValueError as exc:
            raise DeliveryFailed("the stored payload is not valid JSON") from exc
        if not isinstance(value, dict):
            raise DeliveryFailed("the stored payload is not a JSON object")
        return value


class Channel(Protocol):
    """A way to deliver messages. `send` returns when the receiver has taken the message and
    raises DeliveryFailed otherwise."""

    @property
    def name(self) -> str:
        """Stored in `notifications.channel` of a sent message: log, email or webhook."""
        ...

    @property
    def destination(self) -> str:
        """Identifies the receiver within one delivery run (never stored or logged)."""
        ...

    def send(self, message: OutgoingMessage) -> None:
        """Deliver one message."""
        ...


# --- log ------------------------------------------------------------------------------------


class LogChannel:
    """One log line per message: for development, and for receivers not configured yet. The
    line carries ids only; the number and the company's contacts stay out of logs."""

    name = LOG
    destination = LOG

    def send(self, message: OutgoingMessage) -> None:
        """Write the line; a log line cannot fail."""
        log.info(
            "notification delivered",
            notification_id=message.id,
            audience=message.audience.value,
            # `event` is structlog's own key, the line's name.
            notification_event=message.event,
            subscriber_id=message.subscriber_id,
            number_id=message.number_id,
        )


# --- e-mail ---------------------------------------------------------------------------------


def _moscow(at: dt.datetime) -> str:
    return moscow_moment(at) + " (МСК)"


def _moscow_en(at: dt.datetime) -> str:
    return at.astimezone(MOSCOW).strftime("%d %b %Y %H:%M") + " Moscow time"


def _days_ru(count: int) -> str:
    if count % 10 == 1 and count % 100 != 11:
        word = "день"
    elif count % 10 in (2, 3, 4) and count % 100 not in (12, 13, 14):
        word = "дня"
    else:
        word = "дней"
    return f"{count} {word}"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


_SUBJECTS = {
    "digest": (
        "Сводка по корпоративным SIM-картам без подтверждённых пользователей",
        "corporate SIM registration digest",
    ),
    "flag": ("Номер без подтверждённого пользователя", "a number has no confirmed user"),
    "suspend": ("Обслуживание номера приостановлено", "service of a number is suspended"),
    "terminate": ("Обслуживание номера прекращено", "service of a number is terminated"),
}


def email_subject(message: OutgoingMessage) -> str:
    """The subject line: the event in Russian, with the company's name."""
    russian, _ = _SUBJECTS.get(message.event, ("Уведомление реестра SIM-карт", "notification"))
    company = f" — {message.company_name}" if message.company_name else ""
    return f"simreg: {russian}{company}"


def _digest_lines(message: OutgoingMessage) -> list[str]:
    payload = message.payload() or {}
    raw_company = payload.get("company")
    company: dict[str, Any] = raw_company if isinstance(raw_company, dict) else {}
    name = str(company.get("name") or message.company_name)
    inn = str(company.get("inn") or message.company_inn)
    raw_flagged = payload.get("flagged")
    flagged = raw_flagged if isinstance(raw_flagged, dict) else {}
    thresholds = sorted(
        ((int(days), _int(count)) for days, count in flagged.items() if str(days).isdigit()),
        reverse=True,
    )
    suspended = _int(payload.get("suspended"))
    terminated = _int(payload.get("terminated"))
    next_deadline = payload.get("next_deadline_at")
    deadline: dt.datetime | None = None
    if isinstance(next_deadline, str):
        try:
            deadline = dt.datetime.fromisoformat(next_deadline)
        except ValueError:
            deadline = None
        if deadline is not None and deadline.tzinfo is None:
            deadline = deadline.replace(tzinfo=dt.UTC)
    lines = [
        "Здравствуйте!",
        "",
        f"Сводка реестра пользователей корпоративных SIM-карт для {name} (ИНН {inn}).",
        "",
    ]
    flagged_total = sum(count for _, count in thresholds)
    if thresholds:
        lines.append("Номера без подтверждённого пользователя, до срока регистрации осталось:")
        lines.extend(f"  {_days_ru(days)}: {count}" for days, count in thresholds)
    else:
        lines.append("Номеров без подтверждённого пользователя у срока регистрации нет.")
    lines.append(f"Обслуживание приостановлено: {suspended}")
    lines.append(f"Обслуживание прекращено: {terminated}")
    if deadline is not None:
        lines.append(f"Ближайший срок регистрации: {_moscow(deadline)}")
    report_url = payload.get("report_url")
    if isinstance(report_url, str):
        lines.append(f"Отчёт по номерам: {report_url}")
    lines += [
        "",
        "Укажите в реестре пользователей этих номеров до срока, чтобы обслуживание "
        "не было приостановлено.",
        "",
        f"English: {flagged_total} number(s) have no confirmed user yet, {suspended} suspended, "
        f"{terminated} terminated"
        + (f"; next deadline {_moscow_en(deadline)}" if deadline is not None else "")
        + ".",
    ]
    return lines


def _number_lines(message: OutgoingMessage) -> list[str]:
    number = message.msisdn or (f"№ {message.number_id}" if message.number_id else "")
    deadline = message.deadline_at
    lines = ["Здравствуйте!", ""]
    if message.event == "flag":
        days = f" (осталось {_days_ru(message.threshold)})" if message.threshold else ""
        lines.append(
            f"У номера {number} нет подтверждённого пользователя. Срок регистрации"
            + (f": {_moscow(deadline)}" if deadline else " скоро наступит")
            + f"{days}."
        )
        english = "a number has no confirmed user" + (
            f"; its deadline is {_moscow_en(deadline)}" if deadline else ""
        )
    elif message.event == "suspend":
        lines.append(
            f"Обслуживание номера {number} приостановлено: пользователь не подтверждён в срок. "
            "После подтверждения пользователя обслуживание возобновится."
        )
        english = "service of a number is suspended until its user is confirmed"
    elif message.event == "terminate":
        lines.append(f"Обслуживание номера {number} прекращено.")
        english = "service of a number is terminated"
    else:
        lines.append(f"Событие реестра: {message.event}.")
        english = f"registry event: {message.event}"
    lines += ["", f"English: {english}."]
    return lines


def email_body(message: OutgoingMessage) -> str:
    """Plain text in Russian with one English line; times in Moscow time."""
    lines = _digest_lines(message) if message.event == "digest" else _number_lines(message)
    lines += ["", f"Идентификатор уведомления / notification id: {message.id}"]
    return "\n".join(lines) + "\n"


def message_id(notification_id: int, sender: str) -> str:
    """A Message-ID that is the same on every attempt, so mail clients drop repeats."""
    domain = sender.rpartition("@")[2] or "simreg.localhost"
    return f"<simreg-notification-{notification_id}@{domain}>"


def build_email(
    message: OutgoingMessage, *, sender: str, recipient: str, now: dt.datetime
) -> EmailMessage:
    """The e-mail of one message."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = recipient
    mail["Subject"] = email_subject(message)
    mail["Date"] = format_datetime(now.astimezone(dt.UTC))
    mail["Message-ID"] = message_id(message.id, sender)
    mail[NOTIFICATION_ID_HEADER] = str(message.id)
    # base64 keeps the Cyrillic text 7-bit clean through any relay.
    mail.set_content(email_body(message), charset="utf-8", cte="base64")
    return mail


class EmailChannel:
    """Company e-mail through an SMTP server (one connection per message)."""

    name = EMAIL

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        timeout: float,
        clock: Clock,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout
        self._clock = clock
        self._username = username
        self._password = password
        self._starttls = starttls
        self._ssl_context = ssl_context

    @property
    def destination(self) -> str:
        """The SMTP server."""
        return f"smtp:{self._host}:{self._port}"

    def send(self, message: OutgoingMessage) -> None:
        """Hand the message to the SMTP server; DeliveryFailed when it does not take it."""
        if not message.notify_email:
            raise DeliveryFailed("the company has no notification e-mail")
        mail = build_email(
            message, sender=self._sender, recipient=message.notify_email, now=self._clock.now()
        )
        # Exceptions of smtplib quote the server's reply, which may name the recipient: only
        # their type and code go into the reason.
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                if self._starttls:
                    smtp.starttls(context=self._ssl_context or ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise DeliveryFailed(
                f"smtp refused the recipient ({codes[0] if codes else '?'})"
            ) from exc
        except smtplib.SMTPDataError as exc:
            raise DeliveryFailed(f"smtp refused the message ({exc.smtp_code})") from exc
        except smtplib.SMTPResponseException as exc:
            reason = f"smtp {type(exc).__name__} ({exc.smtp_code})"
            raise DeliveryFailed(reason, receiver_down=True) from exc
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            reason = f"smtp unreachable: {type(exc).__name__}"
            raise DeliveryFailed(reason, receiver_down=True) from exc


# --- webhook --------------------------------------------------------------------------------


def person_text(message: OutgoingMessage, language: Language = DEFAULT) -> str | None:
    """What the person reads (an SMS, the portal's inbox): what happened to their number and
    what to do; None for an event that has no words for a person."""
    values = {"msisdn": message.msisdn or "", "company": message.company_name}
    if message.event == "flag":
        if message.deadline_at is None:
            return say("notify.person.flag.nodate", language, **values)
        return say("notify.person.flag", language, date=moscow_day(message.deadline_at), **values)
    if message.event in ("suspend", "terminate"):
        return say(f"notify.person.{message.event}", language, **values)
    return None


def webhook_body(message: OutgoingMessage) -> bytes:
    """The JSON body of a webhook delivery (see the module docstring)."""
    body = {
        "id": message.id,
        "event": message.event,
        "audience": message.audience.value,
        "company_id": message.subscriber_id,
        "msisdn": message.msisdn,
        "threshold": message.threshold,
        "deadline_at": message.deadline_at.isoformat() if message.deadline_at else None,
        "payload": message.payload(),
        "created_at": message.created_at.isoformat(),
    }
    if message.audience is Audience.PERSON:
        body["text"] = person_text(message)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def sign_webhook(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Simreg-Signature value: sha256= and the hex HMAC of timestamp, ".", body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


# What the company's admin reads when a delivery did not reach the receiver, whatever the
# cause: the name not found, an address the registry does not post to, a refused connection, a
# timeout. Telling them apart would let an admin map hosts and ports (the log has the cause).
UNREACHABLE = "webhook unreachable"


class WebhookChannel:
    """A signed JSON POST to one receiver. With `guarded`, the receiver is a company's, and
    each delivery goes only to an address checked just before (app.notifications.targets)."""

    name = WEBHOOK

    def __init__(
        self,
        client: httpx.Client,
        *,
        url: str,
        secret: str,
        clock: Clock,
        guarded: bool = False,
        allow_loopback: bool = False,
    ) -> None:
        self._client = client
        self._url = url
        self._secret = secret
        self._clock = clock
        self._guarded = guarded
        self._allow_loopback = allow_loopback

    @property
    def destination(self) -> str:
        """The receiver's URL."""
        return f"webhook:{self._url}"

    def send(self, message: OutgoingMessage) -> None:
        """POST the message; any 2xx answer is a delivery, anything else a DeliveryFailed."""
        body = webhook_body(message)
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            NOTIFICATION_ID_HEADER: str(message.id),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign_webhook(self._secret, timestamp, body),
        }
        url: str | httpx.URL = self._url
        extensions: dict[str, str] = {}
        if self._guarded:
            try:
                pinned = targets.pin(self._url, allow_loopback=self._allow_loopback)
            except TargetRefused as exc:
                log.warning("webhook target refused", notification_id=message.id, cause=str(exc))
                raise DeliveryFailed(UNREACHABLE, receiver_down=True) from exc
            url, extensions = pinned.url, pinned.extensions
            # One connection per delivery: a pooled one would serve another name at the same
            # address over TLS checked for the first name.
            headers.update({"Host": pinned.host_header, "Connection": "close"})
        # Neither the URL (it may carry a receiver's token) nor the receiver's answer reaches
        # the reason: the status code at most.
        try:
            response = self._client.post(url, content=body, headers=headers, extensions=extensions)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            log.info("webhook unreachable", notification_id=message.id, cause=type(exc).__name__)
            raise DeliveryFailed(UNREACHABLE, receiver_down=True) from exc
        if not 200 <= response.status_code < 300:
            status = response.status_code
            down = status >= 500 or status in (401, 403, 404, 408, 429)
            raise DeliveryFailed(f"webhook answered {status}", receiver_down=down)


# --- routing --------------------------------------------------------------------------------


def company_channel_name(
    *, notify_webhook_url: str | None, notify_email: str | None, smtp_host: str | None
) -> ChannelName:
    """Which channel a company's messages take: its webhook, else e-mail, else the log."""
    if notify_webhook_url:
        return WEBHOOK
    if notify_email and smtp_host:
        return EMAIL
    return LOG


class ChannelRouter:
    """Chooses the channel of each message; holds the HTTP connection pool of one run."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        http: httpx.Client | None = None,
        smtp_ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._own_http = http is None
        self._http = http or httpx.Client(
            timeout=settings.notify_timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": "simreg-notifications"},
        )
        self._smtp_ssl_context = smtp_ssl_context
        self._log = LogChannel()

    def close(self) -> None:
        """Release the connection pool (when the router created it)."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> ChannelRouter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def channel_for(self, message: OutgoingMessage) -> Channel:
        """The channel of one message; DeliveryFailed when its channel is not configured."""
        settings = self._settings
        if message.audience is Audience.PERSON:
            if settings.notify_person_channel != WEBHOOK:
                return self._log
            if not settings.notify_person_webhook_url:
                raise DeliveryFailed("SIMREG_NOTIFY_PERSON_WEBHOOK_URL is not set")
            if not settings.notify_person_webhook_secret:
                raise DeliveryFailed("SIMREG_NOTIFY_PERSON_WEBHOOK_SECRET is not set")
            return WebhookChannel(
                self._http,
                url=settings.notify_person_webhook_url,
                secret=settings.notify_person_webhook_secret,
                clock=self._clock,
            )
        name = company_channel_name(
            notify_webhook_url=message.notify_webhook_url,
            notify_email=message.notify_email,
            smtp_host=settings.smtp_host,
        )
        if name == WEBHOOK:
            if not message.webhook_secret:
                raise DeliveryFailed("the company's webhook has no secret; set webhook_secret")
            return WebhookChannel(
                self._http,
                url=str(message.notify_webhook_url),
                secret=message.webhook_secret,
                clock=self._clock,
                guarded=True,
                allow_loopback=settings.webhook_allow_loopback and settings.is_sandbox,
            )
        if name == EMAIL:
            return EmailChannel(
                host=str(settings.smtp_host),
                port=settings.smtp_port,
                sender=settings.smtp_from,
                timeout=settings.notify_timeout_seconds,
                clock=self._clock,
                username=settings.smtp_username,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
                ssl_context=self._smtp_ssl_context,
            )
        return self._log
