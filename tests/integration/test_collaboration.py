"""Agents working together, on Azurite: transfer (to a queue, to an agent, under races),
consultation, notes, labels, retry of a failed message, and the automated messages they
fire (``next_in_line``, ``agent_disconnected``, ``agent_joined``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from messenger_channel.conversations.closing import agent_closes
from messenger_channel.conversations.consult import end_consult, start_consult
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.indexes import ByDay, day_partition
from messenger_channel.conversations.labels import set_labels
from messenger_channel.conversations.models import Conversation, Message
from messenger_channel.conversations.notes import add_note
from messenger_channel.conversations.participants import role_of
from messenger_channel.conversations.presence import presence_changed
from messenger_channel.conversations.replies import agent_reply
from messenger_channel.conversations.resend import resend
from messenger_channel.conversations.transfer import accepted_trigger, transfer
from messenger_channel.errors import Conflict, Forbidden, Invalid, Missing, Refusal
from messenger_channel.services import Services
from messenger_channel.workforce.agents import Agents, get_agent
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


def accept(engine: Engine, conversation_id: str, agent_id: str) -> Conversation:
    agent = get_agent(engine.services.tables, agent_id)
    assert agent is not None
    return Distributor(engine.services).accept(conversation_id, agent_id, agent)


def held(engine: Engine, **workstream: Any) -> tuple[Conversation, str]:
    """An active conversation held by a first agent (returned with its id)."""
    engine.workstream(**workstream)
    owner, _ = engine.agent("Ann")
    psid = new_id()
    engine.say(psid, "Hi")
    conversation = accept(engine, engine.conversation_of(psid).id, owner)
    engine.outbound()  # what was sent so far is not the test's business
    return conversation, owner


def reservations(engine: Engine, agent_id: str) -> set[str]:
    load = engine.tables.loads.get("load", agent_id)
    return set() if load is None else set(load.reservations)


def inbox(engine: Engine, agent_id: str) -> set[str]:
    return {row.conversation_id
            for row in Distributor(engine.services).store.indexes.of_agent(agent_id, [])}


def internal(engine: Engine, conversation_id: str) -> list[Message]:
    return [m for m in engine.tables.history(conversation_id) if m.visibility == "internal"]


# --------------------------------------------------------------------------- transfer


def test_transfer_to_a_queue_leaves_the_owner_and_is_offered_there(engine: Engine) -> None:
    conversation, owner = held(engine)
    billing = engine.queue("Billing")
    colleague, _ = engine.agent("Bo", queues=[billing])
    moved = transfer(engine.services, conversation.id, owner, queue_id=billing,
                     note="Asks about invoice 42")
    assert moved.agent_id is None and moved.queue_id == billing and moved.transfers == 1
    now = engine.tables.conversation(conversation.id)
    assert now is not None and now.state == "offered" and now.offered_to == [colleague]
    assert reservations(engine, owner) == set()
    assert reservations(engine, colleague) == {conversation.id}
    assert conversation.id not in inbox(engine, owner)
    assert conversation.id in inbox(engine, colleague)
    lines = internal(engine, conversation.id)
    assert [(m.author, m.text) for m in lines] == [
        ("system", "Ann transferred the conversation to queue Billing."),
        ("agent", "Asks about invoice 42")]
    assert lines[1].agent_id == owner
    accepted = accept(engine, conversation.id, colleague)
    assert accepted_trigger(accepted) == "transfer_accepted"
    assert engine.outbound() == []  # the note and the system line are never queued


def test_transfer_to_a_named_agent_offers_it_to_them_alone(engine: Engine) -> None:
    conversation, owner = held(engine, offer_timeout_seconds=90)
    other = engine.queue("Other")
    named, _ = engine.agent("Bo", queues=[other])
    engine.agent("Cy")  # in the conversation's queue, but not named
    moved = transfer(engine.services, conversation.id, owner, to_agent_id=named)
    assert (moved.state, moved.offered_to) == ("offered", [named])
    assert moved.offer_expires_at == moved.offered_at + timedelta(seconds=90)  # type: ignore
    assert reservations(engine, named) == {conversation.id}
    assert reservations(engine, owner) == set()
    assert role_of(moved, named) == "offered" and role_of(moved, owner) is None
    assert accept(engine, conversation.id, named).agent_id == named


@pytest.mark.parametrize(("presence", "capacity", "code"), [
    ("offline", 100, "agent_unavailable"), ("available", 5, "no_capacity")])
def test_a_named_agent_who_cannot_take_it_is_refused_and_nothing_changes(
        engine: Engine, presence: str, capacity: int, code: str) -> None:
    conversation, owner = held(engine)
    named, _ = engine.agent("Bo", presence=presence, capacity=capacity)
    with pytest.raises(Conflict) as refused:
        transfer(engine.services, conversation.id, owner, to_agent_id=named)
    assert refused.value.code == code
    after = engine.tables.conversation(conversation.id)
    assert after is not None and (after.state, after.agent_id) == ("active", owner)
    assert reservations(engine, owner) == {conversation.id}
    assert reservations(engine, named) == set()


def test_transfer_refusals(engine: Engine) -> None:
    conversation, owner = held(engine)
    stranger, _ = engine.agent("Stranger")
    with pytest.raises(Missing):  # not theirs: as if it did not exist
        transfer(engine.services, conversation.id, stranger, queue_id=engine.queue_id)
    with pytest.raises(Missing):
        transfer(engine.services, conversation.id, owner, queue_id="q_unknown")
    with pytest.raises(Missing):
        transfer(engine.services, conversation.id, owner, to_agent_id="ag_unknown")
    with pytest.raises(Missing):
        transfer(engine.services, "cv_\x7f", owner, queue_id=engine.queue_id)
    with pytest.raises(Invalid):
        transfer(engine.services, conversation.id, owner, to_agent_id=owner)
    start_consult(engine.services, conversation.id, owner, stranger)
    with pytest.raises(Forbidden):
        transfer(engine.services, conversation.id, stranger, queue_id=engine.queue_id)


def outcome(call: Callable[[], object]) -> str:
    try:
        call()
    except Refusal as refusal:
        return refusal.code
    return "done"


@pytest.mark.parametrize("attempt", range(4))
def test_two_transfers_at_once_one_applies_and_capacity_follows_it(engine: Engine,
                                                                    attempt: int) -> None:
    conversation, owner = held(engine)
    other = engine.queue("Other")
    named, _ = engine.agent("Bo", queues=[other])
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(outcome, [
            lambda: transfer(engine.services, conversation.id, owner, queue_id=other),
            lambda: transfer(engine.services, conversation.id, owner, to_agent_id=named)]))
    assert results.count("done") == 1, results
    assert set(results) - {"done"} <= {"conversation_changed", "not_found"}
    after = engine.tables.conversation(conversation.id)
    assert after is not None and after.transfers == 1 and after.agent_id is None
    assert reservations(engine, owner) == set()
    # Whoever it is offered to holds its capacity; nobody else does.
    assert reservations(engine, named) == ({conversation.id}
                                           if named in after.offered_to else set())
    assert len([m for m in internal(engine, conversation.id) if m.author == "system"]) == 1


@pytest.mark.parametrize("attempt", range(4))
def test_a_transfer_racing_a_close_leaves_one_consistent_outcome(engine: Engine,
                                                                  attempt: int) -> None:
    conversation, owner = held(engine)
    named, _ = engine.agent("Bo")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(outcome, [
            lambda: agent_closes(engine.services, conversation.id, owner),
            lambda: transfer(engine.services, conversation.id, owner, to_agent_id=named)]))
    after = engine.tables.conversation(conversation.id)
    assert after is not None
    assert "done" in results, results
    assert reservations(engine, owner) == set()
    if after.state == "closed":
        assert reservations(engine, named) == set()
    else:
        assert (after.state, after.offered_to) == ("offered", [named])
        assert reservations(engine, named) == {conversation.id}


def test_a_transfer_racing_the_new_agents_accept(engine: Engine) -> None:
    """The named agent accepts while the former owner tries to transfer it again: the second
    transfer is refused (it is no longer theirs), the accept stands."""
    conversation, owner = held(engine)
    named, _ = engine.agent("Bo")
    third, _ = engine.agent("Cy")
    transfer(engine.services, conversation.id, owner, to_agent_id=named)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(outcome, [
            lambda: accept(engine, conversation.id, named),
            lambda: transfer(engine.services, conversation.id, owner, to_agent_id=third)]))
    assert results == ["done", "not_found"]
    assert reservations(engine, third) == set()
    assert reservations(engine, named) == {conversation.id}


# --------------------------------------------------------------------------- consultation


def test_a_consultant_reads_and_writes_notes_but_never_to_the_customer(engine: Engine) -> None:
    conversation, owner = held(engine)
    helper, _ = engine.agent("Helper")
    consulted = start_consult(engine.services, conversation.id, owner, helper)
    assert role_of(consulted, helper) == "consultant" and helper in consulted.consultants
    assert conversation.id in inbox(engine, helper)
    assert reservations(engine, helper) == set()  # a consultation costs no capacity
    assert reservations(engine, owner) == {conversation.id}
    add_note(engine.services, conversation.id, helper, "Refund is allowed up to 30 days")
    with pytest.raises(Forbidden):
        agent_reply(engine.services, conversation.id, helper, "Hi from the helper", [])
    with pytest.raises(Forbidden):
        resend(engine.services, conversation.id, helper, "m-anything")
    assert engine.outbound() == []
    assert [m.text for m in internal(engine, conversation.id)] == [
        "Ann asked Helper to consult.", "Refund is allowed up to 30 days"]
    # The consultant leaves; the owner could have ended it as well.
    end_consult(engine.services, conversation.id, helper, helper)
    assert conversation.id not in inbox(engine, helper)
    with pytest.raises(Missing):
        add_note(engine.services, conversation.id, helper, "too late")


def test_consultation_ends_with_the_close_and_with_a_transfer(engine: Engine) -> None:
    conversation, owner = held(engine)
    helper, _ = engine.agent("Helper")
    start_consult(engine.services, conversation.id, owner, helper)
    transfer(engine.services, conversation.id, owner, queue_id=engine.queue_id)
    after = engine.tables.conversation(conversation.id)
    assert after is not None and after.consultants == {}
    assert conversation.id not in inbox(engine, helper) or role_of(after, helper) == "offered"


def test_consult_refusals(engine: Engine) -> None:
    conversation, owner = held(engine)
    away, _ = engine.agent("Away", presence="offline")
    helper, _ = engine.agent("Helper")
    with pytest.raises(Conflict) as refused:
        start_consult(engine.services, conversation.id, owner, away)
    assert refused.value.code == "agent_unavailable"
    with pytest.raises(Missing):
        start_consult(engine.services, conversation.id, owner, "ag_unknown")
    with pytest.raises(Missing):
        start_consult(engine.services, conversation.id, helper, owner)  # not theirs
    start_consult(engine.services, conversation.id, owner, helper)
    with pytest.raises(Forbidden):
        start_consult(engine.services, conversation.id, helper, away)
    with pytest.raises(Missing):
        end_consult(engine.services, conversation.id, owner, away)  # not consulting


# --------------------------------------------------------------------------- labels, notes


def test_labels_are_kept_once_in_order_and_carried_by_the_day_rows(engine: Engine) -> None:
    conversation, owner = held(engine)
    labelled = set_labels(engine.services, conversation.id, owner, ["vip", "refund", "vip"])
    assert labelled.labels == ["vip", "refund"]
    day = Distributor(engine.services).store.indexes.tables[ByDay].get(
        day_partition(conversation.created_at),
        f"{int(conversation.created_at.timestamp() * 1000):013d}|{conversation.id}")
    assert day is not None and day.labels == ["vip", "refund"]
    stranger, _ = engine.agent("Stranger")
    with pytest.raises(Missing):
        set_labels(engine.services, conversation.id, stranger, ["x"])


def test_a_note_needs_text(engine: Engine) -> None:
    conversation, owner = held(engine)
    with pytest.raises(Invalid):
        add_note(engine.services, conversation.id, owner, "   ")


# --------------------------------------------------------------------------- retry


def failed_reply(engine: Engine, conversation: Conversation, owner: str) -> Message:
    made = agent_reply(engine.services, conversation.id, owner, "Your refund is on its way", [])
    engine.outbound()
    return engine.tables.messages.update(conversation.id, made[0].id, lambda m: m.model_copy(
        update={"status": "failed", "failure_reason": "facebook_error"}))


def test_retry_queues_the_same_row_again_under_a_new_queue_id(engine: Engine) -> None:
    conversation, owner = held(engine)
    row = failed_reply(engine, conversation, owner)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(outcome, [
            lambda: resend(engine.services, conversation.id, owner, row.id)] * 3))
    assert results.count("done") == 1 and set(results) - {"done"} == {"not_failed"}
    after = engine.tables.messages.get(conversation.id, row.id)
    assert after is not None and (after.status, after.resends, after.enqueued) == (
        "queued", 1, True)
    queued = engine.outbound()
    assert [(m.message_id, m.resend, m.text) for m in queued] == [
        (row.send_id, 1, "Your refund is on its way")]
    assert queued[0].queue_message().message_id.endswith("~r1")


def test_retry_is_refused_while_the_failure_still_holds(engine: Engine) -> None:
    conversation, owner = held(engine)
    row = failed_reply(engine, conversation, owner)
    engine.services.clock.set_offset(timedelta(hours=25).total_seconds())
    with pytest.raises(Conflict) as refused:
        resend(engine.services, conversation.id, owner, row.id)
    assert refused.value.code == "outside_messaging_window"
    after = engine.tables.messages.get(conversation.id, row.id)
    assert after is not None and after.status == "failed"
    with pytest.raises(Missing):
        resend(engine.services, conversation.id, owner, "m-0000000000000-unknown")


# --------------------------------------------------------------------------- triggers


def test_next_in_line_goes_to_the_first_waiting_customer_once(engine: Engine) -> None:
    engine.workstream(automated_messages={
        "next_in_line": {"en-US": "You are next in {QueueName}."}})
    first, second = new_id(), new_id()
    engine.say(first, "Hi")
    engine.say(second, "Hi")
    engine.outbound()
    Distributor(engine.services).sweep()
    Distributor(engine.services).sweep()  # once per conversation
    told = [m for m in engine.outbound() if m.trigger == "next_in_line"]
    assert [(m.psid, m.text) for m in told] == [(first, "You are next in General.")]
    engine.agent("Ann", capacity=10)  # room for the first customer alone
    Distributor(engine.services).sweep()  # the first is offered: the second is next
    assert engine.conversation_of(first).state == "offered"
    assert [m.psid for m in engine.outbound() if m.trigger == "next_in_line"] == [second]


def test_an_agent_going_offline_and_back_tells_their_customers(engine: Engine) -> None:
    conversation, owner = held(engine, automated_messages={
        "agent_disconnected": {"en-US": "{AgentName} lost the connection."},
        "agent_joined": {"en-US": "{AgentName} is back."}})
    agents = Agents(engine.services.tables, engine.services.clock)
    before, after = agents.update(owner, {"presence": "offline"})
    presence_changed(engine.services, after, before.presence)
    engine.services.clock.set_offset(1)
    before, after = agents.update(owner, {"presence": "available"})
    presence_changed(engine.services, after, before.presence)
    sent = [(m.trigger, m.text) for m in engine.outbound()]
    assert sent == [("agent_disconnected", "Ann lost the connection."),
                    ("agent_joined", "Ann is back.")]
    assert conversation.id in inbox(engine, owner)
