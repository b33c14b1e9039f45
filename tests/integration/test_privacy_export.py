"""A customer's export against Azurite: their profile, conversations, messages with their text,
the agents' notes, survey answers and archived events, files as links that the management key
fetches (and an agent's key does not), and nothing of another customer of the same page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations.inbound import process_inbound
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id
from tests.support.keys import MANAGEMENT_KEY

MANAGER = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        engine = Engine(services, simulator)
        engine.workstream(pre_conversation_survey=[
            {"id": "order", "question": "Order number?"}])
        yield engine


def _route(engine: Engine, psid: str, text: str | None, **options: Any) -> None:
    """As the router gets it: archived, indexed, handled."""
    envelope = engine.message(psid, text, **options)
    process_inbound(engine.services, envelope.model_dump_json().encode())


def _served(engine: Engine, api: TestClient, simulator_url: str, psid: str, first_name: str,
            word: str, agent: dict[str, str]) -> str:
    """The customer writes, answers the survey, sends a photo; the agent accepts, replies with
    a file and writes a note."""
    engine.simulator.put_user(psid, engine.page_id, first_name=first_name, last_name="Doe")
    _route(engine, psid, f"Hello {word}")
    _route(engine, psid, f"order {word}-42")  # the survey's answer
    _route(engine, psid, None, attachments=[
        {"type": "image", "payload": {"url": f"{simulator_url}/_sim/files/image.png"}}])
    conversation_id = engine.conversation_of(psid).id
    assert api.post(f"/api/agent/conversations/{conversation_id}/accept",
                    headers=agent).status_code == 200
    uploaded = api.post("/api/agent/attachments", headers=agent,
                        files={"file": ("map.png", PNG, "image/png")})
    assert uploaded.status_code == 201, uploaded.text
    assert api.post(f"/api/agent/conversations/{conversation_id}/messages", headers=agent,
                    json={"text": f"Here you go {word}",
                          "attachment_ids": [uploaded.json()["id"]]}).status_code == 202
    assert api.post(f"/api/agent/conversations/{conversation_id}/notes", headers=agent,
                    json={"text": f"note about {word}"}).status_code == 201
    return conversation_id


def test_the_export_holds_everything_of_the_customer_and_nothing_of_another(
        engine: Engine, api: TestClient, simulator_url: str) -> None:
    _, key = engine.agent("Ann")
    agent = {"Authorization": f"Bearer {key}"}
    psid, other = new_id(), new_id()
    conversation_id = _served(engine, api, simulator_url, psid, "Quillon", "zebracorn", agent)
    assert api.post(f"/api/agent/conversations/{conversation_id}/close",
                    headers=agent).status_code == 200
    _served(engine, api, simulator_url, other, "Ottoline", "marmalade", agent)

    answer = api.get(f"/api/manage/customers/{engine.page_id}/{psid}/export", headers=MANAGER)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["format"] == "messenger-channel.customer-export.v1"
    assert document["customer"] == {"page_id": engine.page_id, "psid": psid}
    assert document["profile"]["name"] == "Quillon Doe"
    [conversation] = document["conversations"]
    assert conversation["id"] == conversation_id
    assert conversation["survey_answers"] == {"order": "order zebracorn-42"}
    texts = [m["text"] for m in conversation["messages"]]
    for text in ("Hello zebracorn", "order zebracorn-42", "Here you go zebracorn",
                 "note about zebracorn"):
        assert text in texts, (text, texts)
    [note] = [m for m in conversation["messages"] if m["text"] == "note about zebracorn"]
    assert note["visibility"] != "customer"
    files = [(m["direction"], info) for m in conversation["messages"]
             for info in m["attachments"]]
    assert {direction for direction, _ in files} == {"in", "out"}
    assert all(info.get("url") for _, info in files), files
    assert len(document["archived_events"]) >= 3  # the customer's three events
    text = json.dumps(document).lower()
    assert other not in text and "marmalade" not in text and "ottoline" not in text

    for _, info in files:
        fetched = api.get(info["url"], headers=MANAGER)
        assert fetched.status_code == 200, (info, fetched.text)
        assert fetched.content.startswith(b"\x89PNG")
        assert api.get(info["url"], headers=agent).status_code == 403
    # A link names its conversation: another one's file is not reachable through it.
    [(_, incoming)] = [(d, info) for d, info in files if d == "in"]
    other_conversation = engine.conversation_of(other).id
    assert api.get(f"/api/manage/attachments/{other_conversation}/{incoming['id']}",
                   headers=MANAGER).status_code == 404
