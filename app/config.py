"""Settings of simreg: one class, read from SIMREG_* environment variables (and a .env file)."""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import itertools
from functools import lru_cache

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development keys: fine on a laptop, refused when SIMREG_ENV=production.
DEV_JWT_SECRET = "simreg-dev-jwt-secret-change-me-0123456789"
DEV_PD_KEY = "dev1:c2ltcmVnLWRldi1wZXJzb25hbC1kYXRhLWtleS0zMiE="
DEV_PD_HASH_KEY = "simreg-dev-hash-key-change-me-0123456789"
DEV_CURSOR_SECRET = "simreg-dev-cursor-secret-change-me"
DEV_PORTAL_SECRET = "simreg-dev-portal-signing-secret"
DEV_SESSION_SECRET = "simreg-dev-session-secret-change-me"


class Environment(enum.StrEnum):
    """Where simreg runs; the sandbox identity provider exists only outside production."""

    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every setting of simreg. Environment variables carry the SIMREG_ prefix."""

    model_config = SettingsConfigDict(env_prefix="SIMREG_", env_file=".env", extra="ignore")

    env: Environment = Environment.DEV
    database_url: str = Field(
        default="sqlite:///var/simreg.db",
        description="SQLAlchemy URL; sqlite:///path for the embedded file, "
        "postgresql+psycopg://user:pass@host/db in production.",
    )
    db_pool_size: int = Field(default=10, ge=1)
    person_requests_per_minute: int = Field(
        default=300,
        ge=0,
        description="Requests a person may make to the /me endpoints per minute, per API "
        "instance (0: no limit); over it they get 429 with Retry-After.",
    )
    person_requests_burst: int = Field(
        default=60, ge=1, description="How many person requests may come at once."
    )
    failed_logins_per_minute: int = Field(
        default=10,
        ge=0,
        description="Failed sign-ins (a bad token or API key) allowed per client address, and "
        "per credential tried, per minute, per API instance (0: no limit); beyond it a failed "
        "sign-in from the address, or with the credential, gets 429 instead of 401 until the "
        "allowance refills. A valid credential is never held back.",
    )
    failed_logins_burst: int = Field(
        default=20, ge=1, description="Failed sign-ins allowed in a row before the limit bites."
    )
    trusted_proxies: list[str] = Field(
        default=[],
        description="Reverse proxies in front of the API whose X-Forwarded-For and "
        'X-Forwarded-Proto are believed, a JSON list of addresses or networks: ["10.0.0.5", '
        '"10.1.0.0/16"]. The client address (what the failed sign-ins are counted by) is then '
        "the last address in X-Forwarded-For that is not a trusted proxy. Empty (the default): "
        "those headers are ignored and the address is the connecting one's.",
    )
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="Largest total size of a request's headers (names and values); above it "
        "the request is refused with 431 before anything else reads it.",
    )
    max_credential_bytes: int = Field(
        default=8 * 1024,
        ge=256,
        description="Largest Authorization or X-API-Key header; a longer one is refused with "
        "431 before any attempt to verify it.",
    )
    api_docs_in_production: bool = Field(
        default=False,
        description="Serve /docs, /redoc and /openapi.json in production too (they are always "
        "served in dev and test).",
    )
    db_connect_timeout_seconds: int = Field(
        default=3,
        ge=1,
        description="PostgreSQL: give up connecting after this long, so that requests fail "
        "fast with 503 while the database is away instead of piling up.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    jwt_secret: str = Field(default=DEV_JWT_SECRET, description="HS256 key for tokens.")
    jwt_public_key: str | None = Field(
        default=None, description="PEM public key (RS256/ES256) of the identity provider."
    )
    jwks_url: str | None = Field(default=None, description="JWKS URL of the identity provider.")
    jwt_issuer: str = "simreg"
    jwt_audience: str = "simreg-api"
    sandbox_token_ttl_minutes: int = Field(default=720, ge=1)

    session_secret: str = Field(
        default=DEV_SESSION_SECRET, description="Signs the pages' session cookie."
    )
    session_minutes: int = Field(
        default=480, ge=1, description="A page session ends this long after sign-in."
    )
    oidc_staff_issuer: str | None = Field(
        default=None,
        description="OpenID Connect provider of company admins and operator staff (issuer URL; "
        "its /.well-known/openid-configuration is read). Its ID tokens carry `role` "
        "(company_admin or operator_staff) and, for an admin, `company_id`.",
    )
    oidc_staff_client_id: str | None = None
    oidc_staff_client_secret: str | None = None
    oidc_persons_issuer: str | None = Field(
        default=None,
        description="OpenID Connect provider of persons (the identity portal): its `sub` is "
        "the person's portal account.",
    )
    oidc_persons_client_id: str | None = None
    oidc_persons_client_secret: str | None = None

    pd_keys: str = Field(
        default=DEV_PD_KEY,
        description="Personal-data encryption keys as 'kid:base64key,kid2:base64key' "
        "(32-byte AES-256 keys). New data is encrypted with pd_active_key_id.",
    )
    pd_active_key_id: str = "dev1"
    pd_hash_key: str = Field(
        default=DEV_PD_HASH_KEY, description="Key of the keyed hash used for equality look-ups."
    )
    cursor_secret: str = Field(default=DEV_CURSOR_SECRET, description="Signs page cursors.")

    now: dt.datetime | None = Field(
        default=None,
        description="Pins the clock in dev/test (ignored in production): 2026-12-01T00:00:00Z",
    )
    dev_clock_refresh_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Outside production: how often a process reads back the dev clock that "
        "every process on the database shares (moved by PUT /api/v1/sandbox/clock).",
    )
    upload_dir: str = Field(
        default="var/uploads",
        description="Where uploaded files are kept; shared by every API instance.",
    )
    upload_max_bytes: int = Field(
        default=200 * 1024 * 1024, ge=1, description="Largest accepted upload (413 above)."
    )
    json_max_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1, description="Largest accepted JSON request body."
    )
    xlsx_max_unpacked_bytes: int = Field(
        default=1024 * 1024 * 1024, ge=1, description="Largest XLSX content once unzipped."
    )
    xlsx_max_cells: int = Field(
        default=20_000_000,
        ge=1,
        description="Largest XLSX sheet, in cells: the box from its first to its last cell "
        "(and the size it declares), its cells, its shared strings. The reader holds 32 bytes "
        "per cell of the box: 20 million is about 640 MB, a million rows of 20 columns.",
    )
    xlsx_max_columns: int = Field(
        default=256,
        ge=1,
        le=16_384,
        description="Most columns an XLSX sheet may span from its first to its last cell.",
    )
    upload_resume_on_start: bool = Field(
        default=True, description="Resume uploads left unfinished when the process starts."
    )
    upload_batch_rows: int = Field(
        default=15_000,
        ge=10,
        description="Rows checked per batch of a dry run (an apply's are two thirds of it); "
        "memory grows with it.",
    )
    upload_lease_seconds: int = Field(default=120, ge=5)
    upload_worker_timeout_seconds: float = Field(
        default=900,
        gt=0,
        description="Each upload is read and checked in a worker process of its own; one that "
        "runs longer than this is stopped. An upload whose worker dies or is stopped twice "
        "fails with the reason.",
    )
    upload_worker_memory_mb: int = Field(
        default=4096,
        ge=0,
        description="Address space an upload's worker process may take, in MB (0: no limit); "
        "past it the worker stops instead of the machine running out of memory.",
    )
    max_numbers_per_person: int = Field(
        default=20, ge=1, description="Numbers one person may use across all companies."
    )
    confirmation_window_days: int = Field(
        default=30, ge=1, description="Days a person has to answer a confirmation request."
    )
    portal_adapter: str = Field(
        default="sandbox", description="Identity portal adapter: 'sandbox' (dev/test) or 'http'."
    )
    portal_url: str | None = Field(default=None, description="Base URL of the real portal API.")
    portal_api_key: str | None = Field(default=None, description="Key for the real portal API.")
    portal_signing_secret: str = Field(
        default=DEV_PORTAL_SECRET,
        description="HMAC key the portal signs its answers with.",
    )
    portal_timeout_seconds: float = Field(default=10.0, gt=0)
    portal_rate_per_operator: float = Field(
        default=10.0,
        ge=0,
        description="Confirmation requests per second sent to the portal per operator, across "
        "every dispatcher on the database; 0 sends as fast as the portal takes them.",
    )
    portal_send_batch: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Confirmation requests handed to the portal in one call.",
    )
    dispatch_interval_seconds: int = Field(
        default=10,
        ge=1,
        description="Dispatch job tick: each run sends queued confirmation requests at the "
        "portal's rate for most of its tick, for as long as there is a backlog.",
    )
    portal_retry_base_seconds: float = Field(default=30.0, gt=0)
    portal_retry_max_seconds: float = Field(default=3600.0, gt=0)
    work_lease_seconds: int = Field(default=300, ge=1, description="Operator work item lease.")
    deadline_flag_days: list[int] = Field(
        default=[30, 14, 7, 3, 1],
        description="Days before a deadline at which unconfirmed numbers are flagged and "
        "notified; a JSON list, strictly descending: [30,14,7,3,1].",
    )
    deadline_termination_enabled: bool = Field(
        default=False, description="Terminate numbers left suspended for too long."
    )
    deadline_termination_days: int = Field(
        default=90, ge=1, description="Days suspended before termination, when enabled."
    )
    deadline_batch_ids: int = Field(
        default=250_000,
        ge=1_000,
        description="Numbers (by id range) the deadline run moves per transaction.",
    )
    bulk_workers: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Batches of the deadline and matching runs processed side by side on "
        "PostgreSQL (one connection each); about the database's cores. SQLite runs one at a time.",
    )
    matching_batch_ids: int = Field(
        default=250_000,
        ge=1_000,
        description="Numbers (by id range) the matching run moves per transaction.",
    )
    scheduler_in_process: bool = Field(
        default=True,
        description="Run scheduled jobs inside the API process (make run). Set false on API "
        "instances when `simreg scheduler` runs them in its own process.",
    )
    scheduler_metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="Port on which `simreg scheduler` serves /metrics for Prometheus (its job "
        "runs, matching outcomes and gauges); 0 turns it off.",
    )
    job_claims_keep_days: int = Field(
        default=30, ge=1, description="Days the scheduler keeps the claim rows of past ticks."
    )
    matching_interval_seconds: int = Field(default=300, ge=1, description="Matching job tick.")
    deadlines_interval_seconds: int = Field(
        default=3600, ge=1, description="Deadline job tick: recompute, flag, suspend, digest."
    )
    notifications_interval_seconds: int = Field(
        default=30, ge=1, description="Notification delivery job tick."
    )
    metrics_interval_seconds: int = Field(
        default=60,
        ge=1,
        description="Metrics job tick: recount numbers by status and the notification backlog "
        "for GET /metrics (one GROUP BY per table).",
    )
    notify_person_channel: str = Field(
        default="log",
        description="How persons get their messages: 'log', or 'webhook' to "
        "notify_person_webhook_url (an SMS gateway or the portal's inbox).",
    )
    notify_person_webhook_url: str | None = Field(
        default=None, description="Receiver of persons' messages when the channel is webhook."
    )
    notify_person_webhook_secret: str | None = Field(
        default=None, description="HMAC key for persons' webhook messages."
    )
    webhook_allow_loopback: bool = Field(
        default=False,
        description="Outside production only: let company webhooks reach this machine "
        "(localhost, 127.0.0.0/8, ::1), over plain http too, for a receiver under development. "
        "Company webhooks never reach private, link-local or other non-public addresses, and "
        "production refuses to start with this on.",
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for company e-mail.")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_from: str = Field(default="simreg@localhost", description="From: of company e-mail.")
    notify_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one SMTP or webhook delivery."
    )
    notify_max_attempts: int = Field(
        default=50, ge=1, description="Delivery attempts before a message is marked dead."
    )
    notify_retry_base_seconds: float = Field(default=30.0, gt=0)
    notify_retry_max_seconds: float = Field(default=900.0, gt=0)
    notify_batch: int = Field(default=200, ge=1, description="Messages per delivery batch.")
    max_numbers_per_request: int = Field(default=50_000, ge=1)
    page_size_max: int = Field(default=500, ge=1)
    hsts: bool = Field(
        default=False,
        description="Send Strict-Transport-Security on API responses; only behind HTTPS.",
    )
    cors_origins: list[str] = Field(
        default=[],
        description="Origins allowed to call the API from a browser, a JSON list: "
        '["https://admin.example.ru"]. Empty (the default): CORS is off.',
    )
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _url_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("SIMREG_DATABASE_URL is empty; set it to an SQLAlchemy URL")
        return value

    @field_validator("deadline_flag_days")
    @classmethod
    def _thresholds_descending(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("SIMREG_DEADLINE_FLAG_DAYS is empty; give e.g. [30,14,7,3,1]")
        if any(day < 1 for day in value):
            raise ValueError("SIMREG_DEADLINE_FLAG_DAYS: every threshold must be 1 day or more")
        if any(a <= b for a, b in itertools.pairwise(value)):
            raise ValueError(
                f"SIMREG_DEADLINE_FLAG_DAYS {value} is not strictly descending; "
                "list the thresholds from the farthest to the nearest, e.g. [30,14,7,3,1]"
            )
        return value

    @field_validator("notify_person_channel")
    @classmethod
    def _known_person_channel(cls, value: str) -> str:
        if value not in ("log", "webhook"):
            raise ValueError("SIMREG_NOTIFY_PERSON_CHANNEL must be 'log' or 'webhook'")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"SIMREG_TRUSTED_PROXIES: {entry!r} is not an address or a network; "
                    'give e.g. ["10.0.0.5", "10.1.0.0/16"]'
                ) from None
        return [entry.strip() for entry in value]

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.env is not Environment.PRODUCTION:
            return self
        if self.webhook_allow_loopback:
            raise ValueError(
                "SIMREG_WEBHOOK_ALLOW_LOOPBACK is for development only; production refuses it"
            )
        defaults = {
            "SIMREG_JWT_SECRET": self.jwt_secret == DEV_JWT_SECRET,
            "SIMREG_PD_KEYS": self.pd_keys == DEV_PD_KEY,
            "SIMREG_PD_HASH_KEY": self.pd_hash_key == DEV_PD_HASH_KEY,
            "SIMREG_CURSOR_SECRET": self.cursor_secret == DEV_CURSOR_SECRET,
            "SIMREG_PORTAL_SIGNING_SECRET": self.portal_signing_secret == DEV_PORTAL_SECRET,
            "SIMREG_SESSION_SECRET": self.session_secret == DEV_SESSION_SECRET,
        }
        bad = [name for name, is_default in defaults.items() if is_default]
        if bad:
            raise ValueError(
                "production refuses the development defaults of "
                + ", ".join(bad)
                + "; set each to a secret of your own"
            )
        return self

    @property
    def is_sandbox(self) -> bool:
        """True where the sandbox identity provider and portal may run."""
        return self.env is not Environment.PRODUCTION

    @property
    def api_docs(self) -> bool:
        """Whether /docs, /redoc and /openapi.json are served."""
        return self.is_sandbox or self.api_docs_in_production


@lru_cache
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return Settings()
