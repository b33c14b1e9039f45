"""Hostile or odd webhook content in process on Azurite: the webhook answers 200, quarantines
what cannot be used (listed by the management API, counted by health) and passes the rest on;
the router stores a valid message whatever its size or time, and quarantines what a store
still refuses instead of failing into a dead letter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations.attachments import CONTAINER
from messenger_channel.conversations.inbound import handle_inbound
from messenger_channel.conversations.long_texts import KEPT_CHARS, MAX_ROW_TEXT_CHARS
from messenger_channel.conversations.models import ConversationTables, Message
from messenger_channel.ingress.quarantine import MAX_ROWS_PER_BODY
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id
from tests.support.keys import MANAGEMENT_KEY
from tests.support.webhook_page import WebhookPage

APP_SECRET = "quarantine-test-secret-0123456789"
MANAGER = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}


class Webhook(WebhookPage):
    def post(self, payload: object) -> int:
        return self.post_body(json.dumps(payload, ensure_ascii=True).encode())


@pytest.fixture
def webhook(services: Services, simulator_url: str) -> Iterator[Webhook]:
    with SimulatorClient(simulator_url) as simulator:
        yield Webhook(services, simulator, "Quarantine", APP_SECRET)


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


def event(page: str, psid: object, mid: str, text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": 1764000000000,
            "message": {"mid": mid, "text": text}, **extra}


def history(services: Services, page_id: str, psid: str) -> list[Message]:
    tables = ConversationTables(services.tables)
    contact = tables.contacts.get(page_id, psid)
    assert contact is not None and contact.last_conversation_id is not None
    return tables.history(contact.last_conversation_id)


def quarantine(api: TestClient, **params: Any) -> dict[str, Any]:
    answer = api.get("/api/manage/quarantine", params=params, headers=MANAGER)
    assert answer.status_code == 200, answer.text
    listed: dict[str, Any] = answer.json()
    return listed


def test_hostile_ids_are_quarantined_and_the_other_events_go_through(
        webhook: Webhook, api: TestClient) -> None:
    page, good = webhook.page_id, new_id()
    hostile = ["../x", "12#34", "1" * 600, "\ud800", "abc"]
    payload = {"object": "page", "entry": [
        {"id": "../x", "messaging": [event(page, good, "m-entry")]},
        {"id": page, "messaging": [
            *(event(page, psid, f"m-{n}", "my secret words") for n, psid in enumerate(hostile)),
            event(page, good, "m-good")]}]}
    assert webhook.post(payload) == 200
    assert webhook.post(payload) == 200  # Meta's retry: answered alike
    assert webhook.route() == 1  # the good event, once (the retry's copy is a duplicate)
    assert [m.facebook_message_id for m in history(webhook.services, page, good)] == ["m-good"]

    listed = quarantine(api, limit=4)
    assert len(listed["items"]) == 4 and listed["next"]
    rest = quarantine(api, cursor=listed["next"], limit=100)
    items = listed["items"] + rest["items"]
    assert rest["next"] is None and len(items) == 12  # 6 refusals, delivered twice
    reasons = sorted({item["reason"] for item in items})
    assert reasons == ["messaging event: entry.id is not a Messenger id (digits, at most 32)",
                       "messaging event: sender.id is not a Messenger id (digits, at most 32)"]
    assert {item["page_id"] for item in items} == {None, page}
    assert {item["account_id"] for item in items} == {webhook.account_id}
    text = json.dumps(items)
    assert "secret words" not in text and "../x" not in text and "12#34" not in text
    assert all(item["blob"].startswith("quarantine/") for item in items)
    assert quarantine(api, since=rest["since"])["items"] == []

    health = api.get("/api/manage/health", headers=MANAGER).json()
    assert health["quarantined"][webhook.account_id] == 12
    assert api.get("/api/manage/quarantine").status_code == 401
    assert api.get("/api/manage/quarantine", params={"cursor": "nope"},
                   headers=MANAGER).status_code == 400


def test_a_text_longer_than_a_row_holds_reaches_the_agent_whole(
        engine: Engine, api: TestClient) -> None:
    engine.workstream()
    _, key = engine.agent("Ann")
    psid = new_id()
    # 80,000 characters, 120,000 UTF-16 units: beyond a Table property's 64 KiB.
    text = "Order 42 🙂 " * 8000
    engine.say(psid, text)
    engine.say(psid, "short one")
    [long_row, short_row] = engine.history(psid)
    assert long_row.text_blob is not None and len(long_row.text or "") < MAX_ROW_TEXT_CHARS
    assert short_row.text_blob is None
    agent = {"Authorization": f"Bearer {key}"}
    conversation = engine.conversation_of(psid)
    assert api.post(f"/api/agent/conversations/{conversation.id}/accept",
                    headers=agent).status_code == 200
    messages = api.get(f"/api/agent/conversations/{conversation.id}/messages",
                       headers=agent).json()["items"]
    assert [m["text"] for m in messages if m["author"] == "customer"] == [text, "short one"]
    # Once retention has removed the blob, the row's start is what remains.
    engine.services.blobs.delete(CONTAINER, long_row.text_blob)
    messages = api.get(f"/api/agent/conversations/{conversation.id}/messages",
                       headers=agent).json()["items"]
    assert messages[0]["text"] == text[:KEPT_CHARS]
    assert conversation.last_message_preview is not None
    assert len(conversation.last_message_preview) < 200


def test_a_message_with_a_time_no_clock_shows_reaches_the_agent_at_its_receive_time(
        engine: Engine, api: TestClient) -> None:
    engine.workstream()
    _, key = engine.agent("Ann")
    psid = new_id()
    envelope = engine.envelope(psid, {"timestamp": 10**16,
                                      "message": {"mid": "m-future", "text": "from the future"}})
    handle_inbound(engine.services, envelope)
    conversation = engine.conversation_of(psid)
    agent = {"Authorization": f"Bearer {key}"}
    assert api.post(f"/api/agent/conversations/{conversation.id}/accept",
                    headers=agent).status_code == 200
    [message] = [m for m in api.get(f"/api/agent/conversations/{conversation.id}/messages",
                                    headers=agent).json()["items"] if m["author"] == "customer"]
    assert message["text"] == "from the future"
    assert message["created_at"].startswith(envelope.received_at.strftime("%Y-%m-%dT%H:%M"))
    # A read receipt with such a watermark is read too (it raised, then dead-lettered).
    handle_inbound(engine.services, engine.envelope(psid, {"read": {"watermark": 10**16}}))


def test_an_event_a_store_refuses_is_quarantined_by_the_router_not_dead_lettered(
        webhook: Webhook, api: TestClient) -> None:
    """A referral whose context fills more than a Table property: valid to the split (no one
    field is long), too large for the contact's row."""
    psid = new_id()
    context = {f"field{n}": "c" * 7000 for n in range(12)}
    referral = {"sender": {"id": psid}, "recipient": {"id": webhook.page_id},
                "timestamp": 1764000000000, "referral": {
                    "ref": "spring", "source": "ADS", "type": "OPEN_THREAD",
                    "ads_context_data": context}}
    payload = {"object": "page", "entry": [{"id": webhook.page_id, "messaging": [
        referral, event(webhook.page_id, psid, "m-after")]}]}
    assert webhook.post(payload) == 200
    assert webhook.route() == 2  # nothing raised: no redelivery, no dead letter
    [held] = quarantine(api)["items"]
    assert held["reason"] == "the router could not store the event: EntityTooLarge"
    assert held["page_id"] == webhook.page_id and held["blob"].startswith("webhook-archive/")
    assert "ccc" not in held["excerpt"]
    assert [m.text for m in history(webhook.services, webhook.page_id, psid)] == ["hi"]


