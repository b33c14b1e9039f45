"""Work distribution on Azurite: assignment methods, affinity, offer timeouts, pick mode,
capacity under concurrency, waking waiting conversations, auto-close."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from messenger_channel import metering
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.inbound import handle_inbound
from messenger_channel.conversations.timers import run_auto_close, run_distribute
from messenger_channel.errors import Conflict
from messenger_channel.services import Services
from messenger_channel.workforce.agents import Agents, get_agent
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


def accept(engine: Engine, conversation_id: str, agent_id: str) -> None:
    agent = get_agent(engine.services.tables, agent_id)
    assert agent is not None
    Distributor(engine.services).accept(conversation_id, agent_id, agent)


def test_highest_capacity_offers_to_the_agent_with_most_free_capacity(engine: Engine) -> None:
    engine.workstream()
    engine.agent("Small", capacity=20)
    big, _ = engine.agent("Big", capacity=50)
    psid = new_id()
    engine.say(psid)
    assert engine.conversation_of(psid).offered_to == [big]


def test_round_robin_takes_turns(engine: Engine) -> None:
    engine.workstream(assignment_method="round_robin")
    agents = {engine.agent(name)[0] for name in ("A", "B", "C")}
    offered = []
    for _ in range(3):
        psid = new_id()
        engine.say(psid)
        offered.extend(engine.conversation_of(psid).offered_to)
    assert set(offered) == agents


def test_most_idle_prefers_the_agent_assigned_longest_ago(engine: Engine) -> None:
    engine.workstream(assignment_method="most_idle")
    busy, _ = engine.agent("Busy")
    first = new_id()
    engine.say(first)
    conversation = engine.conversation_of(first)
    assert conversation.offered_to == [busy]
    accept(engine, conversation.id, busy)
    idle, _ = engine.agent("Idle")
    second = new_id()
    engine.say(second)
    assert engine.conversation_of(second).offered_to == [idle]


def test_ineligible_agents_are_never_offered(engine: Engine) -> None:
    engine.workstream(capacity_per_conversation=30)
    other_queue = engine.queue("Other")
    engine.agent("Away", presence="away")
    engine.agent("Elsewhere", queues=[other_queue])
    engine.agent("Full", capacity=20)
    psid = new_id()
    engine.say(psid)
    assert engine.conversation_of(psid).state == "waiting"


def test_offer_times_out_to_the_next_agent_then_back_when_alone(engine: Engine) -> None:
    engine.workstream(offer_timeout_seconds=30)
    first, _ = engine.agent("First", capacity=50)
    second, _ = engine.agent("Second", capacity=40)
    psid = new_id()
    engine.say(psid)
    conversation = engine.conversation_of(psid)
    assert conversation.offered_to == [first]
    engine.services.clock.set_offset(31)
    run_distribute(engine.services)
    conversation = engine.conversation_of(psid)
    assert conversation.offered_to == [second] and conversation.state == "offered"
    # The first agent's reservation went with the offer.
    first_load = engine.tables.loads.get("load", first)
    assert first_load is not None and first_load.reservations == {}
    with pytest.raises(Conflict) as refused:
        accept(engine, conversation.id, first)
    assert refused.value.code == "offer_expired"
    # Alone: the second agent goes offline; it comes back to the first.
    Agents(engine.services.tables).update(second, {"presence": "offline"})
    engine.services.clock.set_offset(62)
    run_distribute(engine.services)
    assert engine.conversation_of(psid).offered_to == [first]
    Agents(engine.services.tables).update(second, {"presence": "available"})
    Agents(engine.services.tables).update(first, {"presence": "offline"})
    engine.services.clock.set_offset(93)
    run_distribute(engine.services)
    assert engine.conversation_of(psid).offered_to == [second]
    Agents(engine.services.tables).update(second, {"presence": "offline"})
    engine.services.clock.set_offset(124)
    run_distribute(engine.services)
    conversation = engine.conversation_of(psid)
    # Nobody eligible: waiting again (and offered as soon as someone is).
    assert conversation.state == "waiting" and conversation.offered_to == []


def test_offer_goes_back_to_the_same_agent_when_no_other(engine: Engine) -> None:
    engine.workstream(offer_timeout_seconds=10)
    only, _ = engine.agent()
    psid = new_id()
    engine.say(psid)
    engine.services.clock.set_offset(11)
    run_distribute(engine.services)
    conversation = engine.conversation_of(psid)
    assert conversation.offered_to == [only] and conversation.offers_made == 2
    accept(engine, conversation.id, only)
    assert engine.conversation_of(psid).state == "active"


def test_returning_customer_is_offered_to_their_last_agent(engine: Engine) -> None:
    engine.workstream(auto_close_after_minutes=5)
    engine.agent("A", capacity=50)
    engine.agent("B", capacity=50)
    psid = new_id()
    engine.say(psid)
    first = engine.conversation_of(psid)
    [holder] = first.offered_to
    accept(engine, first.id, holder)
    engine.services.clock.set_offset(6 * 60)
    assert run_auto_close(engine.services) == 1
    engine.say(psid, "back again")
    second = engine.conversation_of(psid)
    assert second.id != first.id and second.offered_to == [holder]


def test_auto_close_ends_inactive_conversations_and_frees_capacity(engine: Engine) -> None:
    engine.workstream(auto_close_after_minutes=5, automated_messages={
        "session_ended": {"en-US": "Bye!"}})
    agent_id, _ = engine.agent(capacity=10)
    psid, other = new_id(), new_id()
    engine.say(psid)
    engine.say(other)
    assert engine.conversation_of(other).state == "waiting"  # the agent is full
    accept(engine, engine.conversation_of(psid).id, agent_id)
    engine.services.clock.set_offset(4 * 60)
    assert run_auto_close(engine.services) == 0
    engine.services.clock.set_offset(5 * 60 + 1)
    run_auto_close(engine.services)
    closed = engine.conversation_of(psid)
    assert closed.state == "closed"
    assert [m.text for m in engine.history(psid) if m.trigger == "session_ended"] == ["Bye!"]
    contact = engine.tables.contacts.get(engine.page_id, psid)
    assert contact is not None and contact.open_conversation_id is None
    # The freed capacity went to the one who was waiting... which timed out too: both closed.
    assert engine.conversation_of(other).state == "closed"


def test_freed_capacity_goes_to_the_oldest_waiting(engine: Engine) -> None:
    engine.workstream(auto_close_after_minutes=5)
    agent_id, _ = engine.agent(capacity=10)
    first, second, third = new_id(), new_id(), new_id()
    engine.say(first)
    accept(engine, engine.conversation_of(first).id, agent_id)
    engine.services.clock.set_offset(60)
    engine.say(second)
    engine.services.clock.set_offset(120)
    engine.say(third)
    engine.services.clock.set_offset(5 * 60 + 1)  # only the first is idle long enough
    run_auto_close(engine.services)
    assert engine.conversation_of(second).offered_to == [agent_id]
    assert engine.conversation_of(third).state == "waiting"


def test_pick_mode_offers_to_every_eligible_agent_first_accept_wins(engine: Engine) -> None:
    engine.workstream(distribution_mode="pick")
    agents = [engine.agent(f"Agent {i}")[0] for i in range(20)]
    engine.agent("Away", presence="away")
    psid = new_id()
    engine.say(psid)
    conversation = engine.conversation_of(psid)
    assert conversation.state == "offered" and sorted(conversation.offered_to) == sorted(agents)
    results: list[str] = []
    start = threading.Barrier(20)

    def race(agent_id: str) -> None:
        start.wait()
        try:
            accept(engine, conversation.id, agent_id)
            results.append("won")
        except Conflict as refused:
            results.append(refused.code)

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(race, agents))
    assert results.count("won") == 1
    assert set(results) - {"won"} <= {"already_assigned", "offer_expired"}
    winner = engine.conversation_of(psid).agent_id
    loads = {a: engine.tables.loads.get("load", a) for a in agents}
    assert [a for a, load in loads.items() if load and load.reservations] == [winner]


def test_capacity_is_never_exceeded_under_concurrent_distribution(engine: Engine) -> None:
    engine.workstream(capacity_per_conversation=10)
    agents = [engine.agent(f"Agent {i}", capacity=25)[0] for i in range(3)]
    customers = [new_id() for _ in range(12)]
    envelopes = [engine.message(psid, "Hi") for psid in customers]
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda e: handle_inbound(engine.services, e), envelopes))
    with ThreadPoolExecutor(4) as pool:  # sweeps racing each other as well
        list(pool.map(lambda _: run_distribute(engine.services), range(4)))
    conversations = [engine.conversation_of(psid) for psid in customers]
    offered = [c for c in conversations if c.state == "offered"]
    assert len(offered) == 6  # 2 per agent: 3 x 10 would exceed 25
    for agent_id in agents:
        load = engine.tables.loads.get("load", agent_id)
        assert load is not None and load.used <= 25
        assert sum(agent_id in c.offered_to for c in conversations) == 2
    assert {c.state for c in conversations} == {"offered", "waiting"}


def test_the_sweep_frees_capacity_stranded_by_interrupted_work_and_keeps_what_is_held(
        engine: Engine) -> None:
    engine.workstream()
    agent_id, _ = engine.agent(capacity=30)
    held = new_id()
    engine.say(held)
    conversation = engine.conversation_of(held)
    accept(engine, conversation.id, agent_id)
    agent = get_agent(engine.services.tables, agent_id)
    assert agent is not None
    # An offer interrupted after its reservation: nothing holds "cv_lost".
    assert Distributor(engine.services).reserve(agent, "cv_lost", 10)
    engine.services.clock.set_offset(3 * 60)
    with metering.measure() as used:
        run_distribute(engine.services)
    load = engine.tables.loads.get("load", agent_id)
    assert load is not None and set(load.reservations) == {conversation.id}
    # The held one is confirmed by the agent's index row; only the stranded one is read.
    conversation_reads = sum(count for name, count in used.counts.items()
                             if name.startswith("table.read{table=")
                             and name.endswith("Conversations}"))
    assert (conversation_reads, used.counts["table.read_missing"]) == (1, 1)
