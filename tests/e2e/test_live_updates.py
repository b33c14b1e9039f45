"""Live hints end to end: a console-like WebSocket client negotiates with an agent's key,
connects to the devhost's socket and hears of an offer, a message and a reply as they are
stored; a bad token is refused."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.test_channel_setup import add_page, new_account, new_page_token
from tests.support.product import Product, new_id

Hint = dict[str, Any]


def _created(answer: httpx.Response) -> Any:
    assert answer.status_code == 201, answer.text
    return answer.json()


def _client(product: Product, key: str) -> httpx.Client:
    return httpx.Client(base_url=f"{product.devhost_url}/api/agent", timeout=30,
                        headers={"Authorization": f"Bearer {key}"})


@contextmanager
def _socket(agent: httpx.Client) -> Iterator[ClientConnection]:
    negotiated = agent.get("/negotiate")
    assert negotiated.status_code == 200, negotiated.text
    assert negotiated.headers["cache-control"] == "no-store"
    with connect(negotiated.json()["url"], open_timeout=30) as socket:
        yield socket


def _wait_for(socket: ClientConnection, wanted: Callable[[Hint], bool],
              timeout: float = 30.0) -> list[Hint]:
    """Every hint received until (and with) the first ``wanted`` one."""
    seen: list[Hint] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no such hint within {timeout} s; got {seen}")
        try:
            frame = socket.recv(timeout=remaining)
        except TimeoutError:
            continue
        assert isinstance(frame, str), "hints are text frames"
        seen.append(json.loads(frame))
        if wanted(seen[-1]):
            return seen


def test_offer_message_and_reply_are_pushed(product: Product) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    assert add_page(product, account, page_id, token).status_code == 201
    queue = _created(product.manage.post("/queues", json={"name": f"Live {page_id}"}))
    ann = _created(product.manage.post("/agents", json={
        "name": "Ann", "queue_ids": [queue["id"]], "presence": "available"}))
    boss = _created(product.manage.post("/agents", json={"name": "Sue", "queue_ids": []}))
    assert product.manage.patch(f"/agents/{boss['id']}",
                                json={"role": "supervisor"}).status_code == 200
    _created(product.manage.post("/workstreams", json={
        "name": "Live", "page_id": page_id, "fallback_queue_id": queue["id"]}))

    with _client(product, ann["api_key"]) as inbox, _client(product, boss["api_key"]) as sup, \
            _socket(inbox) as ann_socket, _socket(sup) as sup_socket:
        psid = new_id()
        assert product.simulator.say(account.id, page_id, psid, "Is anyone there?")["ok"]
        # No nudge: the devhost's own router runner stores the offer, then publishes it.
        offered = _wait_for(ann_socket, lambda h: h["type"] == "conversation.offered")[-1]
        conversation_id = offered["conversation_id"]
        assert set(offered) == {"type", "conversation_id", "at"}
        assert offered["at"].endswith("Z")
        # The hint came after the state: the REST route shows the offer already.
        [row] = inbox.get("/conversations").json()["items"]
        assert (row["id"], row["state"]) == (conversation_id, "offered")
        # Supervisors hear of the queue and the customer's message through their group.
        _wait_for(sup_socket, lambda h: h["type"] == "queue.updated")
        _wait_for(sup_socket, lambda h: h == {**h, "type": "message.created",
                                              "conversation_id": conversation_id})

        assert inbox.post(f"/conversations/{conversation_id}/accept").status_code == 200
        _wait_for(ann_socket, lambda h: h["type"] == "conversation.updated"
                  and h["conversation_id"] == conversation_id)
        assert inbox.post(f"/conversations/{conversation_id}/messages",
                          json={"text": "Yes, Ann here."}).status_code == 202
        _wait_for(ann_socket, lambda h: h["type"] == "message.created"
                  and h["conversation_id"] == conversation_id)
        # The sender's status change (sent) is pushed too.
        _wait_for(ann_socket, lambda h: h["type"] == "message.updated"
                  and h["conversation_id"] == conversation_id)
        messages = inbox.get(f"/conversations/{conversation_id}/messages").json()["items"]
        assert messages[-1]["text"] == "Yes, Ann here."


@pytest.mark.parametrize("spoil", [
    lambda url: url[:-3] + ("abc" if not url.endswith("abc") else "xyz"),  # signature broken
    lambda url: url.split("?")[0],  # no token
    lambda url: url.replace("/hubs/console", "/hubs/other"),  # another hub's path
])
def test_a_bad_token_is_refused_with_a_policy_close(
        product: Product, spoil: Callable[[str], str]) -> None:
    queue = _created(product.manage.post("/queues", json={"name": f"Refused {new_id()}"}))
    agent = _created(product.manage.post("/agents", json={"name": "Al",
                                                          "queue_ids": [queue["id"]]}))
    with _client(product, agent["api_key"]) as inbox:
        url = inbox.get("/negotiate").json()["url"]
    with connect(spoil(url), open_timeout=30) as socket, \
            pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_negotiate_needs_an_agents_key(product: Product) -> None:
    managers = httpx.get(f"{product.devhost_url}/api/agent/negotiate", timeout=30,
                         headers={"Authorization": product.manage.headers["authorization"]})
    assert managers.status_code == 403
    assert httpx.get(f"{product.devhost_url}/api/agent/negotiate",
                     timeout=30).status_code == 401