def test_a_body_of_many_bad_events_is_quarantined_in_a_bounded_number_of_rows(
        webhook: Webhook, api: TestClient) -> None:
    """Rows are written in one transaction per body, inside Meta's 5 s; all are counted."""
    page = webhook.page_id
    bad = [event(page, f"psid-{n}", f"m-{n}") for n in range(250)]
    payload = {"object": "page", "entry": [{"id": page, "messaging": [
        *bad, event(page, new_id(), "m-good")]}]}
    assert webhook.post(payload) == 200
    assert webhook.route() == 1
    items = quarantine(api, limit=500)["items"]
    assert len(items) == MAX_ROWS_PER_BODY
    assert [item["reason"] for item in items if "more" in item["reason"]] == [
        "151 more refused events in this body (all in its blob)"]
    health = api.get("/api/manage/health", headers=MANAGER).json()
    assert health["quarantined"][webhook.account_id] == 250


def test_health_counts_events_for_a_page_not_served(webhook: Webhook, api: TestClient) -> None:
    other = "9" * 15  # a valid Messenger id, but no page of this account
    payload = {"object": "page", "entry": [
        {"id": other, "messaging": [event(other, new_id(), "m-other")]},
        {"id": webhook.page_id, "messaging": [event(webhook.page_id, new_id(), "m-served")]}]}
    assert webhook.post(payload) == 200
    assert webhook.route() == 1  # the served page's event only
    health = api.get("/api/manage/health", headers=MANAGER).json()
    assert health["unrouted_events"][webhook.account_id] == {"unknown_page": 1}
    assert health["quarantined"][webhook.account_id] == 0
