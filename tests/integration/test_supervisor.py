"""The supervisor's API on Azurite: keys, every conversation with filters and cursors, any
transcript, assign and close (with capacity under races), the live view, reports."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.labels import set_labels
from messenger_channel.conversations.notes import add_note
from messenger_channel.conversations.replies import agent_reply
from messenger_channel.services import Services
from messenger_channel.workforce.agents import Agents, get_agent
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id
from tests.support.keys import MANAGEMENT_KEY


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


class Client:
    def __init__(self, api: TestClient, key: str) -> None:
        self.api = api
        self.headers = {"Authorization": f"Bearer {key}"}

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return self.api.request(method, f"/api/supervisor{path}", json=body,
                                params=params or None, headers=self.headers)

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        answer = self.call(method, path, body, **params)
        assert answer.status_code == 200, answer.text
        return answer.json()


def supervisor(engine: Engine, api: TestClient) -> Client:
    agent_id, key = engine.agent("Sue", presence="offline")
    Agents(engine.services.tables, engine.services.clock).update(agent_id,
                                                                 {"role": "supervisor"})
    return Client(api, key)


def accept(engine: Engine, conversation_id: str, agent_id: str) -> None:
    agent = get_agent(engine.services.tables, agent_id)
    assert agent is not None
    Distributor(engine.services).accept(conversation_id, agent_id, agent)


def reserved(engine: Engine, agent_id: str) -> set[str]:
    load = engine.tables.loads.get("load", agent_id)
    return set() if load is None else set(load.reservations)


def test_only_a_supervisors_key_opens_the_routes(engine: Engine, api: TestClient) -> None:
    engine.workstream()
    _, agent_key = engine.agent("Ann")
    boss = supervisor(engine, api)
    assert api.get("/api/supervisor/queues").status_code == 401
    for key in (agent_key, MANAGEMENT_KEY):
        answer = Client(api, key).call("GET", "/queues")
        assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
    assert boss.call("GET", "/queues").status_code == 200
    # A supervisor is an agent too: their own work stays on /api/agent.
    assert api.get("/api/agent/me", headers=boss.headers).status_code == 200


def test_every_conversation_with_filters_and_cursors(engine: Engine, api: TestClient) -> None:
    engine.workstream()
    engine.agent("Ann", capacity=10)
    boss = supervisor(engine, api)
    clock = engine.services.clock
    psids = []
    for days_ago in (3, 2, 1, 0, 0):
        clock.set_offset(-days_ago * 86400 - 60)
        psid = new_id()
        engine.simulator.put_user(psid, engine.page_id, first_name=f"Zoé{days_ago}",
                                  last_name="Martin")
        engine.say(psid, "Hi")
        psids.append(psid)
    clock.set_offset(0)
    ids = [engine.conversation_of(psid).id for psid in psids]
    listed: list[str] = []
    cursor = None
    while True:
        page = boss.ok("GET", "/conversations", limit=2, **({"cursor": cursor} if cursor else {}))
        listed += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert listed[:3] == [ids[4], ids[3], ids[2]] or listed[:3] == [ids[3], ids[4], ids[2]]
    assert set(listed) == set(ids) and len(listed) == 5
    # The first is offered to Ann (capacity for one): the others wait.
    offered = boss.ok("GET", "/conversations", state="offered")["items"]
    assert [item["id"] for item in offered] == [ids[0]]
    waiting = boss.ok("GET", "/conversations", state="waiting", queue_id=engine.queue_id)
    assert {item["id"] for item in waiting["items"]} == set(ids[1:])
    day = (clock.now() - timedelta(days=2)).date().isoformat()
    assert [i["id"] for i in boss.ok("GET", "/conversations", **{"from": day, "to": day})[
        "items"]] == [ids[1]]
    found = boss.ok("GET", "/conversations", customer="zoe2")["items"]
    assert [item["id"] for item in found] == [ids[1]]
    assert boss.ok("GET", "/conversations", customer="nobody-like-this")["items"] == []
    assert boss.call("GET", "/conversations", cursor="nope").status_code == 400
    assert boss.call("GET", "/conversations", **{"from": "yesterday"}).status_code == 422


def test_label_filter_and_closed_ones(engine: Engine, api: TestClient) -> None:
    engine.workstream()
    ann, _ = engine.agent("Ann")
    boss = supervisor(engine, api)
    first, second = new_id(), new_id()
    engine.say(first, "Hi")
    engine.say(second, "Hi")
    one, two = engine.conversation_of(first).id, engine.conversation_of(second).id
    accept(engine, one, ann)
    set_labels(engine.services, one, ann, ["vip", "refund"])
    assert [i["id"] for i in boss.ok("GET", "/conversations", label="vip")["items"]] == [one]
    boss.ok("POST", f"/conversations/{one}/close")
    closed = boss.ok("GET", "/conversations", state="closed")["items"]
    assert [item["id"] for item in closed] == [one] and closed[0]["labels"] == ["vip", "refund"]
    assert {i["id"] for i in boss.ok("GET", "/conversations")["items"]} == {one, two}


def test_any_transcript_with_notes_and_unknown_ids(engine: Engine, api: TestClient) -> None:
    engine.workstream()
    ann, _ = engine.agent("Ann")
    boss = supervisor(engine, api)
    psid = new_id()
    engine.say(psid, "Where is my order?")
    conversation_id = engine.conversation_of(psid).id
    accept(engine, conversation_id, ann)
    add_note(engine.services, conversation_id, ann, "Order 42 is late")
    agent_reply(engine.services, conversation_id, ann, "Checking", [])
    one = boss.ok("GET", f"/conversations/{conversation_id}")
    assert one["state"] == "active" and one["participants"][0]["agent_id"] == ann
    items = boss.ok("GET", f"/conversations/{conversation_id}/messages")["items"]
    assert [(m["author"], m["visibility"], m["text"]) for m in items] == [
        ("customer", "customer", "Where is my order?"),
        ("agent", "internal", "Order 42 is late"), ("agent", "customer", "Checking")]
    after = engine.conversation_of(psid)
    assert after.unread == 1  # a supervisor's reading leaves the agent's unread alone
    for path in ("/conversations/cv_nope", "/conversations/cv_nope/messages",
                 "/conversations/%7F"):
        assert boss.call("GET", path).status_code == 404


def test_assign_moves_the_conversation_and_its_capacity(engine: Engine,
                                                        api: TestClient) -> None:
    engine.workstream()
    ann, _ = engine.agent("Ann")
    bob, _ = engine.agent("Bob", queues=[])
    boss = supervisor(engine, api)
    psid = new_id()
    engine.say(psid, "Hi")
    conversation_id = engine.conversation_of(psid).id
    accept(engine, conversation_id, ann)
    answer = boss.ok("POST", f"/conversations/{conversation_id}/assign", {"agent_id": bob})
    assert (answer["state"], answer["participants"][0]["agent_id"]) == ("active", bob)
    assert reserved(engine, ann) == set() and reserved(engine, bob) == {conversation_id}
    messages = engine.tables.history(conversation_id)
    assert messages[-1].author == "system" and "assigned the conversation to Bob" in (
        messages[-1].text or "")
    # Refusals.
    offline, _ = engine.agent("Olga", presence="offline")
    assert boss.call("POST", f"/conversations/{conversation_id}/assign",
                     {"agent_id": offline}).json()["error"] == "agent_unavailable"
    assert boss.call("POST", f"/conversations/{conversation_id}/assign",
                     {"agent_id": "ag_nope"}).status_code == 404
    full, _ = engine.agent("Full", capacity=5)
    assert boss.call("POST", f"/conversations/{conversation_id}/assign",
                     {"agent_id": full}).json()["error"] == "no_capacity"
    assert reserved(engine, full) == set()
    closed = boss.ok("POST", f"/conversations/{conversation_id}/close")
    assert closed["state"] == "closed" and reserved(engine, bob) == set()
    assert boss.call("POST", f"/conversations/{conversation_id}/assign",
                     {"agent_id": ann}).json()["error"] == "conversation_closed"


@pytest.mark.parametrize("attempt", range(3))
def test_assign_racing_an_accept_leaves_one_holder_with_the_capacity(
        engine: Engine, api: TestClient, attempt: int) -> None:
    engine.workstream()
    ann, _ = engine.agent("Ann")
    bob, _ = engine.agent("Bob", queues=[])
    boss = supervisor(engine, api)
    psid = new_id()
    engine.say(psid, "Hi")
    conversation_id = engine.conversation_of(psid).id
    assert engine.conversation_of(psid).offered_to == [ann]

    def accepting() -> int:
        try:
            accept(engine, conversation_id, ann)
        except Exception:
            return 409
        return 200

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda f: f(), [
            accepting,
            lambda: boss.call("POST", f"/conversations/{conversation_id}/assign",
                              {"agent_id": bob}).status_code]))
    assert 200 in results
    holder = engine.conversation_of(psid).agent_id
    assert holder in (ann, bob)
    other = bob if holder == ann else ann
    assert reserved(engine, holder) == {conversation_id}
    assert reserved(engine, other) == set()


def test_live_view_counts_what_distribution_holds(engine: Engine, api: TestClient) -> None:
    engine.workstream()
    ann, _ = engine.agent("Ann", capacity=20)
    boss = supervisor(engine, api)
    psids = [new_id() for _ in range(4)]
    for psid in psids:
        engine.say(psid, "Hi")
    # Ann holds two (20 / 10): one accepted, one offered; two wait.
    accept(engine, engine.conversation_of(psids[0]).id, ann)
    [queue] = [q for q in boss.ok("GET", "/queues")["items"] if q["queue_id"] == engine.queue_id]
    assert (queue["waiting"], queue["offered"], queue["active"]) == (2, 1, 1)
    assert queue["agents_available"] == 1 and queue["longest_wait_seconds"] >= 0
    agents = {a["agent_id"]: a for a in boss.ok("GET", "/agents")["items"]}
    assert (agents[ann]["used"], agents[ann]["capacity"], agents[ann]["conversations"]) == (
        20, 20, 1)
    load = engine.tables.loads.get("load", ann)
    assert load is not None and load.used == agents[ann]["used"]


def test_reports_over_stored_conversations(engine: Engine, api: TestClient) -> None:
    engine.workstream()
    ann, _ = engine.agent("Ann")
    boss = supervisor(engine, api)
    clock = engine.services.clock
    psid = new_id()
    engine.say(psid, "Hi")
    conversation_id = engine.conversation_of(psid).id
    clock.set_offset(30)
    accept(engine, conversation_id, ann)
    clock.set_offset(40)
    agent_reply(engine.services, conversation_id, ann, "Hello", [])
    clock.set_offset(100)
    boss.ok("POST", f"/conversations/{conversation_id}/close")
    clock.set_offset(0)
    engine.say(new_id(), "Another")  # waiting, never answered
    today = clock.now().date().isoformat()
    body = boss.ok("GET", "/reports", **{"from": today, "to": today, "group_by": "agent"})
    rows = {row["key"]: row for row in body["items"]}
    assert set(rows) == {ann, "unassigned"}
    mine = rows[ann]
    assert mine["name"] == "Ann" and (mine["conversations"], mine["closed"]) == (1, 1)
    assert 29 <= mine["median_wait_seconds"] <= 31
    assert 9 <= mine["median_first_response_seconds"] <= 11
    assert 69 <= mine["median_handle_seconds"] <= 71
    assert rows["unassigned"]["median_wait_seconds"] is None
    text = boss.call("GET", "/reports", **{"from": today, "to": today, "format": "csv"})
    assert text.headers["content-type"].startswith("text/csv")
    assert text.text.splitlines()[0].startswith("key,name,conversations,closed,abandoned")
    assert boss.call("GET", "/reports", **{"from": today, "to": "2020-01-01"}
                     ).status_code == 422
    assert boss.call("GET", "/reports", **{"from": "2020-01-01", "to": today}
                     ).status_code == 422
