"""Fixtures for page tests: the app served live, Debian's Chromium, screenshots, an OIDC provider.

A page test asks for `page` (a desktop tab in Russian, its base URL the live server, so
`page.goto("/")` works) or `phone_page` (the same at 390x844), calls `shot("name")` on each
page it visits, and signs in through `oidc_provider`. Both engines, like every test.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any, Protocol

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.web.chromium import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    LOCALE,
    MISSING,
    PHONE,
    SCREENSHOTS,
    TIMEZONE,
    Screens,
    folder_name,
)
from tests.web.live_server import serving
from tests.web.oidc import OidcProvider

# Fail fast: a page that lacks what a test waits for is a failure, not a reason to wait 30 s.
ACTION_TIMEOUT_MS = 5_000
NAVIGATION_TIMEOUT_MS = 10_000


class NewContext(Protocol):
    def __call__(
        self, *, phone: bool = False, base_url: str | None = None, **options: Any
    ) -> BrowserContext: ...


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep the call phase's report on the test, so teardown can tell it failed."""
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The test's `app` (its database, its FixedClock, the scheduler off) served by uvicorn in
    a thread on a free 127.0.0.1 port, lifespan included; yields the base URL, no slash."""
    with serving(app) as base_url:
        yield base_url


# Package scope: one Chromium for every test under tests/web, closed when they are done.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, started once. Fails (never skips) when it is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(MISSING, pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Screens:
    """`shot("name")` saves the current page as var/screenshots/<test>/NN-name.png;
    `shot("name", page=other)` another open page. Returns the PNG's path."""
    return Screens(SCREENSHOTS / folder_name(request.node.nodeid))


@pytest.fixture
def new_context(
    browser: Browser, shot: Screens, request: pytest.FixtureRequest
) -> Generator[NewContext]:
    """Open more browser contexts (another person signed in, a phone): `new_context()` is a
    desktop in Russian, `new_context(phone=True)` a 390x844 phone; `base_url=` and any
    Browser.new_context option besides. Closed after the test, with a screenshot of the last
    page first when the test failed."""
    contexts: list[BrowserContext] = []

    def open_context(
        *, phone: bool = False, base_url: str | None = None, **options: Any
    ) -> BrowserContext:
        chosen: dict[str, Any] = {"locale": LOCALE, "timezone_id": TIMEZONE}
        if phone:
            chosen |= {"viewport": PHONE, "is_mobile": True, "has_touch": True}
            chosen["device_scale_factor"] = 2
        else:
            chosen["viewport"] = DESKTOP
        if base_url is not None:
            chosen["base_url"] = base_url
        context = browser.new_context(**(chosen | options))
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        context.on("page", shot.track)
        contexts.append(context)
        return context

    yield open_context
    try:
        if request.node.stash.get(_CALL_FAILED, False) and any(c.pages for c in contexts):
            shot("failed")
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(new_context: NewContext, live_server: str) -> Page:
    """A desktop tab (1280x800, ru-RU, Europe/Moscow) whose base URL is the live server."""
    return new_context(base_url=live_server).new_page()


@pytest.fixture
def phone_page(new_context: NewContext, live_server: str) -> Page:
    """A phone-sized tab (390x844, touch, ru-RU) whose base URL is the live server."""
    return new_context(phone=True, base_url=live_server).new_page()


@pytest.fixture
def oidc_provider() -> Iterator[OidcProvider]:
    """A real OpenID Connect provider (oidc-provider-mock 0.3.4) on a free loopback port,
    fresh for each test. `issuer` is its base URL (discovery at
    `<issuer>/.well-known/openid-configuration`).

    Found in its source (details in tests/web/oidc.py): the authorization code flow with RS256
    id_tokens (no `kid`; one key in the JWKS), userinfo and refresh tokens; any client id,
    secret and redirect URI is accepted; extra claims (`role`, `company_id`) reach the id_token
    whatever the scope. Its token endpoint takes client_secret_basic or client_secret_post
    only, and it has no PKCE (code_challenge ignored, not advertised). This fixture adds: S256
    PKCE checked at the token endpoint and required (`oidc_provider.require_pkce = False` to
    allow a client without it; `plain` refused), listed in discovery; and public clients
    (auth method `none`), which then prove themselves by PKCE alone.

    Choosing who signs in:
    - `oidc_provider.next_user("sub-1", role="company_admin", company_id="…")`: the next
      authorize request signs that user in at once, without a form (queued, in order);
    - `oidc_provider.refuse_next()`: the next authorize request answers access_denied;
    - nothing queued: the provider's form shows; `oidc_provider.set_user(sub, **claims)` then
      `oidc_provider.authorize_in_form(page, sub)` types the subject and presses Authorize.
    """
    with OidcProvider().serving() as provider:
        yield provider
