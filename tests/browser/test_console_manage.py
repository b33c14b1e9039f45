"""The management view as a new operator finds it: health first, the webhook fields the
product really subscribes to, queues listed (renamed, deleted, refused while in use), agents
edited, given a new key (shown once, the old one dead) and deleted. The agent's new key
signs in to the agent view, with no supervisor tab."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Locator, Page, expect

from messenger_channel.provisioning.service import SUBSCRIBED_FIELDS
from tests.browser.desk import Team, screenshot, serious_violations, sign_in
from tests.support.product import Product


def row(page: Page, table: str, name: str) -> Locator:
    return page.locator(f"#{table} tbody tr").filter(
        has=page.get_by_role("rowheader", name=name, exact=True))


def confirm(page: Page, title: str, yes: str) -> None:
    dialog = page.get_by_role("dialog", name=title)
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name=yes).click()
    expect(dialog).to_be_hidden()


def agent_status(product: Product, key: str) -> int:
    with httpx.Client(base_url=f"{product.devhost_url}/api/agent", timeout=30,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        return client.get("/me").status_code


def test_an_operator_manages_queues_and_agents(open_page: Callable[..., Page], product: Product,
                                               team: Team) -> None:
    suffix = team.page_id[-4:]
    spare = product.manage.post("/queues", json={"name": f"Spare {suffix}"}).json()
    page = open_page(1366, 1000)
    page.goto(f"{product.devhost_url}/api/console/")
    page.get_by_label("Management key").fill(product.manage.headers["Authorization"][7:])
    page.get_by_role("button", name="Sign in as operator").click()

    # Health comes first; the setup names the 12 webhook fields, message_echoes among them.
    headings = page.locator("#manage-view h2:visible")
    expect(headings.first).to_have_text("Health")
    expect(page.locator("#health-status")).not_to_be_empty()
    fields = page.locator(f".account[data-account='{team.account_id}'] .webhook-fields li")
    expect(fields).to_have_text(list(SUBSCRIBED_FIELDS))
    assert len(SUBSCRIBED_FIELDS) == 12 and "message_echoes" in SUBSCRIBED_FIELDS
    assert serious_violations(page) == []
    screenshot(page, "console-manage.png")

    # Queues: listed with their agents, renamed, deleted; one in use is refused in words.
    expect(row(page, "work-queues", team.front_desk["name"]).locator("td").first).to_have_text("1")
    billing = row(page, "work-queues", team.billing["name"])
    billing.get_by_label(f"New name for queue {team.billing['name']}").fill(f"Billing EU {suffix}")
    billing.get_by_role("button", name="Rename").click()
    expect(row(page, "work-queues", f"Billing EU {suffix}")).to_be_visible()
    row(page, "work-queues", spare["name"]).get_by_role("button", name="Delete").click()
    confirm(page, f"Delete queue {spare['name']}?", "Delete queue")
    expect(row(page, "work-queues", spare["name"])).to_have_count(0)
    front = row(page, "work-queues", team.front_desk["name"])
    front.get_by_role("button", name="Delete").click()
    confirm(page, f"Delete queue {team.front_desk['name']}?", "Delete queue")
    expect(front.locator(".error")).to_contain_text("in use")

    # Edit Bob: name, queues, capacity, role.
    page.get_by_role("button", name=f"Edit {team.bob.name}").click()
    dialog = page.get_by_role("dialog", name=f"Edit {team.bob.name}")
    expect(dialog.get_by_label(f"Billing EU {suffix}")).to_be_checked()
    dialog.get_by_label("Name").fill(f"Robert {suffix}")
    dialog.get_by_label(team.front_desk["name"]).check()
    dialog.get_by_label("Capacity").fill("50")
    dialog.get_by_label("Role").select_option("supervisor")
    assert serious_violations(page) == []
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    robert = row(page, "agents", f"Robert {suffix}")
    expect(robert).to_contain_text("supervisor")
    expect(robert).to_contain_text(team.front_desk["name"])
    stored = product.manage.get(f"/agents/{team.bob.id}").json()
    assert (stored["name"], stored["capacity"], stored["role"]) == (
        f"Robert {suffix}", 50, "supervisor")
    assert set(stored["queue_ids"]) == {team.front_desk["id"], team.billing["id"]}

    # A new key for Ann, shown once: the old one stops working.
    page.get_by_role("button", name=f"New key for {team.ann.name}").click()
    confirm(page, f"A new key for {team.ann.name}?", "Make a new key")
    expect(page.locator("#agent-key-shown")).to_contain_text(
        f"New key for {team.ann.name} (shown once)")
    new_key = page.locator("#agent-key-shown code").inner_text()
    assert new_key != team.ann.key
    assert agent_status(product, team.ann.key) == 401
    assert agent_status(product, new_key) == 200

    # Delete Robert.
    page.get_by_role("button", name=f"Delete Robert {suffix}").click()
    confirm(page, f"Delete Robert {suffix}?", "Delete agent")
    expect(row(page, "agents", f"Robert {suffix}")).to_have_count(0)
    assert product.manage.get(f"/agents/{team.bob.id}").status_code == 404
    assert serious_violations(page) == []

    # Ann's new key: her inbox, no supervisor tab.
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    sign_in(page, product, new_key)
    expect(page.get_by_label("Presence")).to_be_visible()
    expect(page.get_by_role("button", name="Supervisor")).to_be_hidden()
    expect(page.locator("#supervisor-view")).to_be_hidden()
