"""A desk set up over the management API, for browser tests about the agent's side, and the
helpers those tests share (signing in, waiting for the inbox, axe, overflow, screenshots)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page

from tests.support.eventually import eventually
from tests.support.product import Product, new_id

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def offered_conversation(product: Product) -> tuple[str, str]:
    """An account, a Running page, an available agent and one customer's offer: the agent key
    and the page id."""
    app_id, page_id, token = new_id(), new_id(), "EAAaxe" + new_id()
    app_secret = "appsecret-axe-" + new_id()
    product.simulator.put_app(app_id, app_secret)
    account = product.manage.post("/accounts", json={
        "name": "Axe", "app_id": app_id, "app_secret": app_secret})
    assert account.status_code == 201, account.text
    account_id = account.json()["id"]
    product.simulator.put_page(page_id, "Axe page", app_id=app_id, access_token=token,
                               account_id=account_id)
    added = product.manage.post(f"/accounts/{account_id}/pages", json={
        "page_id": page_id, "name": "Axe page", "access_token": token})
    assert added.status_code == 201, added.text
    queue = product.manage.post("/queues", json={"name": f"Axe {page_id}"}).json()
    agent = product.manage.post("/agents", json={
        "name": "Kay", "queue_ids": [queue["id"]], "presence": "available"}).json()
    assert product.manage.post("/workstreams", json={
        "name": "Axe", "page_id": page_id, "fallback_queue_id": queue["id"]}).status_code == 201
    psid = new_id()
    product.simulator.put_user(psid, page_id, first_name="Noor", last_name="Haddad")
    assert product.simulator.say(account_id, page_id, psid, "Hello?")["ok"]
    product.run_function("router")
    return agent["api_key"], page_id


@dataclass
class Agent:
    id: str
    name: str
    key: str
    api: httpx.Client  # /api/agent with this agent's key


@dataclass
class Team:
    """One page whose customers go to the "Front desk" queue (Ann's); Bob answers the
    "Billing" queue. Both available; their names end with the same four digits."""
    account_id: str
    page_id: str
    page_name: str
    front_desk: dict[str, Any]
    billing: dict[str, Any]
    ann: Agent
    bob: Agent


def make_team(product: Product) -> Team:
    app_id, page_id, token = new_id(), new_id(), "EAAteam" + new_id()
    app_secret = "appsecret-team-" + new_id()
    page_name = "Contoso Support"
    product.simulator.put_app(app_id, app_secret)
    account = product.manage.post("/accounts", json={
        "name": "Team", "app_id": app_id, "app_secret": app_secret})
    assert account.status_code == 201, account.text
    account_id = account.json()["id"]
    product.simulator.put_page(page_id, page_name, app_id=app_id, access_token=token,
                               account_id=account_id)
    added = product.manage.post(f"/accounts/{account_id}/pages", json={
        "page_id": page_id, "name": page_name, "access_token": token})
    assert added.status_code == 201, added.text
    suffix = page_id[-4:]
    front_desk = product.manage.post("/queues", json={"name": f"Front desk {suffix}"}).json()
    billing = product.manage.post("/queues", json={"name": f"Billing {suffix}"}).json()
    agents = []
    # Names unique in the session: the dialogs list every agent of the product.
    for name, queue in ((f"Ann {suffix}", front_desk), (f"Bob {suffix}", billing)):
        made = product.manage.post("/agents", json={
            "name": name, "queue_ids": [queue["id"]], "presence": "available"})
        assert made.status_code == 201, made.text
        body = made.json()
        agents.append(Agent(body["id"], name, body["api_key"], httpx.Client(
            base_url=f"{product.devhost_url}/api/agent", timeout=60,
            headers={"Authorization": f"Bearer {body['api_key']}"})))
    answer = product.manage.post("/workstreams", json={
        "name": "Team", "page_id": page_id, "fallback_queue_id": front_desk["id"]})
    assert answer.status_code == 201, answer.text
    return Team(account_id, page_id, page_name, front_desk, billing, *agents)


def make_supervisor(product: Product, team: Team) -> Agent:
    """A supervisor of the team's desk (no queue of their own, offline): an agent made one
    with ``PATCH {"role": "supervisor"}``; ``api`` opens ``/api/supervisor``."""
    name = f"Sue {team.page_id[-4:]}"
    made = product.manage.post("/agents", json={"name": name})
    assert made.status_code == 201, made.text
    body = made.json()
    promoted = product.manage.patch(f"/agents/{body['id']}", json={"role": "supervisor"})
    assert promoted.status_code == 200, promoted.text
    return Agent(body["id"], name, body["api_key"], httpx.Client(
        base_url=f"{product.devhost_url}/api/supervisor", timeout=60,
        headers={"Authorization": f"Bearer {body['api_key']}"}))


def nudge(product: Product) -> None:
    """For ``eventually``: the background runners may be first, or not."""
    product.run_function("router")
    product.run_function("sender")


def customer_writes(product: Product, team: Team, first: str, last: str, text: str,
                    psid: str | None = None) -> str:
    """A customer's message to the team's page, routed: the customer's PSID."""
    if psid is None:
        psid = new_id()
        product.simulator.put_user(psid, team.page_id, first_name=first, last_name=last,
                                   locale="fr_FR")
    assert product.simulator.say(team.account_id, team.page_id, psid, text)["ok"]
    product.run_function("router")
    return psid


def conversation_of(agent: Agent, psid: str, product: Product) -> dict[str, Any]:
    """The agent's conversation with that customer, once it is in their list."""
    def find() -> dict[str, Any] | None:
        items = agent.api.get("/conversations").json()["items"]
        return next((c for c in items if c["psid"] == psid and c["state"] != "closed"), None)
    found: dict[str, Any] | None = eventually(find, nudge=lambda: nudge(product),
                                              what=f"{agent.name}'s conversation with {psid}")
    assert found is not None
    return found


def sign_in(page: Page, product: Product, key: str) -> None:
    page.goto(f"{product.devhost_url}/api/console/")
    page.get_by_label("Agent key").fill(key)
    page.get_by_role("button", name="Sign in as agent").click()


def inbox_item(page: Page, product: Product, name: str) -> Any:
    """The inbox button of the customer called ``name``, once the console shows it."""
    item = page.locator(".inbox-item", has_text=name)
    eventually(item.count, nudge=lambda: nudge(product), interval=0.3,
               what=f"{name!r} in the inbox")
    return item


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now. The page's context
    needs ``bypass_csp``: axe is injected as an inline script, which the console's CSP (rightly)
    refuses."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    return [{"id": v["id"], "help": v["help"],
             "targets": [n["target"] for n in v["nodes"]]}
            for v in result["violations"] if v["impact"] in {"serious", "critical"}]


def overflowing(page: Page) -> list[str]:
    """The document and each visible pane wider than its box (horizontal overflow)."""
    found: list[str] = page.evaluate("""() => {
        const boxes = [document.documentElement, ...document.querySelectorAll('.pane, main')];
        return boxes.filter((b) => b.offsetParent !== null || b === document.documentElement)
          .filter((b) => b.scrollWidth > b.clientWidth)
          .map((b) => `${b.id || b.tagName}: ${b.scrollWidth} > ${b.clientWidth}`);
    }""")
    return found


def screenshot(page: Page, name: str) -> None:
    """The pictures under docs/: refreshed only on request (``UPDATE_SCREENSHOTS=1``), so an
    ordinary test run leaves the work tree as it was."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / name))
