"""Closing after the messaging window: the console says the goodbye could not be sent, and
why, instead of letting it fail out of sight (issue 20, point 6)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.desk import (
    Team,
    conversation_of,
    customer_writes,
    inbox_item,
    make_supervisor,
    sign_in,
)
from tests.support.product import Product

DAY = 24 * 3600


def shift_clocks(product: Product, seconds: float) -> None:
    assert product.admin.put("/clock", json={"offset_seconds": seconds}).is_success
    product.simulator.set_clock(seconds)


def patch_workstream(product: Product, team: Team, **changes: object) -> None:
    [workstream] = [w for w in product.manage.get("/workstreams").json()["items"]
                    if w["page_id"] == team.page_id]
    # The clock moves a day past the customer's message: the auto-close timer (a day of
    # inactivity by default) would otherwise close the conversation first.
    patched = product.manage.patch(f"/workstreams/{workstream['id']}", json={
        "auto_close_after_minutes": 3 * 24 * 60, **changes})
    assert patched.status_code == 200, patched.text


def with_goodbye(product: Product, team: Team) -> None:
    patch_workstream(product, team, automated_messages={
        "agent_ended": {"en-US": "Thanks, goodbye!"}})


def test_a_close_after_the_window_says_the_goodbye_was_not_sent(
        page: Page, product: Product, team: Team) -> None:
    with_goodbye(product, team)
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


def test_a_supervisors_close_after_the_window_says_so_too(
        page: Page, product: Product, team: Team) -> None:
    # A supervisor's close sends no goodbye, only the survey (API.md).
    patch_workstream(product, team, post_conversation_survey={
        "kind": "rating", "question": "How did we do?"})
    sue = make_supervisor(product, team)
    psid = customer_writes(product, team, "Lou", "Later", "Anyone?")
    chat = conversation_of(team.ann, psid, product)
    assert team.ann.api.post(f"/conversations/{chat['id']}/accept").status_code == 200
    sign_in(page, product, sue.key)
    page.get_by_role("button", name="Conversations").click()
    filters = page.locator("#sv-filters")
    filters.get_by_label("Page", exact=True).select_option(team.page_id)
    filters.get_by_role("button", name="Apply filters").click()
    page.get_by_role("button", name="Lou Later").click()
    shift_clocks(product, DAY + 60)
    try:
        page.get_by_role("button", name="Close conversation").click()
        page.get_by_role("dialog", name="Close the conversation?").get_by_role(
            "button", name="Close it").click()
        expect(page.locator("#sv-reader-meta")).to_contain_text("closed")
        notice = page.locator("#sv-notice")
        expect(notice).to_contain_text("Closed, but not sent to the customer: the survey.")
        expect(notice).to_contain_text("24 hours after the customer's last message")
    finally:
        shift_clocks(product, 0)
