"""The composer and the customer panel at 1366x768: a canned response picked with the keyboard
(its placeholders filled, its buttons sent), buttons the customer taps on Messenger, buttons the
agent adds, labels edited inline (the API's words under the input), earlier conversations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

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


def an_earlier_conversation(product: Product, team: Team) -> str:
    """Lina wrote before: Ann answered and closed. The customer's PSID."""
    psid = customer_writes(product, team, "Lina", "Ortiz", "My order is late.")
    earlier = conversation_of(team.ann, psid, product)
    path = f"/conversations/{earlier['id']}"
    assert team.ann.api.post(f"{path}/accept").status_code == 200
    assert team.ann.api.post(f"{path}/messages", json={"text": "Sorry, it ships today."}
                             ).status_code == 202
    assert team.ann.api.post(f"{path}/close").status_code == 200
    eventually(lambda: team.ann.api.get(path).status_code, lambda status: status != 200
               or team.ann.api.get(path).json()["state"] == "closed",
               nudge=lambda: product.run_function("auto_close"))
    return psid


def sent_to(product: Product, team: Team, psid: str, text: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        return next((s["message"] for s in product.simulator.sent(page_id=team.page_id, psid=psid)
                     if s["message"].get("text") == text), None)
    found: dict[str, Any] | None = eventually(find, nudge=lambda: nudge(product),
                                              what=f"{text!r} sent to the customer")
    assert found is not None
    return found


def test_canned_response_buttons_labels_and_history(
        open_page: Callable[..., Page], product: Product, team: Team) -> None:
    shortcut = f"late{team.page_id[-4:]}"
    canned = product.manage.post("/canned-responses", json={
        "shortcut": shortcut, "title": "Late order",
        "text": "Hi {{customer.first_name}}, this is {{agent.name}} from {{page.name}}. Sorted?",
        "quick_replies": [{"title": "Yes, thanks", "payload": "SORTED_YES"},
                          {"title": "Not yet", "payload": "SORTED_NO"}],
        "queue_ids": [team.front_desk["id"]]})
    assert canned.status_code == 201, canned.text
    psid = an_earlier_conversation(product, team)
    customer_writes(product, team, "Lina", "Ortiz", "Still nothing arrived.", psid=psid)

    ann = open_page()
    sign_in(ann, product, team.ann.key)
    inbox_item(ann, product, "Lina Ortiz").click()
    ann.get_by_role("button", name="Accept").click()

    panel = ann.locator("#customer-pane")
    expect(panel.locator("#customer-name")).to_have_text("Lina Ortiz")
    expect(panel.locator("#customer-facts")).to_contain_text("French (France)")
    expect(panel.locator("#customer-facts")).to_contain_text(team.page_name)
    earlier = panel.locator(".earlier")
    expect(earlier).to_have_count(1)
    earlier.locator("summary").click()
    expect(earlier.locator(".message.out")).to_contain_text("Sorry, it ships today.")

    panel.get_by_label("Add a label").fill("late-delivery")
    panel.get_by_role("button", name="Add", exact=True).click()
    expect(panel.locator("#labels")).to_contain_text("late-delivery")

    box = ann.get_by_label("Reply")
    box.focus()
    box.press_sequentially("/nothing-like-this")
    expect(ann.locator("#canned")).to_contain_text("No canned response matches.")
    box.press("Escape")
    expect(ann.locator("#canned")).to_be_hidden()
    box.fill("")
    box.press_sequentially(f"/{shortcut[:6]}")
    option = ann.get_by_role("option", name=f"/{shortcut}")
    expect(option).to_have_attribute("aria-selected", "true")
    assert serious_violations(ann) == []
    screenshot(ann, "console-workspace.png")
    box.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")  # the only one: it stays chosen
    box.press("Enter")
    expect(box).to_have_value(
        "Hi {{customer.first_name}}, this is {{agent.name}} from {{page.name}}. Sorted?")
    expect(ann.get_by_label("Button 1 title")).to_have_value("Yes, thanks")
    expect(ann.get_by_label("Button 2 title")).to_have_value("Not yet")
    box.press("Enter")
    message = sent_to(product, team, psid,
                      f"Hi Lina, this is {team.ann.name} from {team.page_name}. Sorted?")
    assert [(q["title"], q["payload"]) for q in message["quick_replies"]] == [
        ("Yes, thanks", "SORTED_YES"), ("Not yet", "SORTED_NO")]
    expect(ann.locator(".message.out .sent-buttons").last).to_contain_text("Yes, thanks")

    # The customer taps a button on Messenger: its title arrives as text, its payload with it.
    assert product.simulator.say(team.account_id, team.page_id, psid, "Not yet",
                                 quick_reply_payload="SORTED_NO")["ok"]
    tapped = ann.locator(".message.in", has_text="Not yet")
    eventually(tapped.count, nudge=lambda: nudge(product), interval=0.3, what="the tapped button")
    expect(tapped).to_contain_text("tapped a button (SORTED_NO)")

    # Buttons of the agent's own: a title up to 20 characters, the payload optional.
    box.fill("Morning or evening delivery?")
    ann.get_by_role("button", name="Add a button").click()
    ann.get_by_label("Button 1 title").fill("Morning, please")
    ann.get_by_role("button", name="Add a button").click()
    ann.get_by_label("Button 2 title").fill("Evening, please - and more than twenty")
    expect(ann.get_by_label("Button 2 title")).to_have_value("Evening, please - an")
    ann.get_by_label("Button 2 payload").fill("EVENING")
    ann.get_by_role("button", name="Send").click()
    message = sent_to(product, team, psid, "Morning or evening delivery?")
    assert [(q["title"], q["payload"]) for q in message["quick_replies"]] == [
        ("Morning, please", "Morning, please"), ("Evening, please - an", "EVENING")]

    # A label the API refuses: its words under the input, which is marked invalid.
    panel.get_by_label("Add a label").fill("Not a label!")
    panel.get_by_role("button", name="Add", exact=True).click()
    expect(panel.locator("#label-new-error")).not_to_be_empty()
    expect(panel.get_by_label("Add a label")).to_have_attribute("aria-invalid", "true")

    # Times from before today carry their date.
    shown = ann.evaluate("""async () => {
        const { stamp } = await import('./dom.js');
        const today = new Date();
        return [stamp(today.toISOString()), stamp('2020-02-03T10:00:00Z')];
    }""")
    assert ":" in shown[0] and "2020" not in shown[0]
    assert "2020" in shown[1] and "Feb" in shown[1]
