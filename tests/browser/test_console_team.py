"""Agents working together in two browsers: a transfer to another queue accepted by the agent
there, and a consult whose notes never reach Facebook."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect

from tests.browser.desk import (
    Team,
    conversation_of,
    customer_writes,
    inbox_item,
    nudge,
    screenshot,
    serious_violations,
    sign_in,
)
from tests.support.eventually import eventually
from tests.support.product import Product


def note_box(page: Page) -> Locator:
    return page.get_by_role("textbox", name=re.compile("^Note"))


def sent_texts(product: Product, team: Team, psid: str) -> list[str | None]:
    sent = product.simulator.sent(page_id=team.page_id, psid=psid)
    return [s["message"].get("text") for s in sent]


def test_a_transfer_to_a_queue_is_accepted_by_an_agent_there(
        open_page: Callable[..., Page], product: Product, team: Team) -> None:
    psid = customer_writes(product, team, "Mia", "Chen", "I was charged twice.")
    ann = open_page()
    sign_in(ann, product, team.ann.key)
    offer = inbox_item(ann, product, "Mia Chen")
    expect(offer).to_contain_text(team.page_name)
    expect(offer).to_contain_text(team.front_desk["name"])
    expect(offer).to_contain_text(re.compile("waiting"))
    offer.click()
    # The offer is read before it is accepted.
    expect(ann.locator(".message.in")).to_contain_text("I was charged twice.")
    expect(ann.locator("#reply")).to_be_hidden()
    ann.get_by_role("button", name="Accept").click()
    ann.get_by_label("Reply").fill("Billing will sort this out.")
    ann.get_by_label("Reply").press("Enter")
    expect(ann.locator(".message.out", has_text="Billing will sort this out.")).to_be_visible()
    # Answered: the waiting time stops. The inbox learns it from its next refresh (a live hint
    # or the poll), which a machine busy with the other tiers can delay past 5 s.
    expect(ann.locator(".inbox-item", has_text="Mia Chen")).to_contain_text(
        "answered", timeout=20_000)

    ann.get_by_role("button", name="Transfer").click()
    dialog = ann.get_by_role("dialog", name="Transfer the conversation")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label(team.bob.name)).to_be_visible()
    # Focus stays in the dialog, and Esc closes it, back on the button that opened it.
    for _ in range(12):
        ann.keyboard.press("Tab")
        assert ann.evaluate("document.activeElement.closest('dialog') !== null")
    ann.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(ann.get_by_role("button", name="Transfer")).to_be_focused()

    ann.get_by_role("button", name="Transfer").click()
    expect(dialog.get_by_label("Find a queue or an agent")).to_be_focused()
    ann.keyboard.type(team.billing["name"])
    expect(dialog.get_by_label(team.front_desk["name"])).to_be_hidden()
    dialog.get_by_label(team.billing["name"]).check()
    dialog.get_by_label("Note for whoever takes it").fill("Refund the second charge.")
    assert serious_violations(ann) == []
    screenshot(ann, "console-transfer.png")
    dialog.get_by_role("button", name="Transfer").click()
    expect(dialog).to_be_hidden()
    expect(ann.locator("#agent-notice")).to_contain_text(f"transferred to {team.billing['name']}")
    expect(ann.locator(".inbox-item", has_text="Mia Chen")).to_have_count(0)
    expect(ann.get_by_role("heading", name="Inbox")).to_be_focused()

    bob = open_page()
    sign_in(bob, product, team.bob.key)
    offered = inbox_item(bob, product, "Mia Chen")
    expect(offered).to_contain_text(team.billing["name"])
    offered.click()
    # Bob reads all of it before accepting: the customer, Ann's reply, her note, the system line.
    expect(bob.locator(".message.out")).to_contain_text("Billing will sort this out.")
    note = bob.locator(".note", has_text="Refund the second charge.")
    expect(note).to_contain_text("Note")
    expect(bob.locator(".system").first).to_be_visible()
    bob.get_by_role("button", name="Accept").click()
    expect(bob.locator("#conversation-meta")).to_contain_text("active")
    expect(bob.locator("#participants")).to_contain_text("Owner: you")
    bob.get_by_label("Reply").fill("Refunded.")
    bob.get_by_label("Reply").press("Enter")
    eventually(lambda: sent_texts(product, team, psid), lambda texts: "Refunded." in texts,
               nudge=lambda: nudge(product))
    assert "Refund the second charge." not in sent_texts(product, team, psid)


def test_a_consultant_writes_notes_the_customer_never_gets(
        open_page: Callable[..., Page], product: Product, team: Team) -> None:
    psid = customer_writes(product, team, "Ola", "Berg", "Can I get a discount?")
    conversation = conversation_of(team.ann, psid, product)
    assert team.ann.api.post(f"/conversations/{conversation['id']}/accept").status_code == 200
    ann = open_page()
    sign_in(ann, product, team.ann.key)
    inbox_item(ann, product, "Ola Berg").click()
    ann.get_by_role("button", name="Consult").click()
    dialog = ann.get_by_role("dialog", name="Consult a colleague")
    dialog.get_by_label(team.bob.name).check()
    assert serious_violations(ann) == []
    dialog.get_by_role("button", name="Invite").click()
    expect(dialog).to_be_hidden()
    expect(ann.locator("#participants")).to_contain_text(f"Consulting: {team.bob.name}")

    bob = open_page()
    sign_in(bob, product, team.bob.key)
    consulting = inbox_item(bob, product, "Ola Berg")
    expect(consulting).to_contain_text("consulting")
    consulting.click()
    expect(bob.locator(".message.in")).to_contain_text("Can I get a discount?")
    # Read-only for the customer: notes only, no reply, no transfer.
    expect(bob.get_by_role("button", name="Reply to customer")).to_be_hidden()
    expect(bob.get_by_role("button", name="Transfer")).to_be_hidden()
    expect(bob.locator("#send")).to_have_text("Add note")
    assert serious_violations(bob) == []
    note_box(bob).fill("Offer the spring voucher.")
    note_box(bob).press("Enter")
    expect(bob.locator(".note", has_text="Offer the spring voucher.")).to_contain_text("Note")

    bobs_note = ann.locator(".note", has_text="Offer the spring voucher.")
    expect(bobs_note).to_contain_text(team.bob.name)
    ann.get_by_role("button", name="Internal note").click()
    note_box(ann).fill("Voucher sent by mail.")
    note_box(ann).press("Enter")
    expect(ann.locator(".note", has_text="Voucher sent by mail.")).to_be_visible()
    ann.get_by_role("button", name="Reply to customer").click()
    ann.get_by_label("Reply").fill("You will get a voucher.")
    ann.get_by_label("Reply").press("Enter")
    eventually(lambda: sent_texts(product, team, psid),
               lambda texts: "You will get a voucher." in texts, nudge=lambda: nudge(product))
    texts = sent_texts(product, team, psid)
    assert "Offer the spring voucher." not in texts and "Voucher sent by mail." not in texts

    # The consultant leaves; the owner invites again and ends it.
    bob.get_by_role("button", name="Leave consult").click()
    expect(bob.locator("#agent-notice")).to_contain_text("You left the consult")
    expect(bob.locator(".inbox-item", has_text="Ola Berg")).to_have_count(0)
    expect(ann.locator("#participants")).not_to_contain_text(team.bob.name, timeout=10_000)
    ann.get_by_role("button", name="Consult").click()
    dialog.get_by_label(team.bob.name).check()
    dialog.get_by_role("button", name="Invite").click()
    inbox_item(bob, product, "Ola Berg").click()
    expect(bob.locator(".note", has_text="Offer the spring voucher.")).to_be_visible()
    ann.get_by_role("button", name=f"End consult with {team.bob.name}").click()
    expect(ann.locator("#participants")).not_to_contain_text(team.bob.name)
    expect(bob.locator("#agent-notice")).to_contain_text("no longer yours")
    expect(bob.locator("#conversation")).to_be_hidden()
