"""The conversation indexes on Azurite: the lists are answered from them, and they heal.

The self-healing tests run a flow once to count its table writes, then once per write with a
crash (a ``BaseException`` nothing catches) right after that write, then let the product do
what it does after a crash — the queue's redelivery, or the timer ``REPAIR_AFTER`` later —
and compare every index row with what the stored conversations say they should be.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from messenger_channel import metering
from messenger_channel.conversations.closing import agent_closes
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.inbound import handle_inbound
from messenger_channel.conversations.indexes import (
    REPAIR_AFTER,
    ConversationIndexes,
    DueEntry,
    live_places,
    permanent_places,
)
from messenger_channel.conversations.models import Conversation
from messenger_channel.conversations.timers import run_auto_close, run_distribute
from messenger_channel.errors import Conflict
from messenger_channel.services import Services
from messenger_channel.storage.tables import Table
from messenger_channel.workforce.agents import get_agent
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


class Crash(BaseException):
    """The process dies: nothing in the product catches this."""


# ``_replace`` is where ``replace`` and ``update`` write (a conditional replace).
WRITES = ("create", "upsert", "_replace", "delete", "transaction")


def crash_after(monkeypatch: pytest.MonkeyPatch, write: int) -> list[int]:
    """Every table write counts; the ``write``-th one happens, then the process 'dies'
    (0: never)."""
    done = [0]
    for name in WRITES:
        original = getattr(Table, name)

        def wrapper(self: Table[Any], *args: Any, _original: Any = original,
                    **kwargs: Any) -> Any:
            result = _original(self, *args, **kwargs)
            done[0] += 1
            if done[0] == write:
                raise Crash
            return result

        monkeypatch.setattr(Table, name, wrapper)
    return done


# ------------------------------------------------------------------------- what is stored


def _all(table: Table[Any]) -> list[Any]:
    found: list[Any] = []
    cursor = None
    while True:
        page = table.query("RowKey ne @none", {"none": "-"}, page_size=1000, continuation=cursor)
        found += page.items
        if page.next is None:
            return found
        cursor = page.next


def conversations(engine: Engine) -> list[Conversation]:
    return _all(engine.tables.conversations)


Row = tuple[str, str, str, str, str | None, str | None]


def index_rows(engine: Engine) -> set[Row]:
    indexes = ConversationIndexes(engine.services.tables)
    return {(name, row.partition, row.key, row.state, row.agent_id, row.queue_id)
            for name, table in indexes.tables.items() for row in _all(table)}


def expected_rows(engine: Engine) -> set[Row]:
    return {(place.table, place.partition, place.key, c.state, c.agent_id, c.queue_id)
            for c in conversations(engine)
            for place in live_places(c) | permanent_places(c)}


def due_rows(engine: Engine) -> list[DueEntry]:
    return _all(ConversationIndexes(engine.services.tables).due)


def assert_consistent(engine: Engine) -> None:
    assert index_rows(engine) == expected_rows(engine)
    due = due_rows(engine)
    assert [row for row in due if row.kind == "repair"] == []
    scheduled = {row.conversation_id for row in due}
    assert {c.id for c in conversations(engine) if c.state != "closed"} <= scheduled


def later(engine: Engine, seconds: float) -> None:
    clock = engine.services.clock
    clock.set_offset(clock.offset_seconds + seconds)


# ------------------------------------------------------------------------- the flows


def accept(engine: Engine, conversation_id: str, agent_id: str) -> Conversation:
    agent = get_agent(engine.services.tables, agent_id)
    assert agent is not None
    return Distributor(engine.services).accept(conversation_id, agent_id, agent)


class Flow:
    """``prepare`` sets the scene (no crash), ``act`` is the step that crashes, ``redo`` what
    the product does again after the crash when it is driven by a queue message."""

    DONE: tuple[str, str | None, str | None] = ("", None, None)  # state, offered, held

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.agent_id = ""
        self.psid = new_id()

    def prepare(self) -> None:
        self.engine.workstream(wrap_up={"minutes": 0})
        self.agent_id, _ = self.engine.agent()

    def act(self) -> None:
        raise NotImplementedError

    def redo(self) -> None:
        self.act()

    def outcome(self) -> tuple[str, list[str], str | None]:
        c = self.engine.conversation_of(self.psid)
        return c.state, c.offered_to, c.agent_id


class FirstMessage(Flow):
    def prepare(self) -> None:
        super().prepare()
        self.envelope = self.engine.message(self.psid, "Hello, my order is late")

    def act(self) -> None:
        handle_inbound(self.engine.services, self.envelope)

    DONE = ("offered", "agent", None)


class Accept(Flow):
    def prepare(self) -> None:
        super().prepare()
        self.engine.say(self.psid)

    def act(self) -> None:
        accept(self.engine, self.engine.conversation_of(self.psid).id, self.agent_id)

    DONE = ("active", None, "agent")


class Close(Accept):
    def prepare(self) -> None:
        super().prepare()
        super().act()

    def act(self) -> None:
        agent_closes(self.engine.services, self.engine.conversation_of(self.psid).id,
                     self.agent_id)

    DONE = ("closed", None, "agent")


class PassOn(Flow):
    def prepare(self) -> None:
        self.engine.workstream(offer_timeout_seconds=10)
        self.agent_id, _ = self.engine.agent("A")
        self.engine.agent("B")
        self.engine.say(self.psid)
        later(self.engine, 11)

    def act(self) -> None:
        run_distribute(self.engine.services)


FLOWS: dict[str, Callable[[Engine], Flow]] = {
    "first message": FirstMessage, "accept": Accept, "close": Close, "offer passes on": PassOn}


def writes_of(engine: Engine, monkeypatch: pytest.MonkeyPatch, flow: Flow) -> int:
    flow.prepare()
    done = crash_after(monkeypatch, 0)
    flow.act()
    monkeypatch.undo()
    assert_consistent(engine)
    return done[0]


# Each flow's table writes (the test below keeps the figures true); the crash tests crash
# after each of them.
# A departure row (what left an agent's list) is one of the close and offer-passing writes.
WRITES_OF = {"first message": 24, "accept": 9, "close": 9, "offer passes on": 9}


@pytest.mark.parametrize("name", FLOWS)
def test_each_flow_leaves_consistent_indexes_and_its_writes_are_counted(
        engine: Engine, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    writes = writes_of(engine, monkeypatch, FLOWS[name](engine))
    assert writes == WRITES_OF[name], "the flow changed: update WRITES_OF"


CASES = [(name, write) for name in FLOWS for write in range(1, WRITES_OF[name] + 1)]


def crashed(engine: Engine, monkeypatch: pytest.MonkeyPatch, name: str, write: int) -> Flow:
    """The flow, prepared, then acted until the crash after its ``write``-th write."""
    flow = FLOWS[name](engine)
    flow.prepare()
    crash_after(monkeypatch, write)
    with pytest.raises(Crash):
        flow.act()
    monkeypatch.undo()
    return flow


@pytest.mark.parametrize(("name", "write"), CASES, ids=[f"{n}-{w}" for n, w in CASES])
def test_a_crash_after_any_write_is_repaired_by_the_timer(
        engine: Engine, monkeypatch: pytest.MonkeyPatch, name: str, write: int) -> None:
    crashed(engine, monkeypatch, name, write)
    later(engine, REPAIR_AFTER.total_seconds() + 1)
    run_auto_close(engine.services)
    assert_consistent(engine)


@pytest.mark.parametrize(("name", "write"), [c for c in CASES if c[0] != "offer passes on"],
                         ids=[f"{n}-{w}" for n, w in CASES if n != "offer passes on"])
def test_a_crash_after_any_write_is_repaired_by_doing_it_again(
        engine: Engine, monkeypatch: pytest.MonkeyPatch, name: str, write: int) -> None:
    """The queue redelivers the event; an agent whose request failed tries again."""
    flow = crashed(engine, monkeypatch, name, write)
    with contextlib.suppress(Conflict):  # e.g. a close that went through: it is closed
        flow.redo()
    state, offered_to, agent_id = flow.outcome()
    expected_state, offered, held = flow.DONE
    assert state == expected_state
    assert offered_to == ([flow.agent_id] if offered else [])
    assert agent_id == (flow.agent_id if held else None)
    # What the redo could not know (a stale row elsewhere) the timer's repair row finds.
    later(engine, REPAIR_AFTER.total_seconds() + 1)
    run_auto_close(engine.services)
    assert_consistent(engine)


# ------------------------------------------------------------------------- the questions


def test_the_inbox_comes_from_the_index_with_names_and_previews_and_no_read_per_item(
        engine: Engine) -> None:
    engine.workstream()
    agent_id, _ = engine.agent()
    for text in ("First customer", "Second customer", "Third customer"):
        engine.say(new_id(), text)
    indexes = ConversationIndexes(engine.services.tables)
    agent = get_agent(engine.services.tables, agent_id)
    assert agent is not None
    with metering.measure() as used:
        rows = indexes.of_agent(agent_id, agent.queue_ids)
    assert sorted(row.last_message_preview or "" for row in rows) == [
        "First customer", "Second customer", "Third customer"]
    assert all(row.customer_name for row in rows)
    # One range read of the agent's partition and one of the queue's: no point reads.
    assert used.counts.get("table.read", 0) == 0
    assert used.counts["table.query"] == 2


def test_since_reads_nothing_new_when_nothing_changed(engine: Engine) -> None:
    engine.workstream()
    agent_id, _ = engine.agent()
    psid = new_id()
    engine.say(psid)
    indexes = ConversationIndexes(engine.services.tables)
    later_than_all = engine.services.clock.now()
    assert indexes.of_agent(agent_id, [engine.queue_id], later_than_all) == []
    later(engine, 1)
    engine.say(psid, "again")
    changed = indexes.of_agent(agent_id, [engine.queue_id], later_than_all)
    assert [row.last_message_preview for row in changed] == ["again"]


def test_position_in_queue_counts_who_waits_ahead(engine: Engine) -> None:
    engine.workstream()
    engine.agent(presence="offline")
    psids = [new_id() for _ in range(3)]
    for psid in psids:
        engine.say(psid)
        later(engine, 1)
    indexes = ConversationIndexes(engine.services.tables)
    assert [indexes.position_in_queue(engine.conversation_of(p)) for p in psids] == [1, 2, 3]


def test_a_customer_history_is_newest_first(engine: Engine) -> None:
    engine.workstream(wrap_up={"minutes": 0})
    agent_id, _ = engine.agent()
    psid = new_id()
    opened = []
    for _ in range(3):
        engine.say(psid)
        conversation = engine.conversation_of(psid)
        opened.append(conversation.id)
        accept(engine, conversation.id, agent_id)
        agent_closes(engine.services, conversation.id, agent_id)
        later(engine, 60)
    rows = ConversationIndexes(engine.services.tables).of_customer(engine.page_id, psid)
    assert [row.conversation_id for row in rows] == opened[::-1]
    assert {row.state for row in rows} == {"closed"}


def test_by_day_filters_by_queue_agent_and_state(engine: Engine) -> None:
    engine.workstream(wrap_up={"minutes": 0})
    agent_id, _ = engine.agent()
    held, waiting = new_id(), new_id()
    engine.say(held)
    accept(engine, engine.conversation_of(held).id, agent_id)
    engine.say(waiting)
    indexes = ConversationIndexes(engine.services.tables)
    today = engine.services.clock.now().date()
    assert len(indexes.of_day(today)) == 2
    assert [r.psid for r in indexes.of_day(today, agent_id=agent_id)] == [held]
    assert [r.psid for r in indexes.of_day(today, state="offered")] == [waiting]
    assert len(indexes.of_day(today, queue_id=engine.queue_id)) == 2
    assert indexes.of_day(today - timedelta(days=1)) == []


def test_an_active_conversation_is_rescheduled_not_closed_and_closes_when_idle(
        engine: Engine) -> None:
    engine.workstream(auto_close_after_minutes=60, wrap_up={"minutes": 0})
    agent_id, _ = engine.agent()
    psid = new_id()
    engine.say(psid)
    accept(engine, engine.conversation_of(psid).id, agent_id)
    later(engine, 50 * 60)
    engine.say(psid, "still here")  # activity: its inactivity now ends at 110 min
    later(engine, 11 * 60)  # 61 min: the first due row comes due
    assert run_auto_close(engine.services) == 0
    assert engine.conversation_of(psid).state == "active"
    assert [row.kind for row in due_rows(engine)] == ["due"]
    later(engine, 50 * 60)  # 111 min
    assert run_auto_close(engine.services) == 1
    assert engine.conversation_of(psid).state == "closed"
    assert due_rows(engine) == []
    assert_consistent(engine)


def test_the_timer_reads_only_what_is_due(engine: Engine) -> None:
    engine.workstream()
    engine.agent(presence="offline")
    for _ in range(5):
        engine.say(new_id())
    with metering.measure() as used:
        assert run_auto_close(engine.services) == 0
    # Eight shards' range reads, nothing due: no conversation read.
    assert used.counts.get("table.read{table=Conversations}", 0) == 0
