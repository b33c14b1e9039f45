"""A bot per workstream on Azurite, with the simulator's example bot as the bot: the router asks
it, sends its answers, escalates with its attributes (routed by the rules), survives a bad or
slow bot, never asks twice for one event; the bot's key, its API, and the write-only secret."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations.bot_health import bot_failures
from messenger_channel.conversations.inbound import handle_inbound
from messenger_channel.secrets import SecretNotFound
from messenger_channel.services import Services
from messenger_channel.workforce.workstreams import WorkstreamCreate, Workstreams
from simulator.bot import ASK_ORDER, DIDNT_GET, HANDING_OVER, HOURS
from simulator.client import SimulatorClient
from simulator.settings import DEFAULT_BOT_SECRET
from tests.support.engine import Engine, new_id
from tests.support.keys import MANAGEMENT_KEY

MANAGER = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


def bot_workstream(engine: Engine, simulator_url: str, query: str = "", **settings: Any) -> str:
    """A workstream whose bot is the simulator's example bot."""
    engine.connect_page()
    engine.queue_id = engine.queue_id or engine.queue()
    bot = {"url": f"{simulator_url}/_sim/bot{query}", "secret": DEFAULT_BOT_SECRET,
           **settings.pop("bot", {})}
    body = WorkstreamCreate.model_validate({
        "name": "Support", "page_id": engine.page_id, "fallback_queue_id": engine.queue_id,
        "bot": bot, **settings})
    engine.workstream_id = Workstreams.of(engine.services).create(body).id
    return engine.workstream_id


def test_the_bot_answers_and_keeps_the_conversation(engine: Engine, simulator_url: str) -> None:
    bot_workstream(engine, simulator_url,
                   automated_messages={"greeting": {"en-US": "Welcome to Contoso!"}})
    engine.agent()
    psid = new_id()
    engine.say(psid, "What are your opening hours?")

    conversation = engine.conversation_of(psid)
    assert conversation.state == "bot" and conversation.queue_id is None
    assert conversation.attributes == {"intent": "hours"}
    [asked, greeting, answered] = engine.history(psid)
    assert (asked.author, asked.text) == ("customer", "What are your opening hours?")
    assert (greeting.author, greeting.text) == ("automated", "Welcome to Contoso!")
    assert (answered.author, answered.direction, answered.text) == ("bot", "out", HOURS)
    outbound = engine.outbound()
    assert [(m.author, m.text) for m in outbound] == [("automated", "Welcome to Contoso!"),
                                                      ("bot", HOURS)]
    assert engine.tables.loads.list_partition("load") == []  # no agent was offered anything


def test_escalation_routes_with_the_bots_attributes(engine: Engine, simulator_url: str) -> None:
    orders = engine.queue("Orders")
    rules = [{"name": "intent", "rules": [
        {"when": {"field": "attributes.intent", "op": "eq", "value": "order_status"},
         "queue_id": orders}]}]
    bot_workstream(engine, simulator_url, routing_rules=rules)
    olga, _ = engine.agent("Olga", queues=[orders])
    psid = new_id()
    engine.say(psid, "Where is my order?")
    engine.say(psid, "I want to talk to an agent")

    conversation = engine.conversation_of(psid)
    assert conversation.state == "offered" and conversation.offered_to == [olga]
    assert conversation.queue_id == orders
    assert conversation.attributes["intent"] == "order_status"
    history = engine.history(psid)
    assert [(m.author, m.text) for m in history if m.visibility == "customer"] == [
        ("customer", "Where is my order?"), ("bot", ASK_ORDER),
        ("customer", "I want to talk to an agent"), ("bot", HANDING_OVER)]
    assert any(m.author == "system" and "handed the conversation" in (m.text or "")
               for m in history)
    # The customer's next message stays with the agents, not the bot.
    engine.say(psid, "hours?")
    assert [m.author for m in engine.history(psid)][-1] == "customer"


def test_two_misses_escalate_to_the_fallback_queue(engine: Engine, simulator_url: str) -> None:
    bot_workstream(engine, simulator_url)
    psid = new_id()
    engine.say(psid, "blue elephants")
    assert engine.conversation_of(psid).state == "bot"
    engine.say(psid, "purple giraffes")
    conversation = engine.conversation_of(psid)
    assert conversation.state == "waiting" and conversation.queue_id == engine.queue_id
    assert conversation.attributes == {"intent": "unknown", "bot_misses": 2}
    assert [m.text for m in engine.history(psid) if m.author == "bot"] == [DIDNT_GET,
                                                                         HANDING_OVER]


