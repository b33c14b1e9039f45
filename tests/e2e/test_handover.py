"""Messenger's handover protocol end to end: the devhost behind a page whose primary receiver is
a bot vendor's app, played by the simulator's control routes, the channel's app a secondary
receiver. What Facebook would post goes through the signed webhook, the router and the sender
on the devhost; agents act over the agent API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.e2e.test_channel_setup import Account, add_page, new_account, new_page_token
from tests.support.eventually import eventually
from tests.support.product import Product, new_id

BOT = "300000000000003"
PAGE_INBOX = "263902037430900"


def _created(answer: httpx.Response) -> Any:
    assert answer.status_code == 201, answer.text
    return answer.json()


def start(product: Product, agent: httpx.Client, page_id: str, psid: str) -> Any:
    """The agent starts a conversation, once the router has stored the customer."""
    def started() -> Any:
        answer = agent.post("/conversations", json={"page_id": page_id, "psid": psid})
        return answer.json() if answer.status_code == 201 else None
    return eventually(started, nudge=lambda: product.run_function("router"))


def shared_page(product: Product) -> tuple[Account, str, str]:
    """(account, page, agent key): the page's primary receiver is the bot vendor's app."""
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    assert add_page(product, account, page_id, token).json()["provisioning_state"] == "Running"
    product.simulator.put_app(BOT, "bot-vendor-secret", "Bot vendor")
    product.simulator.put_roles(page_id, BOT, [account.app_id])
    queue = _created(product.manage.post("/queues", json={"name": f"Support {page_id}"}))
    agent = _created(product.manage.post("/agents", json={
        "name": "Ann", "queue_ids": [queue["id"]], "presence": "available"}))
    _created(product.manage.post("/workstreams", json={
        "name": "Support", "page_id": page_id, "fallback_queue_id": queue["id"],
        "handover": {"role": "secondary"},
        "automated_messages": {"agent_ended": {"en-US": "Thanks for writing, bye."}}}))
    return account, page_id, agent["api_key"]


@contextmanager
def agent_api(product: Product, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{product.devhost_url}/api/agent", timeout=30,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def test_standby_until_passed_then_routed_and_passed_back_on_close(product: Product) -> None:
    account, page_id, key = shared_page(product)
    psid = new_id()
    said = product.simulator.say(account.id, page_id, psid, "I want to talk to a person")
    assert said["ok"] and "standby" in said["payload"]["entry"][0], said
    with agent_api(product, key) as inbox:
        product.run_function("router")
        assert inbox.get("/conversations").json()["items"] == []  # kept, not routed

        passed = product.simulator.thread_action(page_id, psid, "pass", BOT,
                                                 target_app_id=account.app_id,
                                                 metadata="customer asked for a human")
        assert passed["deliveries"][0]["ok"], passed
        [offered] = eventually(lambda: inbox.get("/conversations").json()["items"],
                               nudge=lambda: product.run_function("router"))
        conversation_id = offered["id"]
        one = inbox.get(f"/conversations/{conversation_id}").json()
        assert one["state"] == "offered" and one["thread_owner_app_id"] == account.app_id
        assert inbox.post(f"/conversations/{conversation_id}/accept").status_code == 200
        messages = inbox.get(f"/conversations/{conversation_id}/messages").json()["items"]
        assert [(m["author"], m["text"]) for m in messages] == [
            ("customer", "I want to talk to a person"),
            ("system", f"The Messenger thread was passed to this channel by app {BOT}: "
                       "customer asked for a human")]
        reply = inbox.post(f"/conversations/{conversation_id}/messages",
                           json={"text": "Hello, Ann here."})
        assert reply.status_code == 202, reply.text
        closed = inbox.post(f"/conversations/{conversation_id}/close")
        assert closed.status_code == 200 and closed.json()["state"] == "closed"
    eventually(lambda: product.simulator.thread_owner(page_id, psid) == PAGE_INBOX,
               nudge=lambda: product.run_function("sender"))
    sent = [m["message"]["text"] for m in product.simulator.sent(page_id=page_id, psid=psid)]
    assert sent == ["Hello, Ann here.", "Thanks for writing, bye."]
    # The pass went out after the last message: Facebook took both from the thread's owner.
    calls = [r["path"].rsplit("/", 1)[-1] for r in product.simulator.requests(page_id=page_id)
             if r["path"].endswith("thread_control")
             or (r["path"].endswith("messages") and "message" in (r["body"] or {}))]
    assert calls == ["messages", "messages", "pass_thread_control"]


def test_an_agent_started_conversation_takes_the_thread(product: Product) -> None:
    account, page_id, key = shared_page(product)
    psid = new_id()
    product.simulator.say(account.id, page_id, psid, "Order 1234 never came")
    product.run_function("router")
    product.simulator.set_thread_owner(page_id, psid, None)  # the bot let the thread go idle
    with agent_api(product, key) as agent:
        started = start(product, agent, page_id, psid)
        reply = agent.post(f"/conversations/{started['id']}/messages",
                           json={"text": "I looked into order 1234."})
        assert reply.status_code == 202, reply.text
        [sent] = eventually(lambda: product.simulator.sent(page_id=page_id, psid=psid),
                            nudge=lambda: product.run_function("sender"))
        assert product.simulator.thread_owner(page_id, psid) == account.app_id
        assert sent["message"]["text"] == "I looked into order 1234."
        taken = agent.get(f"/conversations/{started['id']}").json()
        assert taken["thread_owner_app_id"] == account.app_id
        assert taken["thread_control"]["action"] == "take"
        assert taken["thread_control"]["status"] == "done"


def test_a_send_in_a_thread_the_bot_holds_fails_with_a_clear_reason(product: Product) -> None:
    account, page_id, key = shared_page(product)
    psid = new_id()
    product.simulator.say(account.id, page_id, psid, "Hello bot")
    product.run_function("router")
    with agent_api(product, key) as agent:
        started = start(product, agent, page_id, psid)
        conversation_id = started["id"]
        agent.post(f"/conversations/{conversation_id}/messages", json={"text": "Hi there"})
        def mine() -> Any:
            items = agent.get(f"/conversations/{conversation_id}/messages").json()["items"]
            return next((m for m in items if m["author"] == "agent"
                         and m["status"] == "failed"), None)

        failed = eventually(mine, nudge=lambda: product.run_function("sender"))
        assert failed["failure_reason"] == "thread_owned_by_another_app"
        messages = agent.get(f"/conversations/{conversation_id}/messages").json()["items"]
        conversation = agent.get(f"/conversations/{conversation_id}").json()
        # Facebook refused the take (the bot is primary): the channel asked for the thread.
        assert conversation["thread_control"]["action"] == "request"
        [line] = [m for m in messages if m["author"] == "system"]
        assert "asked that app to pass it" in line["text"]
        refused = agent.post(f"/conversations/{conversation_id}/pass-thread")
        assert refused.status_code == 409 and refused.json()["error"] == "thread_not_ours"
    assert product.simulator.sent(page_id=page_id, psid=psid) == []
    requests = [r["path"].rsplit("/", 1)[-1] for r in product.simulator.requests(
        page_id=page_id, path_contains="thread_control")]
    assert requests == ["take_thread_control", "request_thread_control"]
