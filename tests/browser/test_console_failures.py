"""A reply Facebook refuses is marked failed with the reason in words, in the agent's view,
and the agent sends it again with Retry."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.desk import offered_conversation
from tests.support.eventually import eventually
from tests.support.product import Product


def test_a_refused_reply_says_why_and_is_retried(page: Page, product: Product) -> None:
    agent_key, page_id = offered_conversation(product)
    page.goto(f"{product.devhost_url}/api/console/")
    page.get_by_label("Agent key").fill(agent_key)
    page.get_by_role("button", name="Sign in as agent").click()
    offer = page.locator(".inbox-item", has_text="Noor Haddad")
    eventually(offer.count, nudge=lambda: product.run_function("router"), interval=0.3)
    offer.click()
    page.get_by_role("button", name="Accept").click()
    # Reading the history sends "mark_seen" (a Send API call): let it go first.
    eventually(lambda: product.simulator.sender_actions(page_id=page_id),
               nudge=lambda: product.run_function("sender"))
    # Set without input events: the typing signal is a Send API call too, and would take the
    # one fault meant for the reply.
    page.get_by_label("Reply").evaluate("box => { box.value = 'Are you there?'; }")
    product.simulator.add_fault(operation="send", page_id=page_id, kind="graph_error",
                                code=100, subcode=2018001, times=1)
    page.get_by_label("Reply").press("Enter")
    message = page.locator(".message.out", has_text="Are you there?")
    status = message.locator(".status")
    eventually(lambda: status.get_attribute("data-status") if status.count() else None,
               lambda shown: shown == "failed", nudge=lambda: product.run_function("sender"),
               interval=0.3)
    expect(status).to_have_text("Not sent: Facebook does not know this customer.")

    # The fault was for once: Retry sends the same message again.
    message.get_by_role("button", name="Retry").click()
    eventually(lambda: status.get_attribute("data-status"),
               lambda shown: shown in {"sent", "delivered", "read"},
               nudge=lambda: product.run_function("sender"), interval=0.3)
    expect(message.get_by_role("button", name="Retry")).to_have_count(0)
    assert [s["message"].get("text") for s in product.simulator.sent(page_id=page_id)
            ].count("Are you there?") == 1
