"""Messenger's handover protocol on Azurite and the simulator: the channel's app is a secondary
receiver of a page whose primary is a bot vendor's app. Standby events are kept and not routed;
a pass opens and routes a conversation with the standby history; a take closes an unstaffed
conversation; an agent's conversation takes the thread (or asks for it); every close passes it
back after the last messages; a failing Graph never loses anything."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from messenger_channel.bus.local import LocalQueue
from messenger_channel.conversations.agent_contacts import start_conversation
from messenger_channel.conversations.closing import agent_closes
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.inbound import handle_inbound
from messenger_channel.conversations.models import Conversation
from messenger_channel.conversations.outbound import process_outbound_queue
from messenger_channel.provisioning.models import Account
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.queue_messages import OUTBOUND, InboundEnvelope
from messenger_channel.services import Services
from messenger_channel.workforce.agents import get_agent
from messenger_channel.workforce.handover import PAGE_INBOX_APP_ID
from simulator.client import SimulatorClient
from tests.support.engine import ACCOUNT, Engine, new_id

BOT = "300000000000003"
OURS = ACCOUNT.app_id


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        engine = Engine(services, simulator)
        engine.workstream(handover={"role": "secondary"},
                          automated_messages={"greeting": {"en-US": "An agent will help you."},
                                              "agent_joined": {"en-US": "Hi, I am {AgentName}."},
                                              "agent_ended": {"en-US": "Thanks, bye."}})
        # The channel's app on the page: a token of its own, a secondary role.
        now = services.clock.now()
        ChannelTables(services.tables).accounts.create(Account(
            id=ACCOUNT.account_id, name="Contoso", app_id=OURS, app_secret_ref="unused",
            verify_token=ACCOUNT.verify_token, created_at=now, updated_at=now))
        simulator.put_app(OURS, ACCOUNT.app_secret, "Channel")
        simulator.put_app(BOT, "bot-secret", "Bot vendor")
        token = f"EAA-ours-{engine.page_id}"
        simulator.put_token(token, page_id=engine.page_id, app_id=OURS)
        services.secrets.set(f"page-token-{engine.page_id}", token)
        simulator.put_roles(engine.page_id, BOT, [OURS])
        yield engine


def drain(engine: Engine) -> list[str]:
    """Run the sender over everything due on ``outbound``; the kinds it handled, in order."""
    queue = engine.services.queue
    assert isinstance(queue, LocalQueue)
    handled = []
    while (received := queue.receive(OUTBOUND.name)) is not None:
        handled.append("command" if received.body.startswith(b'{"kind"') else "message")
        process_outbound_queue(engine.services, received.body)
        queue.complete(received)
    return handled


def standby(engine: Engine, psid: str, text: str) -> None:
    """The customer writes while another app holds the thread (Facebook's window opens)."""
    engine.simulator.put_user(psid, engine.page_id, last_message_at=int(
        engine.services.clock.now().timestamp() * 1000))
    handle_inbound(engine.services, engine.envelope(
        psid, {"message": {"mid": f"m_{new_id()}", "text": text}}, source="standby"))


def handover(engine: Engine, psid: str, action: str, **data: Any) -> InboundEnvelope:
    envelope = engine.envelope(psid, {action: data})
    handle_inbound(engine.services, envelope)
    return envelope


def current(engine: Engine, conversation: Conversation) -> Conversation:
    found = engine.tables.conversation(conversation.id)
    assert found is not None
    return found


def test_standby_is_kept_until_the_thread_is_passed_then_routed(engine: Engine) -> None:
    agent_id, _ = engine.agent()
    psid = new_id()
    engine.simulator.put_user(psid, engine.page_id, first_name="Lea", last_name="Roy")
    for text in ("Where is my parcel?", "I want a human"):
        standby(engine, psid, text)
    contact = engine.tables.contacts.get(engine.page_id, psid)
    assert contact is not None and contact.open_conversation_id is None  # not routed
    assert [m.text for m in engine.tables.history(f"standby-{contact.id}")] == [
        "Where is my parcel?", "I want a human"]

    passed = handover(engine, psid, "pass_thread_control", previous_owner_app_id=BOT,
                      new_owner_app_id=OURS, metadata="intent=parcel")
    conversation = engine.conversation_of(psid)
    assert conversation.state == "offered" and conversation.offered_to == [agent_id]
    assert conversation.thread_owner_app_id == OURS and conversation.unread == 2
    assert conversation.last_customer_message_at is not None  # the standby message's window
    history = engine.history(psid)
    assert [(m.author, m.text) for m in history if m.visibility == "customer"] == [
        ("customer", "Where is my parcel?"), ("customer", "I want a human"),
        ("automated", "An agent will help you.")]
    [line] = [m for m in history if m.author == "system"]
    assert line.text == f"The Messenger thread was passed to this channel by app {BOT}: " \
                        "intent=parcel"
    # The same event again (a redelivery) changes nothing.
    before = current(engine, conversation)
    handle_inbound(engine.services, passed)
    assert len(engine.history(psid)) == len(history)
    assert current(engine, conversation).unread == before.unread


def test_a_take_closes_a_conversation_nobody_holds_and_marks_a_held_one(engine: Engine) -> None:
    psid = new_id()
    engine.simulator.put_user(psid, engine.page_id)
    engine.simulator.set_thread_owner(engine.page_id, psid, OURS)
    engine.say(psid, "Hello")  # as messaging: the thread is ours
    waiting = engine.conversation_of(psid)
    assert waiting.state == "waiting" and waiting.thread_owner_app_id == OURS
    handover(engine, psid, "take_thread_control", previous_owner_app_id=OURS,
             new_owner_app_id=BOT, metadata="bot again")
    closed = current(engine, waiting)
    assert closed.state == "closed" and closed.thread_owner_app_id == BOT
    assert "took the customer's Messenger thread (bot again); the conversation is closed" in (
        engine.history(psid)[-1].text or "")
    # The greeting only: no pass back of a thread that is the bot's now.
    assert drain(engine) == ["message"]
    assert engine.simulator.thread_owner(engine.page_id, psid) == OURS

    agent_id, _ = engine.agent("Bo")
    other = new_id()
    engine.simulator.put_user(other, engine.page_id)
    engine.simulator.set_thread_owner(engine.page_id, other, OURS)
    engine.say(other, "Hi")
    offered = engine.conversation_of(other)
    agent = get_agent(engine.services.tables, agent_id)
    assert agent is not None
    active = Distributor(engine.services).accept(offered.id, agent_id, agent)
    handover(engine, other, "take_thread_control", previous_owner_app_id=OURS,
             new_owner_app_id=BOT)
    kept = current(engine, active)
    assert kept.state == "active" and kept.thread_owner_app_id == BOT
    assert "replies fail until the thread is passed back" in (
        engine.history(other)[-1].text or "")


def test_an_agents_conversation_takes_an_idle_thread_and_passes_it_back_when_closed(
        engine: Engine) -> None:
    agent_id, _ = engine.agent("Cy")
    psid = new_id()
    engine.simulator.put_user(psid, engine.page_id)
    standby(engine, psid, "Any news?")
    engine.simulator.set_thread_owner(engine.page_id, psid, None)  # idle: anyone may take
    started = start_conversation(engine.services, agent_id, engine.page_id, psid=psid)
    assert started.last_customer_message_at is not None  # the standby message opened it
    assert drain(engine) == ["command", "message"]  # the take before "Hi, I am Cy."
    assert engine.simulator.thread_owner(engine.page_id, psid) == OURS
    taken = current(engine, started)
    assert taken.thread_owner_app_id == OURS and taken.thread_control is not None
    assert (taken.thread_control.action, taken.thread_control.status) == ("take", "done")
    [joined] = engine.simulator.sent(page_id=engine.page_id, psid=psid)
    assert joined["message"]["text"] == "Hi, I am Cy."

    agent_closes(engine.services, started.id, agent_id)
    # The goodbye first, then the thread goes back to the Page Inbox (no return_to_app_id).
    assert drain(engine) == ["message", "command"]
    assert engine.simulator.thread_owner(engine.page_id, psid) == PAGE_INBOX_APP_ID
    closed = current(engine, started)
    assert closed.thread_owner_app_id == PAGE_INBOX_APP_ID
    assert closed.thread_control is not None and closed.thread_control.status == "done"
    assert engine.tables.history(closed.id)[-1].text == (
        "The Messenger thread was passed to the Page Inbox.")
    texts = [m["message"]["text"] for m in engine.simulator.sent(page_id=engine.page_id,
                                                                 psid=psid)]
    assert texts == ["Hi, I am Cy.", "Thanks, bye."]


def test_a_refused_take_asks_for_the_thread_and_the_agents_message_fails_clearly(
        engine: Engine) -> None:
    agent_id, _ = engine.agent("Di")
    psid = new_id()
    engine.simulator.put_user(psid, engine.page_id)
    standby(engine, psid, "Hello bot")
    started = start_conversation(engine.services, agent_id, engine.page_id, psid=psid)
    drain(engine)
    asked = current(engine, started)
    assert asked.thread_control is not None
    assert (asked.thread_control.action, asked.thread_control.status) == ("request", "done")
    assert [r["path"].rsplit("/", 1)[-1] for r in engine.simulator.requests(
        page_id=engine.page_id, path_contains="thread_control")] == [
        "take_thread_control", "request_thread_control"]
    joined = [m for m in engine.tables.history(started.id) if m.author == "automated"]
    assert [(m.status, m.failure_reason) for m in joined] == [
        ("failed", "thread_owned_by_another_app")]
    assert "asked that app to pass it" in (engine.tables.history(started.id)[-1].text or "")

    # The bot passes it: the agent's conversation continues (no second routing).
    engine.simulator.thread_action(engine.page_id, psid, "pass", BOT, target_app_id=OURS)
    handover(engine, psid, "pass_thread_control", previous_owner_app_id=BOT,
             new_owner_app_id=OURS)
    after = current(engine, started)
    assert after.state == "active" and after.thread_owner_app_id == OURS


def test_a_failing_pass_is_retried_and_loses_nothing(engine: Engine) -> None:
    agent_id, _ = engine.agent("Ed")
    psid = new_id()
    engine.simulator.put_user(psid, engine.page_id)
    standby(engine, psid, "Still there?")
    engine.simulator.set_thread_owner(engine.page_id, psid, None)
    started = start_conversation(engine.services, agent_id, engine.page_id, psid=psid)
    drain(engine)
    engine.simulator.add_fault(operation="handover", kind="http_5xx", times=1)
    agent_closes(engine.services, started.id, agent_id)
    drain(engine)
    pending = current(engine, started)
    assert pending.state == "closed" and pending.thread_control is not None
    assert (pending.thread_control.status, pending.thread_control.attempts) == ("pending", 1)
    assert pending.thread_control.error is not None
    assert engine.simulator.thread_owner(engine.page_id, psid) == OURS  # not passed yet
    # The customer writes meanwhile: stored, a new conversation, nothing lost.
    engine.say(psid, "One more thing")
    assert engine.conversation_of(psid).id != started.id
    assert [m.text for m in engine.history(psid) if m.author == "customer"] == [
        "One more thing"]