def test_a_redelivered_event_does_not_ask_the_bot_again(engine: Engine,
                                                        simulator_url: str) -> None:
    bot_workstream(engine, simulator_url)
    psid = new_id()
    envelope = engine.message(psid, "blue elephants")
    for _ in range(3):
        handle_inbound(engine.services, envelope)
    # The bot counts a miss per call: a second call would have made two, and escalated.
    conversation = engine.conversation_of(psid)
    assert conversation.state == "bot"
    assert conversation.bot_events == [envelope.event_id]
    assert [m.text for m in engine.history(psid) if m.author == "bot"] == [DIDNT_GET]
    assert len(engine.outbound()) == 1


@pytest.mark.parametrize(("query", "reason"), [
    ("?misbehave=not_json", "not_json"), ("?misbehave=error", "http_error"),
    ("?misbehave=wrong_shape", "invalid_answer")])
def test_a_bad_answer_escalates_and_is_counted(engine: Engine, simulator_url: str, query: str,
                                              reason: str) -> None:
    workstream_id = bot_workstream(engine, simulator_url, query)
    psid = new_id()
    engine.say(psid, "hours?")
    conversation = engine.conversation_of(psid)
    assert conversation.state == "waiting" and conversation.queue_id == engine.queue_id
    assert [m.author for m in engine.history(psid)] == ["customer", "system"]
    assert bot_failures(engine.services).counts[workstream_id] == {reason: 1}


def test_a_slow_bot_escalates_after_its_timeout(engine: Engine, simulator_url: str) -> None:
    workstream_id = bot_workstream(engine, simulator_url, "?misbehave=slow&seconds=20",
                                   bot={"timeout_seconds": 1})
    psid = new_id()
    started = time.monotonic()
    engine.say(psid, "hours?")
    elapsed = time.monotonic() - started
    assert engine.conversation_of(psid).state == "waiting"
    assert 1.0 <= elapsed < 4.0, elapsed
    assert bot_failures(engine.services).counts[workstream_id] == {"timeout": 1}


def test_without_escalate_on_error_the_customer_stays_with_the_bot(
        engine: Engine, simulator_url: str) -> None:
    workstream_id = bot_workstream(engine, simulator_url, "?misbehave=error",
                                   bot={"escalate_on_error": False})
    psid = new_id()
    envelope = engine.say(psid, "hours?")
    conversation = engine.conversation_of(psid)
    assert conversation.state == "bot" and conversation.bot_events == [envelope.event_id]
    assert bot_failures(engine.services).counts[workstream_id] == {"http_error": 1}


def test_a_bot_with_the_wrong_secret_is_refused_by_the_bot_and_escalated(
        engine: Engine, simulator_url: str) -> None:
    workstream_id = bot_workstream(engine, simulator_url,
                                   bot={"secret": "not-the-bots-secret-000"})
    psid = new_id()
    engine.say(psid, "hours?")
    assert engine.conversation_of(psid).state == "waiting"
    assert bot_failures(engine.services).counts[workstream_id] == {"http_error": 1}


# ---------------------------------------------------------------------- the management API


def _workstream_body(engine: Engine, simulator_url: str, **bot: Any) -> dict[str, Any]:
    engine.connect_page()
    engine.queue_id = engine.queue_id or engine.queue()
    return {"name": "Support", "page_id": engine.page_id, "fallback_queue_id": engine.queue_id,
            "bot": {"url": f"{simulator_url}/_sim/bot", **bot}}


