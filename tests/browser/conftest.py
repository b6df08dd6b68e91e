"""Browser tests: the real panel served on 127.0.0.1 (werkzeug, free port, real PostgreSQL) driven by the Debian
Chromium through Playwright (`executable_path`, never a downloaded browser). No Chromium: skipped locally, a
failure in CI (`.ci/run` installs it).

Every page a test opens is watched: a console error, an uncaught exception or a Content-Security-Policy violation
fails the test. With SCREENSHOT_DIR set, `screenshot(page, name)` writes small PNGs (used for docs/screenshots).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import services
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

VIEWPORT = {"width": 1100, "height": 720}


@pytest.fixture(scope="package")
def browser() -> Iterator:
    if not Path(CHROMIUM).is_file():
        services.unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        services.unavailable(f"playwright is not installed: {exc}")
    profile = tempfile.mkdtemp(prefix="alumusic-chromium-")
    with sync_playwright() as pw:
        # A persistent context gives Chromium a fresh user-data-dir of our own, removed afterwards.
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, viewport=VIEWPORT, locale="pt-BR"
        )
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app (emptied PostgreSQL database) on 127.0.0.1:<free port>, stopped after the test."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


class PageProblems(list):
    """Console errors, page errors and CSP violations seen while a test ran."""


@pytest.fixture
def page(browser, live_server):
    """A fresh tab (cookies cleared) whose console errors and CSP violations fail the test."""
    browser.clear_cookies()
    problems = PageProblems()
    tab = browser.new_page()
    tab.expected_statuses = set()  # type: ignore[attr-defined]  # a test that provokes a 400 on purpose says so

    def on_console(msg) -> None:
        status = re.search(r"Failed to load resource: the server responded with a status of (\d+)", msg.text)
        if msg.type == "error" and not (status and int(status.group(1)) in tab.expected_statuses):
            problems.append(f"console {msg.type}: {msg.text}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # Recorded in the page by a listener Playwright injects over CDP (not subject to the page's CSP).
    tab.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    tab.set_default_timeout(10_000)
    tab.base_url = live_server  # type: ignore[attr-defined]
    yield tab
    tab.close()
    assert list(problems) == [], "browser problems: " + "; ".join(problems)


def screenshot(page, name: str) -> None:
    """Save a PNG of the page when SCREENSHOT_DIR is set (the README's screenshots: `make screenshots`)."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)
