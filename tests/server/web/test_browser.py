"""The web view in a real headless Chromium (Debian's), driven by Playwright.

Chromium comes from ``scripts/test.sh`` (apt). Set ``STATESYNC_TEST_CHROMIUM``
to another binary, or to ``absent`` to skip these tests deliberately; a
missing binary otherwise fails them. Screenshots are saved under the test's
temporary folder, and copied to ``tests/artifacts/`` when
``STATESYNC_WEB_ARTIFACTS=1``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.leakscan import MARKER
from tests.server.web.conftest import WebStore

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
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def _chromium() -> str:
    wanted = os.environ.get("STATESYNC_TEST_CHROMIUM", "/usr/bin/chromium")
    if wanted == "absent":
        pytest.skip("STATESYNC_TEST_CHROMIUM=absent: no browser in this run")
    if not os.access(wanted, os.X_OK):
        pytest.fail(f"no Chromium at {wanted} (scripts/test.sh installs it with apt)")
    return wanted


@dataclass
class Browser:
    """One browser page, with every console error and page error it reported."""

    page: Any
    shots: Path
    errors: list[str] = field(default_factory=list)

    def visit(self, url: str, shot: str) -> str:
        """Open ``url``, screenshot it, and return its HTML (checked for planted secrets)."""
        response = self.page.goto(url)
        assert response is not None and response.status == 200, url
        self.page.screenshot(path=str(self.shots / f"{shot}.png"), full_page=True)
        html: str = self.page.content()
        assert MARKER not in html and MARKER not in self.page.inner_text("body")
        return html


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=executable,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1366, "height": 800},
        )
        try:
            page = context.new_page()
            got = Browser(page, shots)
            page.on(
                "console",
                lambda m: (
                    got.errors.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: got.errors.append(f"page error: {e}"))
            yield got
        finally:
            context.close()
    if os.environ.get("STATESYNC_WEB_ARTIFACTS") == "1":
        ARTIFACTS.mkdir(exist_ok=True)
        for shot in shots.iterdir():
            shutil.copy(shot, ARTIFACTS / shot.name)


def test_pages_load_without_console_errors(
    browser: Browser, web_url: str, web_store: WebStore
) -> None:
    browser.visit(web_url + "/", "environments")
    assert browser.page.locator("table.grid tbody tr.env").count() == 4  # dev long prod vault
    assert browser.page.locator("header .store").inner_text() == web_store.url
    browser.page.click("text=dev")
    assert browser.page.url.endswith("/env/dev")
    browser.page.screenshot(path=str(browser.shots / "history-dev.png"), full_page=True)
    browser.page.click(f"text={web_store.dev_second[:12]}")
    assert "/snap/" in browser.page.url
    browser.page.screenshot(path=str(browser.shots / "snapshot.png"), full_page=True)
    browser.page.click("a:text-is('config.json')")
    assert browser.page.locator("pre.content .redacted").count() == 1
    browser.page.screenshot(path=str(browser.shots / "file.png"), full_page=True)
    assert "Secret" not in browser.page.inner_text("pre.content")
    assert browser.errors == []


def test_history_pages_through_the_pager(browser: Browser, web_url: str) -> None:
    browser.visit(web_url + "/env/long", "history-long-1")
    rows = browser.page.locator("table.grid tbody tr")
    assert rows.count() == 50
    assert "step 119" in rows.first.inner_text()
    browser.page.click("a[rel=next]")
    assert "step 69" in rows.first.inner_text() and rows.count() == 50
    browser.page.click("a[rel=next]")
    assert rows.count() == 20 and "step 0" in rows.last.inner_text()
    assert browser.page.locator("a[rel=next]").count() == 0
    browser.page.screenshot(path=str(browser.shots / "history-long-3.png"), full_page=True)
    browser.page.click("a[rel=prev]")
    assert "step 69" in rows.first.inner_text()
    assert browser.errors == []


def test_diff_shows_key_changes_with_secrets_redacted(
    browser: Browser, web_url: str, web_store: WebStore
) -> None:
    browser.visit(web_url + "/", "diff-form")
    browser.page.fill("input[name=a]", web_store.dev_first)
    browser.page.fill("input[name=b]", "dev")
    browser.page.click("button[type=submit]")
    browser.page.wait_for_url("**/diff?**")
    browser.page.screenshot(path=str(browser.shots / "diff.png"), full_page=True)
    table = browser.page.locator("section.change:has(h2:text-is('config.json')) table.keys")
    text = table.inner_text()
    assert "/db/host" in text and "db1.internal" in text and "db2.internal" in text
    assert "/replicas" in text
    assert browser.page.locator("pre.diff .add").count() > 0
    assert browser.page.locator("pre.diff .del").count() > 0
    html = browser.visit(web_url + "/diff?a=dev&b=prod", "diff-envs")
    assert "statesync:enc:" not in html and "db9.internal" in html
    assert browser.errors == []