def test_the_secret_is_write_only_and_kept_in_the_secret_store(
        engine: Engine, simulator_url: str, api: TestClient) -> None:
    secret = "a-very-secret-bot-secret-1234"
    created = api.post("/api/manage/workstreams", headers=MANAGER,
                       json=_workstream_body(engine, simulator_url, secret=secret))
    assert created.status_code == 201, created.text
    workstream = created.json()
    assert workstream["bot"] == {"url": f"{simulator_url}/_sim/bot", "timeout_seconds": 5,
                                 "escalate_on_error": True, "key_issued": False}
    read = api.get(f"/api/manage/workstreams/{workstream['id']}", headers=MANAGER)
    assert secret not in read.text and secret not in created.text
    stored = Workstreams.of(engine.services).get(workstream["id"]).bot
    assert stored is not None and engine.services.secrets.get(stored.secret_ref) == secret
    # The table holds the secret's name only.
    assert secret not in Workstreams.of(engine.services).get(workstream["id"]).model_dump_json()

    # A PATCH without the secret keeps it; a new secret replaces (and deletes) the old one.
    moved = api.patch(f"/api/manage/workstreams/{workstream['id']}", headers=MANAGER,
                      json={"bot": {"url": "https://bots.example.com/contoso",
                                    "timeout_seconds": 3}})
    assert moved.status_code == 200, moved.text
    kept = Workstreams.of(engine.services).get(workstream["id"]).bot
    assert kept is not None and kept.secret_ref == stored.secret_ref and kept.timeout_seconds == 3
    rotated = api.patch(f"/api/manage/workstreams/{workstream['id']}", headers=MANAGER,
                        json={"bot": {"url": "https://bots.example.com/contoso",
                                      "secret": "another-secret-of-the-bot-99"}})
    assert rotated.status_code == 200
    new = Workstreams.of(engine.services).get(workstream["id"]).bot
    assert new is not None and new.secret_ref != stored.secret_ref
    assert engine.services.secrets.get(new.secret_ref) == "another-secret-of-the-bot-99"
    with pytest.raises(SecretNotFound):
        engine.services.secrets.get(stored.secret_ref)
    # No bot any more: its secret goes too.
    removed = api.patch(f"/api/manage/workstreams/{workstream['id']}", headers=MANAGER,
                        json={"bot": None})
    assert removed.status_code == 200 and removed.json()["bot"] is None
    with pytest.raises(SecretNotFound):
        engine.services.secrets.get(new.secret_ref)


@pytest.mark.parametrize(("bot", "field"), [
    ({}, "bot.secret"),
    ({"secret": "short"}, "bot.secret"),
    ({"secret": "long-enough-secret-0000", "url": "http://bots.example.com/x"}, "bot.url"),
    ({"secret": "long-enough-secret-0000", "timeout_seconds": 0}, "bot.timeout_seconds"),
    ({"secret": "long-enough-secret-0000", "timeout_seconds": 31}, "bot.timeout_seconds"),
])
def test_bad_bot_settings_are_refused(engine: Engine, simulator_url: str, api: TestClient,
                                      bot: dict[str, Any], field: str) -> None:
    body = _workstream_body(engine, simulator_url)
    body["bot"] = {**body["bot"], **bot}
    answer = api.post("/api/manage/workstreams", headers=MANAGER, json=body)
    assert answer.status_code == 422, answer.text
    assert field in [f["field"] for f in answer.json()["fields"]]
    assert "long-enough-secret" not in answer.text
    assert Workstreams.of(engine.services).all() == []


def test_a_bot_and_a_pre_conversation_survey_do_not_mix(engine: Engine, simulator_url: str,
                                                        api: TestClient) -> None:
    body = _workstream_body(engine, simulator_url, secret="long-enough-secret-0000")
    body["pre_conversation_survey"] = [{"id": "topic", "question": "About?"}]
    answer = api.post("/api/manage/workstreams", headers=MANAGER, json=body)
    assert answer.status_code == 422 and answer.json()["fields"][0]["field"] == "bot"


# ---------------------------------------------------------------------- the bot's API


def _bot_page(engine: Engine, simulator_url: str, api: TestClient) -> tuple[str, str]:
    """(the workstream's id, its bot's key)"""
    workstream_id = bot_workstream(engine, simulator_url)
    issued = api.post(f"/api/manage/workstreams/{workstream_id}/bot-key", headers=MANAGER)
    assert issued.status_code == 201, issued.text
    return workstream_id, issued.json()["api_key"]


