"""The console on a phone (390x844): one pane at a time with back buttons, nothing wider than
the screen, axe clean in each pane; the management view's tables scroll inside their boxes.
No request of the whole visit fails (the favicon included)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, Response, expect

from tests.browser.desk import (
    Team,
    conversation_of,
    customer_writes,
    inbox_item,
    overflowing,
    screenshot,
    serious_violations,
    sign_in,
)
from tests.support.product import Product


def test_one_pane_at_a_time_on_a_phone(open_page: Callable[..., Page], product: Product,
                                       team: Team) -> None:
    psid = customer_writes(product, team, "Yusuf", "Demir-Castellanos",
                           "Hello! My parcel tracking number is 00340434161234567890 and it "
                           "has not moved for a week, can you check?")
    conversation = conversation_of(team.ann, psid, product)
    assert team.ann.api.post(f"/conversations/{conversation['id']}/accept").status_code == 200
    phone = open_page(390, 844)
    failed: list[str] = []

    def record(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")
    phone.on("response", record)

    sign_in(phone, product, team.ann.key)
    item = inbox_item(phone, product, "Yusuf Demir-Castellanos")
    expect(phone.locator("#conversation-pane")).to_be_hidden()
    expect(phone.locator("#customer-pane")).to_be_hidden()
    assert overflowing(phone) == []
    assert serious_violations(phone) == []

    item.click()
    expect(phone.locator("#inbox-pane")).to_be_hidden()
    expect(phone.locator(".message.in")).to_contain_text("00340434161234567890")
    phone.get_by_label("Reply").fill("Checking now.")
    phone.get_by_label("Reply").press("Enter")
    expect(phone.locator(".message.out", has_text="Checking now.")).to_be_visible()
    assert overflowing(phone) == []
    assert serious_violations(phone) == []
    screenshot(phone, "console-phone.png")

    phone.get_by_role("button", name="Transfer").click()
    expect(phone.get_by_role("dialog", name="Transfer the conversation")).to_be_visible()
    assert overflowing(phone) == []
    phone.keyboard.press("Escape")

    phone.get_by_role("button", name="Customer details").click()
    expect(phone.locator("#conversation-pane")).to_be_hidden()
    expect(phone.locator("#customer-name")).to_have_text("Yusuf Demir-Castellanos")
    assert overflowing(phone) == []
    assert serious_violations(phone) == []
    phone.get_by_role("button", name="Back to the conversation").click()
    expect(phone.get_by_role("heading", name="Yusuf Demir-Castellanos")).to_be_focused()
    phone.get_by_role("button", name="Back to inbox").click()
    expect(phone.locator(".inbox-item", has_text="Yusuf Demir-Castellanos")).to_be_focused()

    with phone.expect_navigation():
        phone.get_by_role("button", name="Sign out").click()
    phone.get_by_label("Management key").fill(product.manage.headers["Authorization"][7:])
    phone.get_by_role("button", name="Sign in as operator").click()
    expect(phone.locator(f".account tr[data-page='{team.page_id}']")).to_be_visible()
    expect(phone.locator("#agents tbody")).to_contain_text(team.ann.name)
    assert overflowing(phone) == []
    assert serious_violations(phone) == []
    assert failed == []
