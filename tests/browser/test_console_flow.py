"""The issue's flow in a real browser: an operator connects a page, a simulated customer
writes, an agent accepts, reads, replies (text and a file) and closes."""

from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path

import httpx
from playwright.sync_api import FilePayload, Page, expect

from tests.support.eventually import eventually
from tests.support.product import Product, new_id


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real, decodable PNG of one colour: the console must show it inline."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = png(120, 60, (11, 61, 145))
DOCS = Path(__file__).resolve().parents[2] / "docs"


def run_router_and_sender(product: Product) -> None:
    """A nudge for ``eventually``: the background runners may be first, or not."""
    product.run_function("router")
    product.run_function("sender")


def screenshot(page: Page, name: str) -> None:
    """The README's pictures, committed under docs/: refreshed only on request
    (``UPDATE_SCREENSHOTS=1``), so an ordinary test run leaves the work tree as it was."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / name))


def operator_connects_a_page(page: Page, product: Product) -> tuple[str, str]:
    app_id, app_secret = new_id(), "appsecret-browser-" + new_id()
    page_id, token = new_id(), "EAAbrowser" + new_id()
    product.simulator.put_app(app_id, app_secret)
    page.goto(f"{product.devhost_url}/api/console/")
    page.get_by_label("Management key").fill(product.manage.headers["Authorization"][7:])
    page.get_by_role("button", name="Sign in as operator").click()
    page.locator("#add-account").get_by_label("Name", exact=True).fill("Contoso browser")
    page.get_by_label("Facebook app id").fill(app_id)
    page.get_by_label("App secret").fill(app_secret)
    page.get_by_role("button", name="Add account").click()
    account = page.locator(".account", has_text=app_id)
    expect(account.get_by_role("heading", level=3)).to_contain_text("Contoso browser")
    account_id = account.get_attribute("data-account")
    assert account_id
    expect(account.get_by_role("button", name="Copy verify token")).to_be_visible()
    product.simulator.put_page(page_id, "Browser page", app_id=app_id, access_token=token,
                               account_id=account_id)
    account.get_by_label("Page id").fill(page_id)
    account.get_by_label("Page name").fill("Browser page")
    account.get_by_label("Page access token").fill(token)
    account.get_by_role("button", name="Add page").click()
    expect(page.locator(f"tr[data-page='{page_id}'] .state")).to_have_text("Running")
    return account_id, page_id


def test_operator_customer_and_agent(page: Page, product: Product) -> None:
    account_id, page_id = operator_connects_a_page(page, product)
    queue = product.manage.post("/queues", json={"name": f"Browser {page_id}"}).json()
    agent = product.manage.post("/agents", json={
        "name": "Ann", "queue_ids": [queue["id"]], "presence": "available"}).json()
    answer = product.manage.post("/workstreams", json={
        "name": "Browser", "page_id": page_id, "fallback_queue_id": queue["id"]})
    assert answer.status_code == 201, answer.text

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Agent key").fill(agent["api_key"])
    page.get_by_role("button", name="Sign in as agent").click()
    expect(page.get_by_text("Signed in as Ann")).to_be_visible()
    assert "key" not in page.url  # never a native submit of the form, key in the URL

    psid = new_id()
    product.simulator.put_user(psid, page_id, first_name="Lea", last_name="Roy")
    assert product.simulator.say(account_id, page_id, psid, "Where is my order?")["ok"]
    offer = page.locator(".inbox-item", has_text="Lea Roy")
    eventually(offer.count, lambda count: count == 1, nudge=lambda: run_router_and_sender(product))
    expect(offer).to_contain_text("offered to you")
    expect(page.locator("#announce")).to_contain_text("offered to you")
    assert "New offer" in page.title()
    screenshot(page, "console-inbox.png")

    offer.click()
    page.get_by_role("button", name="Accept").click()
    expect(page.locator(".message.in")).to_contain_text("Where is my order?")
    expect(page.locator("#window-left")).to_contain_text("24-hour window")

    box = page.get_by_label("Reply")
    box.fill("Let me check.")
    box.press("Shift+Enter")
    box.press_sequentially("One moment.")
    box.press("Enter")
    reply = page.locator(".message.out", has_text="One moment.")
    expect(reply).to_be_visible()
    eventually(lambda: [s["message"].get("text")
                        for s in product.simulator.sent(page_id=page_id, psid=psid)],
               lambda texts: "Let me check.\nOne moment." in texts,
               nudge=lambda: run_router_and_sender(product))
    status = reply.locator(".status")
    eventually(lambda: status.get_attribute("data-status"),
               lambda shown: shown in {"delivered", "read"},
               nudge=lambda: run_router_and_sender(product))

    # The customer's image: copied by the router, shown inline through the attachment route.
    assert product.simulator.say(account_id, page_id, psid, attachment={"type": "image"})["ok"]
    customer_image = page.locator(".message.in img")
    eventually(lambda: (customer_image.count(), page.locator("#messages").inner_text()),
               lambda seen: seen[0] == 1, nudge=lambda: run_router_and_sender(product),
               what="the customer's image (images shown, the conversation's text)")
    assert customer_image.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0

    map_png: FilePayload = {"name": "map.png", "mimeType": "image/png", "buffer": PNG}
    page.get_by_label("Attach a file").set_input_files(files=[map_png])
    page.get_by_role("button", name="Send").click()
    image = page.locator(".message.out img[alt='image map.png']")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 120
    eventually(lambda: product.simulator.sent(page_id=page_id, psid=psid),
               lambda sent: any(s["message"].get("attachment") for s in sent),
               nudge=lambda: run_router_and_sender(product))
    sent_image = page.locator(".message.out", has=page.locator("img[alt='image map.png']")
                              ).locator(".status")
    eventually(lambda: sent_image.get_attribute("data-status"),
               lambda shown: shown in {"delivered", "read"},
               nudge=lambda: run_router_and_sender(product))
    screenshot(page, "console-conversation.png")

    page.get_by_label("Link the customer to a contact").fill("Lea Roy (CRM)")
    page.get_by_role("button", name="Create a contact with this name and link it").click()
    expect(page.locator("#contact-linked")).to_have_text("Linked to Lea Roy (CRM).")

    page.get_by_role("button", name="Close conversation").click()
    # In wrap-up it stays open; closed, it leaves the pane with a notice (the close's answer
    # or the live hint's read may come first: the end is the same).
    eventually(lambda: page.locator("#conversation-meta").inner_text() if page.locator(
        "#conversation").is_visible() else page.locator("#agent-notice").inner_text(),
               lambda text: re.search("wrap-up|closed", text),
               what="the conversation in wrap-up, or a notice that it was closed")
    expect(page.locator(".inbox-item", has_text="Lea Roy")).to_have_count(0)

    # Closed, but the customer wrote minutes ago: the agent may reopen it.
    page.get_by_text("Start or reopen a conversation").click()
    page.locator("#start").get_by_label("Page id").fill(page_id)
    page.locator("#start").get_by_label("Customer PSID").fill(psid)
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#conversation-meta")).to_contain_text("active")
    expect(page.get_by_label("Reply")).to_be_visible()


def test_api_errors_are_shown_next_to_their_cause(page: Page, product: Product) -> None:
    app_id, app_secret = new_id(), "appsecret-dup-" + new_id()
    product.simulator.put_app(app_id, app_secret)
    taken = product.manage.post("/accounts", json={"name": "Taken", "app_id": app_id,
                                                   "app_secret": app_secret})
    assert taken.status_code == 201, taken.text
    page.goto(f"{product.devhost_url}/api/console/")
    page.get_by_label("Agent key").fill("ak_not_a_key")
    page.get_by_role("button", name="Sign in as agent").click()
    expect(page.locator("#agent-sign-in-error")).to_have_text("This key is not valid here.")

    page.get_by_label("Management key").fill(product.manage.headers["Authorization"][7:])
    page.get_by_role("button", name="Sign in as operator").click()
    page.locator("#add-account").get_by_label("Name", exact=True).fill("Again")
    page.get_by_label("Facebook app id").fill(app_id)
    page.get_by_label("App secret").fill(app_secret)
    page.get_by_role("button", name="Add account").click()
    expect(page.locator("#add-account .error")).to_contain_text(app_id)

    account = page.locator(f".account[data-account='{taken.json()['id']}']")
    page_id = new_id()
    account.get_by_label("Page id").fill(page_id)
    account.get_by_label("Page name").fill("Nowhere")
    account.get_by_label("Page access token").fill("EAAunknown" + new_id())
    account.get_by_role("button", name="Add page").click()
    row = page.locator(f"tr[data-page='{page_id}']")
    expect(row.locator(".state")).to_have_text("Error")
    expect(row.locator(".error").first).not_to_be_empty()


def test_a_lost_race_is_said_in_words(page: Page, product: Product) -> None:
    app_id, app_secret = new_id(), "appsecret-race-" + new_id()
    page_id, token = new_id(), "EAArace" + new_id()
    product.simulator.put_app(app_id, app_secret)
    account_id = product.manage.post("/accounts", json={
        "name": "Race", "app_id": app_id, "app_secret": app_secret}).json()["id"]
    product.simulator.put_page(page_id, "Race page", app_id=app_id, access_token=token,
                               account_id=account_id)
    assert product.manage.post(f"/accounts/{account_id}/pages", json={
        "page_id": page_id, "name": "Race page", "access_token": token}).status_code == 201
    queue = product.manage.post("/queues", json={"name": f"Race {page_id}"}).json()
    ann, bob = (product.manage.post("/agents", json={
        "name": name, "queue_ids": [queue["id"]], "presence": "available"}).json()
        for name in ("Ann", "Bob"))
    # pick: every eligible agent is offered the conversation, the first accept wins.
    assert product.manage.post("/workstreams", json={
        "name": "Race", "page_id": page_id, "fallback_queue_id": queue["id"],
        "distribution_mode": "pick"}).status_code == 201
    psid = new_id()
    product.simulator.put_user(psid, page_id, first_name="Sam", last_name="Race")
    assert product.simulator.say(account_id, page_id, psid, "Anyone?")["ok"]

    page.goto(f"{product.devhost_url}/api/console/")
    page.get_by_label("Agent key").fill(ann["api_key"])
    page.get_by_role("button", name="Sign in as agent").click()
    offer = page.locator(".inbox-item", has_text="Sam Race")
    eventually(offer.count, lambda count: count == 1, nudge=lambda: run_router_and_sender(product))
    offer.click()
    with httpx.Client(base_url=f"{product.devhost_url}/api/agent",
                      headers={"Authorization": f"Bearer {bob['api_key']}"}) as bob_api:
        [conversation] = bob_api.get("/conversations").json()["items"]
        assert bob_api.post(f"/conversations/{conversation['id']}/accept").status_code == 200
    page.get_by_role("button", name="Accept").click()
    expect(page.locator("#conversation-error")).to_have_text(
        "Another agent accepted this conversation first.")


def test_workforce_forms_show_the_api_words_per_field(page: Page, product: Product) -> None:
    page.goto(f"{product.devhost_url}/api/console/")
    page.get_by_label("Management key").fill(product.manage.headers["Authorization"][7:])
    page.get_by_role("button", name="Sign in as operator").click()
    name = f"Queue {new_id()}"
    page.locator("#add-queue").get_by_label("Name").fill(name)
    page.get_by_role("button", name="Add queue").click()
    expect(page.locator("#agent-new-queue")).to_contain_text(name)
    page.locator("#add-agent").get_by_label("Name").fill("Zoe")
    page.locator("#agent-new-queue").select_option(label=name)
    page.get_by_role("button", name="Add agent").click()
    expect(page.locator("#agent-new-key")).to_contain_text("Key for Zoe (shown once): ")
    expect(page.locator("#agents tbody")).to_contain_text("Zoe")

    page.locator("#add-workstream").get_by_label("Name").fill("Nowhere")
    page.locator("#add-workstream").get_by_label("Page id").fill("not-a-connected-page")
    page.get_by_role("button", name="Add workstream").click()
    expect(page.locator("#add-workstream p.error[role='alert']")).not_to_be_empty()
    # The 422 names the field: its words sit under that input, linked for screen readers.
    expect(page.locator("#workstream-page-error")).not_to_be_empty()
    expect(page.locator("#workstream-page")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#workstream-page")).to_have_attribute(
        "aria-describedby", "workstream-page-error")
