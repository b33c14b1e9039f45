"""Closing after the messaging window: the console says the goodbye could not be sent, and
why, instead of letting it fail out of sight (issue 20, point 6)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.desk import Team, conversation_of, customer_writes, inbox_item, sign_in
from tests.support.product import Product

DAY = 24 * 3600


def shift_clocks(product: Product, seconds: float) -> None:
    assert product.admin.put("/clock", json={"offset_seconds": seconds}).is_success
    product.simulator.set_clock(seconds)


def test_a_close_after_the_window_says_the_goodbye_was_not_sent(
        page: Page, product: Product, team: Team) -> None:
    [workstream] = [w for w in product.manage.get("/workstreams").json()["items"]
                    if w["page_id"] == team.page_id]
    patched = product.manage.patch(f"/workstreams/{workstream['id']}", json={
        "automated_messages": {"agent_ended": {"en-US": "Thanks, goodbye!"}}})
    assert patched.status_code == 200, patched.text
    psid = customer_writes(product, team, "Rita", "Late", "Hello?")
    chat = conversation_of(team.ann, psid, product)
    assert team.ann.api.post(f"/conversations/{chat['id']}/accept").status_code == 200
    sign_in(page, product, team.ann.key)
    inbox_item(page, product, "Rita Late").click()
    close = page.get_by_role("button", name="Close conversation")
    expect(close).to_be_visible()
    shift_clocks(product, DAY + 60)
    try:
        close.click()
        notice = page.locator("#conversation-error")
        expect(notice).to_contain_text(
            "Closed, but not sent to the customer: the goodbye message.")
        expect(notice).to_contain_text("24 hours after the customer's last message")
    finally:
        shift_clocks(product, 0)
