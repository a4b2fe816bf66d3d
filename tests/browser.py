"""A real headless Chromium (Debian's) driven by Playwright, for dashboard tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed (scripts/system-deps installs it as root)")
    return path


@contextmanager
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            yield page
        finally:
            browser.close()


@contextmanager
def editor_page(url: str, token: str) -> Iterator[Any]:
    """A browser logged in with ``token`` on the server at ``url``, on its editor page."""
    with browser_page() as page:
        page.set_default_timeout(30_000)
        page.goto(url + "/editor")
        page.fill("input[name=token]", token)
        page.click("form.login button")
        page.wait_for_url(url + "/")
        page.goto(url + "/editor")
        page.wait_for_selector("body[data-ready=yes]")
        yield page
