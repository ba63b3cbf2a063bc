"""Fixtures of the explorer's browser tests: a real server, Debian's Chromium driven by Playwright, and a
page whose every request to anything but 127.0.0.1 is refused and recorded, and whose console errors
are recorded; both lists must be empty when the test ends.

Chromium is the system's (``/usr/bin/chromium``, Debian's package; ``playwright install`` is never run).
Without it or Playwright the tests are skipped, except under CI (``CI`` set), where they fail: ``.ci/run``
installs both.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from api.helpers import REPO, server_process

CHROMIUM = os.environ.get("INITSERVE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where the screenshots go (gitignored); printed by the test that writes them.
ARTIFACTS = Path(os.environ.get("INITSERVE_ARTIFACTS", REPO / "artifacts" / "explorer"))
TIMEOUT_MS = 120_000  # a loaded 2-core box: the first request compiles the stream's kernels


def _playwright() -> Any:
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "the playwright package"
    if missing is None and not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        missing = CHROMIUM
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} is not installed (.ci/run installs it)")
        pytest.skip(f"{missing} is not installed")
    return sync_playwright


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with server_process() as (base, _):
        yield base


@pytest.fixture(scope="module")
def browser_context() -> Iterator[Any]:
    sync_playwright = _playwright()
    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="explorer-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,  # a fresh user-data-dir
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 800},
            accept_downloads=True,
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@dataclass
class Watched:
    """A page, the requests it made, those refused (not to 127.0.0.1) and its console errors."""

    page: Any
    base: str
    requests: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # answers >= 400: status, URL and body (diagnostics)

    def allow(self, text: str) -> None:
        """Console errors containing ``text`` are expected (Chromium logs every 4xx answer as one)."""
        self.allowed.append(text)

    def open(self) -> Any:
        """Loads the explorer and waits for its first tensor and propagation answers."""
        self.page.goto(self.base + "/")
        self.page.wait_for_selector("#tensor-results[data-run='1']")
        self.page.wait_for_selector("#propagation-results[data-run='1']")
        return self.page

    def run(self, button: str = "run", results: str = "tensor-results") -> str:
        """Clicks a run button and waits for its answer; the results' data-state (done or error)."""
        before = int(self.page.get_attribute(f"#{results}", "data-run") or "0")
        self.page.get_by_test_id(button).click()
        self.page.wait_for_selector(f"#{results}[data-run='{before + 1}']")
        state = self.page.get_attribute(f"#{results}", "data-state") or ""
        if state != "done":
            print(f"{results}: {state}; refused answers: {self.refused}")
        return state


@pytest.fixture
def watched(browser_context: Any, server: str) -> Iterator[Watched]:
    page = browser_context.new_page()
    watched = Watched(page, server)

    def route(route: Any) -> None:
        url = route.request.url
        watched.requests.append(url)
        if urlparse(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            watched.outside.append(url)
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda message: watched.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: watched.errors.append(f"uncaught: {error}"))

    def answered(response: Any) -> None:
        if response.status >= 400:
            try:
                body = response.text()[:500]
            except Exception as exc:  # the body may be gone with the page
                body = f"<{exc}>"
            watched.refused.append(f"{response.status} {response.url} {body}")

    page.on("response", answered)
    try:
        yield watched
        assert watched.outside == [], f"requests left 127.0.0.1: {watched.outside}"
        unexpected = [e for e in watched.errors if not any(a in e for a in watched.allowed)]
        assert unexpected == [], f"console errors: {unexpected}; refused answers: {watched.refused}"
    finally:
        page.close()
