"""A real OpenID Connect provider for sign-in tests: oidc-provider-mock on loopback, made strict
about PKCE and able to sign the next user in without a form.

What oidc-provider-mock 0.3.4 gives, read from its source:
- the authorization code flow (response_type=code, query response mode), refresh tokens,
  RS256 id_tokens, userinfo, discovery, JWKS, RP-initiated logout (end_session);
- any client id is accepted unregistered, with any secret and any redirect URI; the token
  endpoint authenticates clients by client_secret_basic or client_secret_post only: a public
  client (auth method `none`, no secret) is refused with invalid_client;
- users are a subject plus claims (`PUT /users/<sub>`, JSON). Every claim outside the standard
  profile/email/address/phone sets goes into the id_token and userinfo whatever the scope
  (`role`, `company_id`); standard ones only with their scope. A subject typed in the
  authorize form that was never registered gets the claims {"email": sub};
- the authorize endpoint shows a form (a `sub` text field, "Authorize" and "Deny" buttons);
  posting it issues the code. Nothing in the form sets claims;
- NO PKCE: code_challenge is accepted and ignored, code_verifier is never checked, and the
  discovery document does not list code_challenge_methods_supported.

So `OidcProvider` adds, around the mock: S256 PKCE checked at the token endpoint (required
unless `require_pkce` is turned off; `plain` is refused) and advertised in discovery; public
clients, who prove themselves by that PKCE alone, as OAuth 2.1 has them; and a queue of next
users, each signed in by the next authorize request without showing the form.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import flask
import oidc_provider_mock
import werkzeug.serving
from playwright.sync_api import Page

AUTHORIZE_PATH = "/oauth2/authorize"
TOKEN_PATH = "/oauth2/token"
DISCOVERY_PATH = "/.well-known/openid-configuration"
PUBLIC_CLIENT_SECRET = "public-client-proved-by-pkce"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def s256(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier (RFC 7636, section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcProvider:
    """The provider a sign-in test talks to; `issuer` is its base URL (http://127.0.0.1:port)."""

    def __init__(self, *, require_pkce: bool = True) -> None:
        self.issuer = ""
        self.require_pkce = require_pkce
        self._flask = oidc_provider_mock.app()
        self._challenges: dict[str, tuple[str, str]] = {}
        self._next: deque[str | None] = deque()
        self._lock = threading.Lock()
        self._flask.after_request(self._after_request)
        self._flask.before_request(self._check_code_verifier)
        self._flask.wsgi_app = self._rewrite(self._flask.wsgi_app)

    @property
    def discovery_url(self) -> str:
        return self.issuer + DISCOVERY_PATH

    @property
    def authorization_endpoint(self) -> str:
        return self.issuer + AUTHORIZE_PATH

    @property
    def token_endpoint(self) -> str:
        return self.issuer + TOKEN_PATH

    def set_user(self, sub: str, **claims: Any) -> None:
        """Register (or replace) the claims of `sub`, for the form or a later `next_user`."""
        answer = self._flask.test_client().put(f"/users/{quote(sub, safe='')}", json=claims)
        assert answer.status_code == 204, answer.get_data(as_text=True)

    def next_user(self, sub: str, **claims: Any) -> None:
        """The next authorize request signs `sub` in with these claims, without the form.
        Queued: call it twice and two sign-ins follow, in order."""
        self.set_user(sub, **claims)
        with self._lock:
            self._next.append(sub)

    def refuse_next(self) -> None:
        """The next authorize request is denied, as if the person pressed "Deny"
        (the client gets error=access_denied at its redirect URI)."""
        with self._lock:
            self._next.append(None)

    def authorize_in_form(self, page: Page, sub: str) -> None:
        """On the provider's authorize form (no user queued), type `sub` and press Authorize."""
        page.locator("input[name=sub]").fill(sub)
        page.get_by_role("button", name="Authorize").click()

    # The strictness and the queue, around the mock's Flask app.

    def _rewrite(self, wsgi_app: WsgiApp) -> WsgiApp:
        """Before the mock sees a request: a GET of the authorize endpoint becomes the form's
        POST when a user is queued; a public client's token request gets a stand-in secret
        (the mock takes any), its PKCE being checked all the same."""

        def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path, method = environ.get("PATH_INFO"), environ["REQUEST_METHOD"]
            if path == AUTHORIZE_PATH and method == "GET":
                with self._lock:
                    queued, sub = (True, self._next.popleft()) if self._next else (False, None)
                if queued:
                    form = {"sub": sub} if sub is not None else {"action": "deny"}
                    environ = _with_form(environ, urlencode(form).encode())
            elif path == TOKEN_PATH and method == "POST" and "HTTP_AUTHORIZATION" not in environ:
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                if "client_secret" not in parse_qs(body.decode()):
                    body += b"&client_secret=" + PUBLIC_CLIENT_SECRET.encode()
                environ = _with_form(environ, body)
            return wsgi_app(environ, start_response)

        return answer

    def _after_request(self, response: flask.Response) -> flask.Response:
        request = flask.request
        if request.path == DISCOVERY_PATH:
            document = response.get_json()
            document["code_challenge_methods_supported"] = ["S256"]
            return flask.jsonify(document)
        if request.path == AUTHORIZE_PATH and response.status_code in (302, 303):
            issued = parse_qs(urlsplit(response.headers.get("Location", "")).query)
            challenge = request.args.get("code_challenge")
            if "code" in issued and challenge:
                method = request.args.get("code_challenge_method", "plain")
                with self._lock:
                    self._challenges[issued["code"][0]] = (challenge, method)
        return response

    def _check_code_verifier(self) -> flask.Response | None:
        request = flask.request
        if request.path != TOKEN_PATH or request.form.get("grant_type") != "authorization_code":
            return None
        with self._lock:
            challenge, method = self._challenges.pop(request.form.get("code", ""), ("", ""))
        verifier = request.form.get("code_verifier")
        if not challenge:
            if self.require_pkce:
                return _invalid_grant("PKCE is required: no code_challenge was sent")
            return None
        if method != "S256":
            return _invalid_grant(f"code_challenge_method {method} is refused: use S256")
        if not verifier or s256(verifier) != challenge:
            return _invalid_grant("code_verifier does not match the code_challenge")
        return None

    @contextmanager
    def serving(self) -> Iterator[OidcProvider]:
        """Serve on a free loopback port in a thread until the block ends."""
        server = werkzeug.serving.make_server("127.0.0.1", 0, self._flask, threaded=True)
        self.issuer = f"http://127.0.0.1:{server.server_port}"
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


def _with_form(environ: dict[str, Any], body: bytes) -> dict[str, Any]:
    return {
        **environ,
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }


def _invalid_grant(description: str) -> flask.Response:
    answer = flask.jsonify({"error": "invalid_grant", "error_description": description})
    answer.status_code = 400
    return answer
