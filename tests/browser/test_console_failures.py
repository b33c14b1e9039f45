"""A reply Facebook refuses is marked failed with the reason in words, in the agent's view."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.desk import offered_conversation
from tests.support.product import Product

pytestmark = pytest.mark.e2e


def test_a_refused_reply_says_why(page: Page, product: Product) -> None:
    agent_key, page_id = offered_conversation(product)
    page.goto(f"{product.devhost_url}/api/console/")
    page.get_by_label("Agent key").fill(agent_key)
    page.get_by_role("button", name="Sign in as agent").click()
    offer = page.locator(".inbox-item", has_text="Noor Haddad")
    for _ in range(40):
        if offer.count():
            break
        product.run_function("router")
        page.wait_for_timeout(300)
    offer.click()
    page.get_by_role("button", name="Accept").click()
    # Reading the history sends "mark_seen" (a Send API call): let it go first.
    for _ in range(40):
        if product.simulator.sender_actions(page_id=page_id):
            break
        product.run_function("sender")
        page.wait_for_timeout(200)
    # Set without input events: the typing signal is a Send API call too, and would take the
    # one fault meant for the reply.
    page.get_by_label("Reply").evaluate("box => { box.value = 'Are you there?'; }")
    product.simulator.add_fault(operation="send", page_id=page_id, kind="graph_error",
                                code=100, subcode=2018001, times=1)
    page.get_by_label("Reply").press("Enter")
    status = page.locator(".message.out", has_text="Are you there?").locator(".status")
    for _ in range(40):
        if status.count() and status.get_attribute("data-status") == "failed":
            break
        product.run_function("sender")
        page.wait_for_timeout(300)
    expect(status).to_have_text("not sent: Facebook does not know this customer")
