"""The one-off backfill on data as the previous version stored it: conversations without the
copied customer name and preview, and no index rows at all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations.backfill import backfill_conversations
from messenger_channel.conversations.closing import agent_closes
from messenger_channel.conversations.indexes import ConversationIndexes
from messenger_channel.services import Services
from messenger_channel.storage.tables import Table, to_properties
from simulator.client import SimulatorClient
from tests.integration.test_conversation_indexes import (
    _all,
    accept,
    assert_consistent,
    index_rows,
)
from tests.support.engine import Engine, new_id
from tests.support.keys import MANAGEMENT_KEY

NEW_FIELDS = ("customer_name", "name_missing_reason", "last_message_preview")


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


def as_the_previous_version_left_it(engine: Engine) -> None:
    """No index rows; conversations stored without the fields this version added."""
    indexes = ConversationIndexes(engine.services.tables)
    tables: list[Table[Any]] = [*indexes.tables.values(), indexes.due]
    for table in tables:
        for row in _all(table):
            table.delete(row.partition_key(), row.row_key())
    conversations = engine.tables.conversations
    for conversation in _all(conversations):
        properties = {key: value for key, value in to_properties(conversation).items()
                      if key not in NEW_FIELDS}
        with conversations._service("rewrite") as client:  # raw, as stored
            client.upsert_entity(properties, mode="replace")  # type: ignore[arg-type]
    assert index_rows(engine) == set()


def history(engine: Engine) -> tuple[str, str, str]:
    """Three customers: one closed, one held, one offered."""
    engine.workstream(wrap_up={"minutes": 0})
    agent_id, _ = engine.agent()
    closed, held, offered = new_id(), new_id(), new_id()
    for psid in (closed, held):
        engine.say(psid)
        accept(engine, engine.conversation_of(psid).id, agent_id)
    agent_closes(engine.services, engine.conversation_of(closed).id, agent_id)
    engine.say(offered)
    return closed, held, offered


def test_backfill_builds_the_indexes_the_live_code_would_have(engine: Engine) -> None:
    history(engine)
    written_live = index_rows(engine)
    as_the_previous_version_left_it(engine)
    cursor, batches = None, 0
    while True:
        done = backfill_conversations(engine.services, cursor, batch=2)
        batches += 1
        cursor = done.next
        if cursor is None:
            break
    assert batches == 2
    assert index_rows(engine) == written_live
    assert_consistent(engine)
    names = {row.customer_name for table in ConversationIndexes(
        engine.services.tables).tables.values() for row in _all(table)}
    assert None not in names


def test_backfill_twice_changes_nothing(engine: Engine) -> None:
    history(engine)
    as_the_previous_version_left_it(engine)
    backfill_conversations(engine.services)
    first = index_rows(engine)
    due = {row.key for row in _all(ConversationIndexes(engine.services.tables).due)}
    backfill_conversations(engine.services)
    assert index_rows(engine) == first
    assert {row.key for row in _all(ConversationIndexes(engine.services.tables).due)} == due


def test_the_route_pages_through_and_refuses_a_forged_cursor(
        engine: Engine, api: TestClient) -> None:
    history(engine)
    as_the_previous_version_left_it(engine)
    headers = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
    with api as client:
        first = client.post("/api/manage/backfill/conversations", json={"batch": 2},
                            headers=headers)
        assert first.status_code == 200, first.text
        assert first.json()["conversations"] == 2 and first.json()["next"]
        rest = client.post("/api/manage/backfill/conversations",
                           json={"cursor": first.json()["next"]}, headers=headers)
        assert rest.json() == {"conversations": 1, "next": None}
        forged = client.post("/api/manage/backfill/conversations",
                             json={"cursor": "not-a-cursor"}, headers=headers)
        assert (forged.status_code, forged.json()["error"]) == (400, "invalid_cursor")
        assert client.post("/api/manage/backfill/conversations").status_code == 401
        contacts = client.post("/api/manage/backfill/contacts", headers=headers)
        assert contacts.status_code == 200 and contacts.json()["rows"] >= 0
        again = client.post("/api/manage/backfill/contacts", headers=headers)
        assert again.json() == {"rows": 0}
    assert_consistent(engine)
