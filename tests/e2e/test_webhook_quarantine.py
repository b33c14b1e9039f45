"""Hostile webhook content through the running devhost: a signed body mixing a bad and a good
event is answered 200, the good one is offered to an agent, the bad one is in the quarantine
list and in health; a body larger than the host takes is refused before it is read."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.e2e.test_channel_setup import add_page, new_account, new_page_token
from tests.support.eventually import eventually
from tests.support.product import Product, new_id


def _created(answer: httpx.Response) -> Any:
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_bad_event_is_quarantined_and_the_good_one_is_offered(product: Product) -> None:
    account = new_account(product)
    page_id, token = new_page_token(product, account)
    assert add_page(product, account, page_id, token).json()["provisioning_state"] == "Running"
    queue = _created(product.manage.post("/queues", json={"name": f"Quarantine {page_id}"}))
    agent = _created(product.manage.post("/agents", json={
        "name": "Ann", "queue_ids": [queue["id"]], "presence": "available"}))
    _created(product.manage.post("/workstreams", json={
        "name": "Support", "page_id": page_id, "fallback_queue_id": queue["id"]}))
    good, now = new_id(), 1764000000000

    def message(psid: str, mid: str, text: str) -> dict[str, Any]:
        return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": now,
                "message": {"mid": mid, "text": text}}

    posted = product.simulator.post_webhook(account.id, {"object": "page", "entry": [
        {"id": page_id, "time": now, "messaging": [
            message("12#34", f"m-bad-{good}", "my private words"),
            message(good, f"m-good-{good}", "Where is my order?")]}]})
    assert posted["status"] == 200, posted

    with httpx.Client(base_url=f"{product.devhost_url}/api/agent", timeout=30,
                      headers={"Authorization": f"Bearer {agent['api_key']}"}) as inbox:
        [offered] = eventually(lambda: inbox.get("/conversations").json()["items"],
                               nudge=lambda: product.run_function("router"))
    assert offered["state"] == "offered" and offered["psid"] == good

    items = [item for item in product.manage.get("/quarantine").json()["items"]
             if item["account_id"] == account.id]
    assert [(item["page_id"], item["reason"]) for item in items] == [
        (page_id, "messaging event: sender.id is not a Messenger id (digits, at most 32)")]
    assert "private" not in items[0]["excerpt"] and "12#34" not in items[0]["excerpt"]
    health = product.manage.get("/health").json()
    assert health["quarantined"][account.id] == 1


def test_the_devhost_answers_413_before_reading_an_oversized_body(product: Product) -> None:
    """Only the headers are sent: the answer comes at once, with no body read (the host's limit
    is 100 MiB; this one declares a GiB)."""
    url = urlsplit(product.devhost_url)
    assert url.hostname is not None and url.port is not None
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        connection.sendall(b"POST /api/facebook/webhook/acc_any HTTP/1.1\r\n"
                           b"Host: localhost\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 1073741824\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(4096)
            assert chunk, "the devhost closed the connection without an answer"
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
