"""The console passes axe-core (from npm) with no serious or critical violations, and an
agent can sign in, pick a conversation, accept and reply with the keyboard alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.desk import offered_conversation, serious_violations
from tests.support.eventually import eventually
from tests.support.product import Product


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    # axe is injected as an inline script, which the console's CSP (rightly) refuses.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def wait_for(page: Page, product: Product, selector: str) -> None:
    eventually(page.locator(selector).count, nudge=lambda: product.run_function("router"),
               interval=0.3, what=f"{selector!r} on the page")


def test_axe_finds_no_serious_violations(axe_page: Page, product: Product) -> None:
    agent_key, _ = offered_conversation(product)
    axe_page.goto(f"{product.devhost_url}/api/console/")
    assert serious_violations(axe_page) == []

    axe_page.get_by_label("Agent key").fill(agent_key)
    axe_page.get_by_role("button", name="Sign in as agent").click()
    wait_for(axe_page, product, ".inbox-item")
    axe_page.locator(".inbox-item").first.click()
    axe_page.get_by_role("button", name="Accept").click()
    expect(axe_page.locator(".message.in")).to_contain_text("Hello?")
    assert serious_violations(axe_page) == []

    axe_page.evaluate("sessionStorage.clear()")
    axe_page.goto(f"{product.devhost_url}/api/console/")
    axe_page.get_by_label("Management key").fill(product.manage.headers["Authorization"][7:])
    axe_page.get_by_role("button", name="Sign in as operator").click()
    expect(axe_page.locator(".account").first).to_be_visible()
    expect(axe_page.locator("#queues tbody tr").first).to_be_visible()
    expect(axe_page.locator("#agents tbody")).to_contain_text("Kay")
    assert serious_violations(axe_page) == []


def test_an_agent_works_with_the_keyboard_alone(page: Page, product: Product) -> None:
    agent_key, _ = offered_conversation(product)
    page.goto(f"{product.devhost_url}/api/console/")
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Agent key")).to_be_focused()
    page.keyboard.type(agent_key)
    page.keyboard.press("Enter")
    expect(page.get_by_label("Presence")).to_be_visible()
    wait_for(page, product, ".inbox-item")
    page.get_by_label("Presence").focus()
    page.keyboard.press("Tab")
    expect(page.locator(".inbox-item").first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Accept")).to_be_visible()
    page.keyboard.press("Tab")  # focus moved to the conversation's heading; Accept is next
    expect(page.get_by_role("button", name="Accept")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Reply")).to_be_focused()
    page.keyboard.type("Typed without a mouse.")
    page.keyboard.press("Enter")
    expect(page.locator(".message.out", has_text="Typed without a mouse.")).to_be_visible()
