"""Debian's Chromium under Playwright: how it is started, the viewports, the screenshots."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking switches Chromium phones home at start, and a closed
# network answers by refusing connections.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Only loopback resolves: a page that reaches for another host (a CDN's stylesheet) fails at
    # once, the same here and on a machine with a network, instead of waiting on it.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
MISSING = (
    f"Chromium is not at {CHROMIUM}: run `make chromium` (Debian's chromium and "
    "chromium-driver; `make test` installs them). Never `playwright install`."
)

LOCALE = "ru-RU"
TIMEZONE = "Europe/Moscow"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def folder_name(nodeid: str) -> str:
    """A test's node id as one folder name: `web/test_x.py::TestY::test_z[a b]` becomes
    `web.test_x.TestY.test_z-a_b`."""
    name = nodeid.removeprefix("tests/").replace(".py::", ".").replace("::", ".")
    name = name.replace("/", ".").replace("[", "-").replace("]", "")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:150]


class Screens:
    """Full-page PNGs of what a test visits, numbered in visit order, in a folder of the test's
    own under var/screenshots/ (emptied when the test starts)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: list[Path] = []
        self._pages: list[Page] = []
        shutil.rmtree(folder, ignore_errors=True)

    def track(self, page: Page) -> None:
        """Remember `page` as the test's current one (the fixtures report every page opened)."""
        self._pages.append(page)

    def __call__(self, name: str, page: Page | None = None) -> Path:
        """Save `page` (by default the page opened last) as `NN-<name>.png`; return the path."""
        target = page or self._current()
        self.folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^\w.-]+", "_", name).strip("_") or "page"
        path = self.folder / f"{len(self.taken) + 1:02d}-{safe}.png"
        target.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path

    def _current(self) -> Page:
        open_pages = [page for page in self._pages if not page.is_closed()]
        assert open_pages, "no page is open to take a screenshot of"
        return open_pages[-1]
