"""The agent's API in process: me, presence, the inbox, accept, messages; isolation."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id
from tests.support.keys import MANAGEMENT_KEY

ISO_SECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


class AgentClient:
    def __init__(self, api: TestClient, key: str) -> None:
        self.api = api
        self.headers = {"Authorization": f"Bearer {key}"}

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return self.api.request(method, f"/api/agent{path}", json=body, params=params or None,
                                headers=self.headers)

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        answer = self.call(method, path, body, **params)
        assert answer.status_code == 200, answer.text
        return answer.json()


def test_me_and_presence_wake_distribution(engine: Engine, api: TestClient) -> None:
    engine.workstream()
    agent_id, key = engine.agent("Ann", presence="offline")
    agent = AgentClient(api, key)
    me = agent.ok("GET", "/me")
    assert (me["id"], me["name"], me["presence"], me["capacity_used"]) == (
        agent_id, "Ann", "offline", 0)
    psid = new_id()
    engine.say(psid)
    assert engine.conversation_of(psid).state == "waiting"
    assert agent.ok("PUT", "/presence", {"presence": "available"})["presence"] == "available"
    assert engine.conversation_of(psid).offered_to == [agent_id]
    assert agent.ok("GET", "/me")["capacity_used"] == 10
    assert agent.call("PUT", "/presence", {"presence": "asleep"}).status_code == 422


def test_keys_and_families(engine: Engine, api: TestClient) -> None:
    assert api.get("/api/agent/me").status_code == 401
    assert api.get("/api/agent/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    manager = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
    assert api.get("/api/agent/me", headers=manager).status_code == 403


def test_inbox_accept_and_messages(engine: Engine, api: TestClient) -> None:
    engine.workstream(automated_messages={"agent_assigned": {"en-US": "{AgentName} here."}})
    _, key = engine.agent("Ann")
    agent = AgentClient(api, key)
    psid = new_id()
    engine.simulator.put_user(psid, engine.page_id, first_name="Lea", last_name="Roy")
    engine.say(psid, "Hello")
    listed = agent.ok("GET", "/conversations")
    assert set(listed) == {"items", "next", "since"}
    [item] = listed["items"]
    assert item["state"] == "offered" and item["psid"] == psid
    assert item["customer"]["name"] == "Lea Roy" and item["customer"]["contact_id"]
    assert item["window"]["kind"] == "standard" and ISO_SECOND.match(item["window"]["ends_at"])
    assert ISO_SECOND.match(item["offer_expires_at"]) and item["unread"] == 1
    # Nothing changed: nothing listed.
    assert agent.ok("GET", "/conversations", since=listed["since"])["items"] == []
    accepted = agent.ok("POST", f"/conversations/{item['id']}/accept")
    assert accepted["state"] == "active" and ISO_SECOND.match(accepted["assigned_at"])
    assert agent.ok("POST", f"/conversations/{item['id']}/accept")["state"] == "active"
    changed = agent.ok("GET", "/conversations", since=listed["since"])["items"]
    assert [c["id"] for c in changed] == [item["id"]]
    assert agent.ok("GET", "/conversations", state="offered")["items"] == []
    messages = agent.ok("GET", f"/conversations/{item['id']}/messages")["items"]
    assert [(m["author"], m["direction"], m["text"]) for m in messages] == [
        ("customer", "in", "Hello"), ("automated", "out", "Ann here.")]
    assert set(messages[0]) >= {"id", "direction", "author", "text", "edits", "reaction",
                                "attachments", "status", "failure_reason",
                                "facebook_message_id", "created_at"}
    assert messages[0]["status"] == "received" and messages[1]["status"] == "queued"
    assert agent.ok("GET", "/conversations")["items"][0]["unread"] == 0
    assert [m.trigger for m in engine.outbound()] == ["agent_assigned"]


def test_other_agents_and_unknown_ids_get_404(engine: Engine, api: TestClient) -> None:
    engine.workstream(capacity_per_conversation=10)
    holder_id, holder_key = engine.agent("Holder", capacity=10)
    psid = new_id()
    engine.say(psid)
    conversation = engine.conversation_of(psid)
    assert conversation.offered_to == [holder_id]
    _, other_key = engine.agent("Other")
    other = AgentClient(api, other_key)
    assert other.ok("GET", "/conversations")["items"] == []
    for path in (f"/conversations/{conversation.id}/messages",
                 "/conversations/cv_nope/messages", "/conversations/%7F/messages"):
        answer = other.call("GET", path)
        assert answer.status_code == 404 and answer.json()["error"] == "not_found"
    assert other.call("POST", f"/conversations/{conversation.id}/accept").status_code == 404
    assert AgentClient(api, holder_key).call(
        "POST", f"/conversations/{conversation.id}/accept").status_code == 200


def test_expired_offer_is_a_409(engine: Engine, api: TestClient) -> None:
    engine.workstream(offer_timeout_seconds=10)
    _, key = engine.agent()
    psid = new_id()
    engine.say(psid)
    conversation = engine.conversation_of(psid)
    engine.services.clock.set_offset(11)
    answer = AgentClient(api, key).call("POST", f"/conversations/{conversation.id}/accept")
    assert answer.status_code == 409 and answer.json()["error"] == "offer_expired"


def test_twenty_agents_race_to_accept_over_http(engine: Engine, api: TestClient) -> None:
    engine.workstream(distribution_mode="pick")
    keys = [engine.agent(f"Agent {i}")[1] for i in range(20)]
    psid = new_id()
    engine.say(psid)
    conversation_id = engine.conversation_of(psid).id
    start = threading.Barrier(20)

    def race(key: str) -> tuple[int, str]:
        client = AgentClient(api, key)
        start.wait()
        answer = client.call("POST", f"/conversations/{conversation_id}/accept")
        return answer.status_code, answer.json().get("error", "")

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(race, keys))
    assert [status for status, _ in results].count(200) == 1
    assert {(status, code) for status, code in results if status != 200} <= {
        (409, "already_assigned"), (409, "offer_expired")}


def test_management_changes_to_an_agent_wake_distribution(
        engine: Engine, api: TestClient) -> None:
    engine.workstream()
    agent_id, _ = engine.agent(presence="offline")
    psid = new_id()
    engine.say(psid)
    answer = api.patch(f"/api/manage/agents/{agent_id}", json={"presence": "available"},
                       headers={"Authorization": f"Bearer {MANAGEMENT_KEY}"})
    assert answer.status_code == 200, answer.text
    assert engine.conversation_of(psid).offered_to == [agent_id]


def test_close_wrap_up_then_closed_frees_capacity_for_the_waiting(
        engine: Engine, api: TestClient) -> None:
    from messenger_channel.conversations.timers import run_auto_close

    engine.workstream(wrap_up={"block_capacity": True, "minutes": 5}, automated_messages={
        "agent_ended": {"en-US": "Thanks, bye."}},
        post_conversation_survey={"message": "How did we do?", "url": "https://s.example/1"})
    agent_id, key = engine.agent(capacity=10)
    agent = AgentClient(api, key)
    first, second = new_id(), new_id()
    engine.say(first)
    engine.say(second)
    conversation = engine.conversation_of(first)
    agent.ok("POST", f"/conversations/{conversation.id}/accept")
    assert engine.conversation_of(second).state == "waiting"
    closed = agent.ok("POST", f"/conversations/{conversation.id}/close")
    assert closed["state"] == "wrap_up"
    texts = [m.text for m in engine.history(first) if m.author == "automated"]
    assert texts == ["Thanks, bye.", "How did we do? https://s.example/1"]
    assert engine.conversation_of(second).state == "waiting"  # wrap-up blocks capacity
    # The customer writing again during wrap-up opens a new conversation.
    engine.say(first, "one more thing")
    assert engine.conversation_of(first).id != conversation.id
    engine.services.clock.set_offset(5 * 60 + 1)
    run_auto_close(engine.services)
    assert engine.tables.conversation(conversation.id).state == "closed"  # type: ignore[union-attr]
    # Capacity freed: the oldest waiting conversation is offered.
    assert engine.conversation_of(second).offered_to == [agent_id]


def test_second_close_ends_wrap_up_and_others_cannot_close(
        engine: Engine, api: TestClient) -> None:
    engine.workstream(wrap_up={"block_capacity": False, "minutes": 10})
    agent_id, key = engine.agent()
    _, other_key = engine.agent("Other", presence="offline")
    agent = AgentClient(api, key)
    psid = new_id()
    engine.say(psid)
    conversation_id = engine.conversation_of(psid).id
    assert AgentClient(api, key).call(
        "POST", f"/conversations/{conversation_id}/close").status_code == 403  # only offered
    agent.ok("POST", f"/conversations/{conversation_id}/accept")
    assert AgentClient(api, other_key).call(
        "POST", f"/conversations/{conversation_id}/close").status_code == 404
    assert agent.ok("POST", f"/conversations/{conversation_id}/close")["state"] == "wrap_up"
    load = engine.tables.loads.get("load", agent_id)
    assert load is not None and load.reservations == {}  # wrap-up does not block here
    assert agent.ok("POST", f"/conversations/{conversation_id}/close")["state"] == "closed"


def test_messages_since_returns_changes_in_creation_order(
        engine: Engine, api: TestClient) -> None:
    from messenger_channel.conversations.inbound import handle_inbound

    engine.workstream()
    _, key = engine.agent()
    agent = AgentClient(api, key)
    psid = new_id()
    engine.say(psid, "first", mid="m_first")
    engine.say(psid, "second")
    conversation_id = engine.conversation_of(psid).id
    agent.ok("POST", f"/conversations/{conversation_id}/accept")
    listed = agent.ok("GET", f"/conversations/{conversation_id}/messages")
    assert [m["text"] for m in listed["items"]] == ["first", "second"]
    assert agent.ok("GET", f"/conversations/{conversation_id}/messages",
                    since=listed["since"])["items"] == []
    engine.services.clock.set_offset(5)
    handle_inbound(engine.services, engine.envelope(psid, {"reaction": {
        "mid": "m_first", "action": "react", "reaction": "like", "emoji": "👍"}}))
    changed = agent.ok("GET", f"/conversations/{conversation_id}/messages",
                       since=listed["since"])["items"]
    assert [(m["text"], m["reaction"]) for m in changed] == [("first", "👍")]


def test_since_polls_learn_what_left_the_agent(engine: Engine, api: TestClient) -> None:
    engine.workstream()
    _, ann_key = engine.agent("Ann")
    bob_id, _ = engine.agent("Bob", queues=[])
    ann = AgentClient(api, ann_key)
    psid = new_id()
    engine.say(psid, "Hi")
    conversation_id = engine.conversation_of(psid).id
    ann.ok("POST", f"/conversations/{conversation_id}/accept")
    since = ann.ok("GET", "/conversations")["since"]
    assert ann.ok("GET", "/conversations", since=since)["items"] == []
    engine.services.clock.set_offset(1)
    ann.ok("POST", f"/conversations/{conversation_id}/transfer", {"agent_id": bob_id})
    [left] = ann.ok("GET", "/conversations", since=since)["items"]
    assert (left["id"], left["role"], left["state"]) == (conversation_id, None, "offered")
    # Told once: a poll from the newer cursor is empty again, and full reads never show it.
    later = ann.ok("GET", "/conversations", since=since)["since"]
    assert ann.ok("GET", "/conversations", since=later)["items"] == []
    assert ann.ok("GET", "/conversations")["items"] == []
    # An hour on, a full read forgets the departure.
    engine.services.clock.set_offset(3601 + 1)
    ann.ok("GET", "/conversations")
    assert ann.ok("GET", "/conversations", since=since)["items"] == []
