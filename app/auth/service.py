"""Who is calling: roles, principals, JWT verification and minting, operator API keys."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.actors import Actor, ActorKind
from app.core.errors import Unauthorized
from app.core.integers import is_row_id
from app.core.messages import Text

SANDBOX_ALGORITHM = "HS256"
VERIFIED_TOKEN_SECONDS = 300
VERIFIED_TOKENS_KEPT = 20_000
KNOWN_SCOPES_KEPT = 1_000_000


class Role(enum.StrEnum):
    """The four kinds of caller, each seeing only its own part of the registry."""

    COMPANY_ADMIN = "company_admin"
    PERSON = "person"
    OPERATOR_SYSTEM = "operator_system"
    OPERATOR_STAFF = "operator_staff"


_ACTOR_KIND = {
    Role.COMPANY_ADMIN: ActorKind.COMPANY_ADMIN,
    Role.PERSON: ActorKind.PERSON,
    Role.OPERATOR_SYSTEM: ActorKind.OPERATOR_SYSTEM,
    Role.OPERATOR_STAFF: ActorKind.OPERATOR_STAFF,
}


class Tenants(Protocol):
    """What sign-in asks of the registry of companies and operators. The companies feature
    answers (wired by create_app): auth sits below every feature, companies included."""

    def has_company(self, session: Session, company_id: int) -> bool:
        """Whether the registry holds the company (corporate subscriber)."""
        ...

    def has_operator(self, session: Session, operator_id: int) -> bool:
        """Whether the registry holds the operator."""
        ...

    def operator_with_key(self, session: Session, key_hash: str) -> tuple[int, str] | None:
        """The id and code of the operator whose API key hashes to `key_hash`, if any."""
        ...


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `company_id` / `operator_id` scope admins and operator systems."""

    role: Role
    subject: str
    company_id: int | None = None
    operator_id: int | None = None

    @property
    def actor(self) -> Actor:
        """The caller as it appears in the event log."""
        return Actor(_ACTOR_KIND[self.role], self.subject)


def _claim_int(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Unauthorized(Text("auth.claim.missing", claim=name))
    try:
        number = int(value)
    except ValueError as exc:
        raise Unauthorized(Text("auth.claim.not_a_number", claim=name)) from exc
    if not is_row_id(number):
        raise Unauthorized(Text("auth.claim.not_an_id", claim=name))
    return number


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """Turn verified claims into a principal, refusing a role without its scope."""
    try:
        role = Role(str(claims.get("role", "")))
    except ValueError as exc:
        raise Unauthorized(Text("auth.role.unknown")) from exc
    subject = str(claims.get("sub") or "")
    if not subject:
        raise Unauthorized(Text("auth.subject.missing"))
    if role is Role.COMPANY_ADMIN:
        return Principal(role, subject, company_id=_claim_int(claims, "company_id"))
    if role is Role.OPERATOR_SYSTEM:
        return Principal(role, subject, operator_id=_claim_int(claims, "operator_id"))
    return Principal(role, subject)


class TokenService:
    """Verifies bearer tokens against the configured keys; mints sandbox tokens."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None
        # Token → (principal, good until): a person polling their status sends the same token
        # again and again, and checking its signature each time was a sixth of the read.
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._verified_lock = threading.Lock()
        # Companies and operators that tokens named and the database holds; neither is ever
        # deleted, so what is known stays true.
        self._known_scopes: set[tuple[str, int]] = set()

    @staticmethod
    def _scopes(principal: Principal) -> list[tuple[str, int]]:
        scopes = []
        if principal.company_id is not None:
            scopes.append(("company", principal.company_id))
        if principal.operator_id is not None:
            scopes.append(("operator", principal.operator_id))
        return scopes

    def scope_known(self, principal: Principal) -> bool:
        """Whether the company or operator the principal acts for is known to exist."""
        return all(scope in self._known_scopes for scope in self._scopes(principal))

    def remember_scope(self, principal: Principal) -> None:
        """Record that the principal's company or operator exists."""
        if len(self._known_scopes) > KNOWN_SCOPES_KEPT:
            self._known_scopes.clear()
        self._known_scopes.update(self._scopes(principal))

    @property
    def fetches_keys(self) -> bool:
        """Whether verifying may fetch the identity provider's keys over the network."""
        return self._jwks is not None

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=self._settings.jwt_audience,
            issuer=self._settings.jwt_issuer,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
        return claims

    def verify(self, token: str) -> Principal:
        """Verify signature, expiry, issuer and audience; Unauthorized on any failure.

        A token verified before is trusted again, without its signature checked, until it
        expires or for at most VERIFIED_TOKEN_SECONDS (so a key withdrawn from the JWKS stops
        being honoured that soon)."""
        now = time.time()
        with self._verified_lock:
            known = self._verified.get(token)
            if known is not None:
                if known[1] > now:
                    self._verified.move_to_end(token)
                    return known[0]
                del self._verified[token]
        principal, expires = self._verify(token)
        with self._verified_lock:
            self._verified[token] = (principal, min(expires, now + VERIFIED_TOKEN_SECONDS))
            if len(self._verified) > VERIFIED_TOKENS_KEPT:
                self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(Text("auth.token.not_jwt")) from exc
        algorithm = str(header.get("alg", ""))
        try:
            if algorithm == SANDBOX_ALGORITHM:
                claims = self._decode(token, self._settings.jwt_secret, [SANDBOX_ALGORITHM])
            elif self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
                claims = self._decode(token, key, ["RS256", "ES256", "PS256"])
            elif self._settings.jwt_public_key:
                claims = self._decode(
                    token, self._settings.jwt_public_key, ["RS256", "ES256", "PS256"]
                )
            else:
                raise Unauthorized(Text("auth.token.algorithm", algorithm=algorithm or "none"))
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized(Text("auth.token.expired")) from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(Text("auth.token.invalid")) from exc
        return principal_from_claims(claims), float(claims["exp"])

    def mint(self, principal: Principal, *, now: dt.datetime, ttl: dt.timedelta) -> str:
        """Sign a token for `principal` (the sandbox identity provider uses this)."""
        claims: dict[str, Any] = {
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "sub": principal.subject,
            "role": principal.role.value,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
        }
        if principal.company_id is not None:
            claims["company_id"] = principal.company_id
        if principal.operator_id is not None:
            claims["operator_id"] = principal.operator_id
        return jwt.encode(claims, self._settings.jwt_secret, algorithm=SANDBOX_ALGORITHM)


def new_api_key() -> tuple[str, str]:
    """A fresh operator API key and the hash that is stored (the key itself never is)."""
    key = "sk_" + secrets.token_urlsafe(32)
    return key, hash_api_key(key)


def hash_api_key(key: str) -> str:
    """SHA-256 of an API key; keys are random, so no salt is needed."""
    return hashlib.sha256(key.encode()).hexdigest()
