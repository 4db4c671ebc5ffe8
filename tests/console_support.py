"""Shared by the console tests: a real Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = os.environ.get("WARDGATE_TEST_CHROMIUM", "/usr/bin/chromium")
# Chromium as the machine notes say it runs here: no sandbox as root, no calls home.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_browser() -> Iterator[Browser]:
    """Chromium for one test module (the `browser` fixture in conftest)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(
            f"no chromium at {CHROMIUM}: ./scripts/test installs Debian's chromium when run as"
            " root; otherwise install it (apt-get install chromium) or set"
            " WARDGATE_TEST_CHROMIUM"
        )
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield found
        found.close()


def sign_in(page: Page, url: str, cred: str) -> None:
    page.goto(f"{url}/console/login")
    page.fill("#credential", cred)
    page.click("button[type=submit]")
