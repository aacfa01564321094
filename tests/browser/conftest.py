"""Browser tests: the app served by `python -m app serve` on a free port, and Debian's Chromium
driven by Playwright. Each journey runs against SQLite and against PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from app.settings import ROOT
from tests.conftest import IN_CI, TEST_SECRET, create_database, drop_database
from tests.donations_support import stripe_settings

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the app did not come up:\n{log.read_text()[-3000:]}")


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, localstripe_url: str
) -> Iterator[str]:
    """The real server (migrations, geography, demo data) on a free port; its URL."""
    tmp = tmp_path_factory.mktemp("live")
    db_url = create_database(request.param, tmp)
    port = free_port()
    log = tmp / "server.log"
    env = {**os.environ, "DATABASE_URL": db_url, "ENVIRONMENT": "test", "SECRET_KEY": TEST_SECRET,
           "HOST": "127.0.0.1", "PORT": str(port)}
    env.update({k.upper(): str(v) for k, v in stripe_settings(localstripe_url).items()})
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "app", "serve"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        drop_database(db_url)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM}: apt-get install chromium"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


PHONE = {"width": 360, "height": 740}  # a cheap Android phone's screen, in CSS pixels


def _watched_page(browser: Browser, **context_options: Any) -> Iterator[Page]:
    """A fresh page; at the end of the journey, nothing it did may have broken the site's Content
    Security Policy (a script, a frame, a style the policy refused: htmx, Stripe.js, our pages)."""
    context = browser.new_context(locale="vi-VN", **context_options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    yield page
    context.close()
    assert not refused, refused


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from _watched_page(browser)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """As `page`, on a phone's screen, touch and all."""
    yield from _watched_page(browser, viewport=PHONE, is_mobile=True, has_touch=True)
