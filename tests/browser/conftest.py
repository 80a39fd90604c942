"""Headless Chromium (the Debian package, never a downloaded browser) driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DOCS = Path(__file__).resolve().parents[2] / "docs"
# Playwright's `expect` retries for 5 s by default: a daemon's answer on a busy 2-core machine (a daemon
# starting in the next test worker, Chromium rendering) can take longer. The timeout only bounds a failure.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install the Debian chromium package (nothing downloads a browser)")
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium_path, args=ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()
