"""Headless Chromium from Debian (``/usr/bin/chromium``) driven by Playwright: nothing is
downloaded at test time. The stack is the session's ``product`` (see ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.browser.desk import Team, make_team
from tests.support.product import Product


def pytest_configure(config: pytest.Config) -> None:
    # expect() waits as long as an action (the contexts' 15 s): under `make test` the other
    # tiers share the two cores, and a live refresh can come later than Playwright's 5 s.
    expect.set_options(timeout=15_000)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install -y chromium)",
                    pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # A fresh context per test: its own sessionStorage, so keys never leak between tests.
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Opens a page in a context of its own (one per agent, each with its own key), at a
    laptop's 1366x768 unless told; axe can be injected (``bypass_csp``). Closed after the test."""
    contexts: list[BrowserContext] = []

    def open_one(width: int = 1366, height: int = 768) -> Page:
        context = browser.new_context(bypass_csp=True,
                                      viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_one
    for context in contexts:
        context.close()


@pytest.fixture
def team(product: Product) -> Iterator[Team]:
    """A page, two queues and two available agents made through the management API."""
    made = make_team(product)
    yield made
    made.ann.api.close()
    made.bob.api.close()
