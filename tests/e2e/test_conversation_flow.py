"""A customer's message reaches an agent end to end: a signed webhook from the simulator,
the devhost's router, then the agent's inbox, accept and history over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.test_channel_setup import add_page, new_account, new_page_token
from tests.support.eventually import eventually
from tests.support.product import Product, new_id


def _created(answer: httpx.Response) -> Any:
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_customer_message_reaches_the_agent(product: Product) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    assert add_page(product, account, page_id, token).json()["provisioning_state"] == "Running"
    queue = _created(product.manage.post("/queues", json={"name": f"Support {page_id}"}))
    agent = _created(product.manage.post("/agents", json={
        "name": "Ann", "queue_ids": [queue["id"]], "presence": "available"}))
    _created(product.manage.post("/workstreams", json={
        "name": "Support", "page_id": page_id, "fallback_queue_id": queue["id"],
        "automated_messages": {"greeting": {"en-US": "Hi, thanks for writing."}}}))
    psid = new_id()
    product.simulator.put_user(psid, page_id, first_name="Lea", last_name="Roy")
    said = product.simulator.say(account.id, page_id, psid, "Where is my order?")
    assert said["ok"], said

    with httpx.Client(base_url=f"{product.devhost_url}/api/agent", timeout=30,
                      headers={"Authorization": f"Bearer {agent['api_key']}"}) as inbox:
        # The background runner may have taken it already: run the router, then look.
        [conversation] = eventually(lambda: inbox.get("/conversations").json()["items"],
                                    nudge=lambda: product.run_function("router"))
        assert conversation["state"] == "offered" and conversation["psid"] == psid
        assert conversation["customer"]["name"] == "Lea Roy"
        accepted = inbox.post(f"/conversations/{conversation['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["state"] == "active"
        messages = inbox.get(f"/conversations/{conversation['id']}/messages").json()["items"]
        assert [(m["author"], m["text"]) for m in messages] == [
            ("customer", "Where is my order?"), ("automated", "Hi, thanks for writing.")]
        assert messages[0]["facebook_message_id"] == said["mid"]
    # The timers are registered and run on demand.
    assert product.run_function("distribute")["failed"] == 0
    assert product.run_function("auto_close")["failed"] == 0
