"""The page-test fixtures work: the live app in Debian's Chromium, screenshots, and a full
OpenID Connect sign-in (authorization code with S256 PKCE) against the provider the sign-in
tests use."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from playwright.sync_api import Page, Route

from tests.conftest import ENGINE
from tests.web.chromium import Screens
from tests.web.conftest import NewContext
from tests.web.oidc import OidcProvider

CLIENT_ID = "simreg-web"
CLIENT_SECRET = "any secret"  # the mock takes any
REDIRECT_URI = "http://127.0.0.1:9/auth/callback"  # never reached: intercepted or not followed
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Any) -> bool:
    data = path.read_bytes()
    return len(data) > 1000 and data.startswith(PNG_MAGIC)


class TestTheLiveAppInChromium:
    def test_readyz_answers_from_this_engine_and_is_screenshotted(
        self, page: Page, shot: Screens
    ) -> None:
        answer = page.goto("/readyz")

        assert answer is not None
        assert answer.status == 200
        assert f'"database":"{ENGINE}"' in page.locator("body").inner_text()
        path = shot("readyz")
        assert path.name == "01-readyz.png"
        assert _is_png(path)

    def test_swagger_page_is_served_in_russian_locale(self, page: Page, shot: Screens) -> None:
        answer = page.goto("/docs", wait_until="domcontentloaded")

        assert answer is not None
        assert answer.status == 200
        assert "simreg" in page.title()
        assert page.evaluate("navigator.language") == "ru-RU"
        first, second = shot("docs"), shot("docs again")
        assert [first.name, second.name] == ["01-docs.png", "02-docs_again.png"]
        assert first.parent.name.endswith("test_swagger_page_is_served_in_russian_locale")
        assert _is_png(second)

    def test_a_phone_sized_page(self, phone_page: Page, shot: Screens) -> None:
        phone_page.goto("/healthz")

        # A phone's screen; a page without <meta name=viewport> is laid out 980 px wide, as on
        # a real phone.
        assert phone_page.evaluate("[screen.width, screen.height]") == [390, 844]
        assert phone_page.evaluate("navigator.maxTouchPoints") > 0
        assert _is_png(shot("healthz on a phone"))


class TestTheOidcProvider:
    def test_discovery_names_the_endpoints_and_s256(self, oidc_provider: OidcProvider) -> None:
        document = httpx.get(oidc_provider.discovery_url).json()

        assert document["issuer"] == oidc_provider.issuer
        assert document["authorization_endpoint"] == oidc_provider.authorization_endpoint
        assert document["token_endpoint"] == oidc_provider.token_endpoint
        assert document["jwks_uri"].startswith(oidc_provider.issuer)
        assert "code" in document["response_types_supported"]
        assert document["code_challenge_methods_supported"] == ["S256"]


def _client() -> OAuth2Client:
    return OAuth2Client(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scope="openid profile",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )


def _start(client: OAuth2Client, provider: OidcProvider) -> tuple[str, str, str]:
    """The authorization URL with an S256 challenge; its verifier and nonce."""
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url, _state = client.create_authorization_url(
        provider.authorization_endpoint, code_verifier=verifier, nonce=nonce
    )
    return url, verifier, nonce


def _callback_of(url: str) -> str:
    """Where the provider sends the browser back, read without following it."""
    answer = httpx.get(url)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def _verified_claims(provider: OidcProvider, id_token: str, nonce: str) -> dict[str, Any]:
    jwks = jwt.PyJWKSet.from_dict(httpx.get(provider.issuer + "/jwks").json())
    kid = jwt.get_unverified_header(id_token).get("kid")  # the mock's one key has none
    key = next(k for k in jwks.keys if kid is None or k.key_id == kid)
    claims: dict[str, Any] = jwt.decode(
        id_token, key, algorithms=["RS256"], audience=CLIENT_ID, issuer=provider.issuer
    )
    assert claims["nonce"] == nonce
    return claims


class TestSignInWithPkce:
    def test_the_next_user_signs_in_and_the_id_token_carries_the_claims(
        self, oidc_provider: OidcProvider
    ) -> None:
        oidc_provider.next_user("admin-1", role="company_admin", company_id="42")
        with _client() as client:
            url, verifier, nonce = _start(client, oidc_provider)
            callback = _callback_of(url)
            token = client.fetch_token(
                oidc_provider.token_endpoint,
                authorization_response=callback,
                code_verifier=verifier,
            )

        claims = _verified_claims(oidc_provider, token["id_token"], nonce)
        assert (claims["sub"], claims["role"], claims["company_id"]) == (
            "admin-1",
            "company_admin",
            "42",
        )

    def test_the_authorize_form_driven_in_chromium(
        self, oidc_provider: OidcProvider, new_context: NewContext, shot: Screens
    ) -> None:
        oidc_provider.set_user("staff-7", role="operator_staff")
        page = new_context().new_page()
        returned: list[str] = []

        def land(route: Route) -> None:
            returned.append(route.request.url)
            route.fulfill(
                status=200, content_type="text/html; charset=utf-8", body="<h1>Вернулись</h1>"
            )

        page.route(REDIRECT_URI + "*", land)
        with _client() as client:
            url, verifier, nonce = _start(client, oidc_provider)
            page.goto(url)
            shot("authorize form")
            oidc_provider.authorize_in_form(page, "staff-7")
            page.get_by_text("Вернулись").wait_for()
            token = client.fetch_token(
                oidc_provider.token_endpoint,
                authorization_response=returned[0],
                code_verifier=verifier,
            )

        claims = _verified_claims(oidc_provider, token["id_token"], nonce)
        assert (claims["sub"], claims["role"]) == ("staff-7", "operator_staff")

    def test_a_public_client_signs_in_by_pkce_alone(self, oidc_provider: OidcProvider) -> None:
        oidc_provider.next_user("person-3")
        with OAuth2Client(
            client_id=CLIENT_ID,
            scope="openid",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
        ) as client:
            assert client.token_endpoint_auth_method == "none"
            url, verifier, nonce = _start(client, oidc_provider)
            token = client.fetch_token(
                oidc_provider.token_endpoint,
                authorization_response=_callback_of(url),
                code_verifier=verifier,
            )

        assert _verified_claims(oidc_provider, token["id_token"], nonce)["sub"] == "person-3"

    def test_a_wrong_code_verifier_is_refused(self, oidc_provider: OidcProvider) -> None:
        oidc_provider.next_user("admin-1")
        with _client() as client:
            url, _verifier, _nonce = _start(client, oidc_provider)
            callback = _callback_of(url)
            code = parse_qs(urlsplit(callback).query)["code"][0]
            answer = client.post(
                oidc_provider.token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": secrets.token_urlsafe(48),
                },
                auth=(CLIENT_ID, CLIENT_SECRET),
            )

        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_grant"

    def test_a_client_without_pkce_is_refused(self, oidc_provider: OidcProvider) -> None:
        oidc_provider.next_user("admin-1")
        with OAuth2Client(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, scope="openid"
        ) as client:
            url, _state = client.create_authorization_url(
                oidc_provider.authorization_endpoint, redirect_uri=REDIRECT_URI
            )
            callback = _callback_of(url)
            with pytest.raises(Exception, match="PKCE is required"):
                client.fetch_token(
                    oidc_provider.token_endpoint,
                    authorization_response=callback,
                    redirect_uri=REDIRECT_URI,
                )

    def test_a_refused_sign_in_returns_access_denied(self, oidc_provider: OidcProvider) -> None:
        oidc_provider.refuse_next()
        with _client() as client:
            url, _verifier, _nonce = _start(client, oidc_provider)
            callback = _callback_of(url)

        assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]
