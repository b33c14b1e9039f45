"""Report digests on Azurite: a past day is read from its digest once built, a change of one
of its conversations (a late rating, a close) is seen by the next report, a change racing the
build is never hidden, a damaged digest is rebuilt, and today is always read from its rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from messenger_channel import metering
from messenger_channel.conversations import report_days
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.indexes import ConversationEntry
from messenger_channel.conversations.models import Conversation, Csat
from messenger_channel.conversations.replies import agent_reply
from messenger_channel.conversations.report_days import (
    GENERATION,
    ReportDays,
)
from messenger_channel.conversations.reports import Fact, report
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.services import Services
from messenger_channel.workforce.agents import get_agent
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id

DAY = 24 * 3600


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


def answered_days_ago(engine: Engine, agent_id: str, days: int) -> str:
    """A conversation created ``days`` ago: assigned 30 s later, answered 10 s after that."""
    clock = engine.services.clock
    clock.set_offset(-days * DAY)
    psid = new_id()
    engine.say(psid, "Hi")
    conversation_id = engine.conversation_of(psid).id
    clock.set_offset(-days * DAY + 30)
    agent = get_agent(engine.services.tables, agent_id)
    assert agent is not None
    Distributor(engine.services).accept(conversation_id, agent_id, agent)
    clock.set_offset(-days * DAY + 40)
    agent_reply(engine.services, conversation_id, agent_id, "Hello", [])
    clock.set_offset(0)
    return conversation_id


def by_day_rows_read(work: metering.Measurement) -> float:
    return sum(amount for name, amount in work.counts.items()
               if name.startswith("table.rows{table=") and "ConversationsByDay" in name
               and "," not in name)


def rate(engine: Engine, conversation_id: str, score: int) -> None:
    def rated(conversation: Conversation) -> Conversation:
        return conversation.model_copy(update={"csat": Csat(
            score=score, comment=None, at=engine.services.clock.now())})

    ConversationStore(engine.services.tables, engine.services.clock).touch(conversation_id,
                                                                          rated)


def test_a_past_day_is_read_from_its_digest_until_one_of_its_conversations_changes(
        engine: Engine) -> None:
    engine.workstream()
    ann, _ = engine.agent("Ann")
    first = answered_days_ago(engine, ann, 2)
    answered_days_ago(engine, ann, 2)
    days = ReportDays(engine.services.tables, engine.services.clock)
    today = engine.services.clock.now().date()
    start = today - timedelta(days=2)

    with metering.measure() as cold:
        built = days.facts(start, today)
    with metering.measure() as warm:
        again = days.facts(start, today)
    assert sorted(map(repr, again)) == sorted(map(repr, built)) and len(built) == 2
    assert by_day_rows_read(cold) == 2  # the day's two rows, once
    assert by_day_rows_read(warm) == 0  # from the digest

    rate(engine, first, 5)  # a late rating, after the day was digested
    [row] = report(days.facts(start, today), "day")
    assert (row.csat_responses, row.csat_average) == (1, 5.0)
    assert row.median_wait_seconds is not None and 29 <= row.median_wait_seconds <= 31
    assert row.median_first_response_seconds is not None
    assert 9 <= row.median_first_response_seconds <= 11


def test_today_and_a_day_just_over_are_read_from_their_rows(engine: Engine) -> None:
    engine.workstream()
    ann, _ = engine.agent("Ann")
    answered_days_ago(engine, ann, 0)
    clock = engine.services.clock
    days = ReportDays(engine.services.tables, clock)
    today = clock.now().date()
    assert [fact.agent for fact in days.facts(today, today)] == [ann]
    assert days.rows.list_partition(today.isoformat()) == []
    midnight = datetime.combine(today + timedelta(days=1), time(), UTC)
    for after_midnight, settled in ((timedelta(minutes=9), False),
                                    (timedelta(minutes=11), True)):
        clock.set_offset((midnight + after_midnight - datetime.now(UTC)).total_seconds())
        assert days.settled(today) is settled


def test_a_change_racing_the_build_is_seen_by_the_next_report(engine: Engine) -> None:
    engine.workstream()
    ann, _ = engine.agent("Ann")
    conversation_id = answered_days_ago(engine, ann, 3)
    days = ReportDays(engine.services.tables, engine.services.clock)
    day = engine.services.clock.now().date() - timedelta(days=3)
    read_rows = days.indexes.of_day

    def rows_then_a_rating(wanted: date, **filters: Any) -> list[ConversationEntry]:
        rows = read_rows(wanted, **filters)
        rate(engine, conversation_id, 2)  # lands after the rows were read
        return rows

    days.indexes.of_day = rows_then_a_rating  # type: ignore[method-assign, assignment]
    [stale] = days.of_day(day)
    assert stale.rating is None
    days.indexes.of_day = read_rows  # type: ignore[method-assign]
    [fresh] = days.of_day(day)
    assert fresh.rating == 2
    [kept] = days.of_day(day)  # now kept with the new generation
    assert kept.rating == 2


def test_a_damaged_digest_is_rebuilt(engine: Engine) -> None:
    engine.workstream()
    ann, _ = engine.agent("Ann")
    answered_days_ago(engine, ann, 2)
    days = ReportDays(engine.services.tables, engine.services.clock)
    day = engine.services.clock.now().date() - timedelta(days=2)
    [built] = days.of_day(day)
    [chunk] = [row for row in days.rows.list_partition(day.isoformat())
               if row.key != GENERATION]
    days.rows.upsert(chunk.model_copy(update={"facts": "not a digest"}))
    assert days.of_day(day) == [built]
    [chunk] = [row for row in days.rows.list_partition(day.isoformat())
               if row.key != GENERATION]
    assert chunk.facts != "not a digest"
    assert days.of_day(day) == [built]


def test_a_close_on_a_later_day_replaces_the_generation(engine: Engine) -> None:
    engine.workstream()
    ann, _ = engine.agent("Ann")
    conversation_id = answered_days_ago(engine, ann, 1)
    days = ReportDays(engine.services.tables, engine.services.clock)
    day = engine.services.clock.now().date() - timedelta(days=1)
    before = days.rows.get(day.isoformat(), GENERATION)

    def closed(conversation: Conversation) -> Conversation:
        return conversation.model_copy(update={
            "state": "closed", "closed_at": engine.services.clock.now()})

    ConversationStore(engine.services.tables, engine.services.clock).transition(
        conversation_id, closed)
    after = days.rows.get(day.isoformat(), GENERATION)
    assert after is not None and after != before
    facts: list[Fact] = days.facts(day, day)
    assert [fact.closed for fact in facts] == [True]


def test_a_day_too_big_for_one_transaction_is_read_from_its_rows(
        engine: Engine, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    engine.workstream()
    ann, _ = engine.agent("Ann")
    answered_days_ago(engine, ann, 2)
    monkeypatch.setattr(report_days, "MAX_CHUNKS", 0)
    days = ReportDays(engine.services.tables, engine.services.clock)
    day = engine.services.clock.now().date() - timedelta(days=2)
    assert [fact.agent for fact in days.of_day(day)] == [ann]
    assert [row for row in days.rows.list_partition(day.isoformat())
            if row.key != GENERATION] == []
    assert "not kept" not in caplog.text  # not a failure: a known limit
