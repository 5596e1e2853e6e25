"""Sign-in through OpenID Connect: the authorization code flow with PKCE (S256), by Authlib.

Two providers may be configured: `staff` (company admins and operator staff, from the operator's
own identity provider) and `persons` (the national identity portal). Authlib keeps the state,
nonce and code verifier in the session cookie between the redirect and the callback, checks the
ID token's signature (the provider's JWKS), issuer, audience and nonce.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.starlette_client import OAuth, OAuthError
from sqlalchemy.orm import Session

from app.auth.service import Principal, Role, Tenants, principal_from_claims
from app.config import Settings
from app.core.errors import Unauthorized
from app.core.messages import Text

STAFF = "staff"
PERSONS = "persons"
_STAFF_ROLES = (Role.COMPANY_ADMIN, Role.OPERATOR_STAFF)


def _configured(settings: Settings) -> dict[str, tuple[str, str, str | None]]:
    candidates = {
        STAFF: (
            settings.oidc_staff_issuer,
            settings.oidc_staff_client_id,
            settings.oidc_staff_client_secret,
        ),
        PERSONS: (
            settings.oidc_persons_issuer,
            settings.oidc_persons_client_id,
            settings.oidc_persons_client_secret,
        ),
    }
    return {
        name: (issuer, client_id, secret)
        for name, (issuer, client_id, secret) in candidates.items()
        if issuer and client_id
    }


def build_providers(settings: Settings) -> OAuth:
    """The configured providers, each read from its issuer's discovery document on first use."""
    oauth = OAuth()
    for name, (issuer, client_id, secret) in _configured(settings).items():
        oauth.register(
            name,
            client_id=client_id,
            client_secret=secret,
            server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={
                "scope": "openid profile",
                "code_challenge_method": "S256",
                # A public client (no secret) proves itself by PKCE alone.
                **({} if secret else {"token_endpoint_auth_method": "none"}),
            },
        )
    return oauth


def provider_names(settings: Settings) -> list[str]:
    """The providers the sign-in page offers."""
    return list(_configured(settings))


def principal_from_provider(
    provider: str, claims: dict[str, Any], session: Session, tenants: Tenants
) -> Principal:
    """The principal an ID token names. The persons' provider says who a person is; the staff
    provider also says the role (company admin or operator staff) and the admin's company,
    which must be one the registry holds."""
    if provider == PERSONS:
        subject = str(claims.get("sub") or "")
        if not subject:
            raise Unauthorized(Text("auth.claim.missing", claim="sub"))
        return Principal(Role.PERSON, subject)
    principal = principal_from_claims(claims)
    if principal.role not in _STAFF_ROLES:
        raise Unauthorized(Text("page.sign_in.role_not_for_pages", role=principal.role.value))
    company = principal.company_id
    if company is not None and not tenants.has_company(session, company):
        raise Unauthorized(Text("auth.company.unknown", company_id=company))
    return principal


__all__ = ["OAuth", "OAuthError", "build_providers", "principal_from_provider", "provider_names"]