def test_the_bot_writes_and_escalates_through_its_api(engine: Engine, simulator_url: str,
                                                      api: TestClient) -> None:
    workstream_id, key = _bot_page(engine, simulator_url, api)
    bot = {"Authorization": f"Bearer {key}"}
    psid = new_id()
    engine.say(psid, "hours")
    conversation_id = engine.conversation_of(psid).id

    sent = api.post(f"/api/bot/conversations/{conversation_id}/messages", headers=bot,
                    json={"text": "Anything else?", "quick_replies": ["No", "Yes"]})
    assert sent.status_code == 202, sent.text
    last = engine.history(psid)[-1]
    assert (last.author, last.text, [q.title for q in last.quick_replies]) == (
        "bot", "Anything else?", ["No", "Yes"])

    escalated = api.post(f"/api/bot/conversations/{conversation_id}/escalate", headers=bot,
                         json={"attributes": {"intent": "complaint", "vip": True}})
    assert escalated.status_code == 200, escalated.text
    assert escalated.json()["state"] == "waiting"
    assert escalated.json()["queue_id"] == engine.queue_id
    assert engine.conversation_of(psid).attributes == {"intent": "complaint", "vip": True}
    again = api.post(f"/api/bot/conversations/{conversation_id}/escalate", headers=bot)
    assert again.status_code == 409 and again.json()["error"] == "not_with_bot"
    late = api.post(f"/api/bot/conversations/{conversation_id}/messages", headers=bot,
                    json={"text": "Hello?"})
    assert late.status_code == 409
    health = api.get("/api/manage/health", headers=MANAGER).json()
    assert health["bot_failures"] == {}
    # The audit trail names the bot by its workstream.
    audit = api.get("/api/manage/audit", headers=MANAGER).json()["items"]
    assert any(item["action"] == "conversation.escalate"
               and item["actor"] == {"kind": "bot", "id": workstream_id} for item in audit)


def test_keys_that_do_not_open_the_bots_api(engine: Engine, simulator_url: str,
                                            api: TestClient) -> None:
    _, key = _bot_page(engine, simulator_url, api)
    psid = new_id()
    engine.say(psid, "hours")
    conversation_id = engine.conversation_of(psid).id
    route = f"/api/bot/conversations/{conversation_id}/messages"
    body = {"text": "hi"}
    assert api.post(route, json=body).status_code == 401
    assert api.post(route, json=body, headers={"Authorization": "Bearer bk_wrong"}
                    ).status_code == 401
    assert api.post(route, json=body, headers=MANAGER).status_code == 403
    _, agent_key = engine.agent()
    assert api.post(route, json=body, headers={"Authorization": f"Bearer {agent_key}"}
                    ).status_code == 403
    # The bot's key opens nothing else.
    bot = {"Authorization": f"Bearer {key}"}
    assert api.get("/api/agent/conversations", headers=bot).status_code == 403
    assert api.get("/api/manage/workstreams", headers=bot).status_code == 403
    assert api.post("/api/bot/conversations/cv_nothing/escalate", headers=bot
                    ).status_code == 404
    # Rotated: the old key is dead, the new one works.
    rotated = api.post(f"/api/manage/workstreams/{engine.workstream_id}/bot-key",
                       headers=MANAGER).json()["api_key"]
    assert api.post(route, json=body, headers=bot).status_code == 401
    assert api.post(route, json=body, headers={"Authorization": f"Bearer {rotated}"}
                    ).status_code == 202


def test_a_bot_key_on_another_workstreams_conversation_is_404(
        services: Services, simulator_url: str, api: TestClient) -> None:
    with SimulatorClient(simulator_url) as simulator:
        first, second = Engine(services, simulator), Engine(services, simulator)
        _, first_key = _bot_page(first, simulator_url, api)
        second.queue_id = first.queue_id  # one queue name per store
        _bot_page(second, simulator_url, api)
        psid = new_id()
        second.say(psid, "hours")
        theirs = second.conversation_of(psid).id
    answer = api.post(f"/api/bot/conversations/{theirs}/escalate",
                      headers={"Authorization": f"Bearer {first_key}"})
    assert answer.status_code == 404
    assert second.conversation_of(psid).state == "bot"


def test_no_key_for_a_workstream_without_a_bot(engine: Engine, api: TestClient) -> None:
    workstream_id = engine.workstream()
    answer = api.post(f"/api/manage/workstreams/{workstream_id}/bot-key", headers=MANAGER)
    assert answer.status_code == 409 and answer.json()["error"] == "no_bot"
    assert api.post("/api/manage/workstreams/ws_none/bot-key", headers=MANAGER
                    ).status_code == 404
