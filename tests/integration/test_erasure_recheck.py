"""The erasure's final re-check against Azurite: writes by work already in flight when the
erasure started (a router that read no hold a moment before it was created, an agent's reply
that found the conversation still open) land after the job went over the customer; the job
waits ``SETTLE`` after closing their conversations, without counting failed attempts, then
erases them too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations import inbound
from messenger_channel.conversations.models import Message, message_key
from messenger_channel.privacy.erasure_job import SETTLE, run_erasures
from messenger_channel.privacy.erasure_records import ErasureRecords
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id
from tests.support.keys import MANAGEMENT_KEY
from tests.support.stored import stored_text

WORDS = "zebracorn"
MANAGER = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        engine = Engine(services, simulator)
        engine.workstream()
        yield engine


@pytest.fixture
def searched(azurite: Any, table_prefix: str, tmp_path: Path) -> Any:
    return lambda: stored_text(azurite.connection_string, tmp_path / "queues.sqlite",
                               table_prefix)


def _route(engine: Engine, psid: str, text: str, seconds_before_now: float = 0) -> None:
    """As the router gets it (archived, indexed, handled), received ``seconds_before_now``."""
    clock = engine.services.clock
    offset = clock.offset_seconds
    clock.set_offset(offset - seconds_before_now)
    envelope = engine.message(psid, text)
    clock.set_offset(offset)
    inbound.process_inbound(engine.services, envelope.model_dump_json().encode())


def test_what_work_in_flight_wrote_after_the_erasure_began_is_erased_too(
        engine: Engine, api: TestClient, searched: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    services = engine.services
    psid = new_id()
    engine.simulator.put_user(psid, engine.page_id, first_name="Quillon", last_name="Doe")
    _, key = engine.agent("Ann")
    _route(engine, psid, "My order is wrong")
    old_id = engine.conversation_of(psid).id
    agent = {"Authorization": f"Bearer {key}"}
    assert api.post(f"/api/agent/conversations/{old_id}/accept", headers=agent).status_code == 200
    erasure_id = api.delete(f"/api/manage/customers/{engine.page_id}/{psid}",
                            headers=MANAGER).json()["erasure_id"]
    assert run_erasures(services) == 0  # every step but the last: it waits
    records = ErasureRecords(services.tables)
    waiting = records.get(erasure_id)
    assert waiting is not None
    assert (waiting.state, waiting.step, waiting.attempts) == ("pending", "finish", 0)
    assert engine.tables.contacts.get(engine.page_id, psid) is None
    assert all(m.text is None for m in engine.tables.history(old_id))

    # The router read no hold for an event received just before the request, and writes now.
    monkeypatch.setattr(inbound, "held_for_erasure", lambda *_: False)
    _route(engine, psid, f"late {WORDS}", seconds_before_now=5)
    monkeypatch.undo()
    # An agent's reply that passed its checks before the job closed the conversation.
    now = services.clock.now()
    engine.tables.messages.upsert(Message(
        conversation_id=old_id, id=message_key(now, "late-reply"), direction="out",
        author="agent", text=f"late reply {WORDS}", status="sent", created_at=now))
    landed = searched()
    assert psid in landed and WORDS in landed and "quillon" in landed

    services.clock.set_offset(SETTLE.total_seconds() - 30)  # not yet: nothing in flight ended
    assert run_erasures(services) == 0
    still = records.get(erasure_id)
    assert still is not None
    assert (still.state, still.step, still.attempts) == ("pending", "finish", 0)

    services.clock.set_offset(SETTLE.total_seconds() + 1)
    assert run_erasures(services) == 1
    everything = searched()
    assert psid not in everything and WORDS not in everything and "quillon" not in everything
    assert old_id.lower() in everything
    done = api.get(f"/api/manage/erasures/{erasure_id}", headers=MANAGER).json()
    assert done["state"] == "done"
    assert done["counts"]["conversations"] == 2  # the one the late event opened as well
    assert done["counts"]["contacts"] == 2  # and the profile it made again
    assert all(m.text is None for m in engine.tables.history(old_id))


def test_an_agent_cannot_start_a_conversation_with_a_customer_being_erased(
        engine: Engine, api: TestClient) -> None:
    psid = new_id()
    _, key = engine.agent("Ann")
    agent = {"Authorization": f"Bearer {key}"}
    _route(engine, psid, "Hello")
    conversation_id = engine.conversation_of(psid).id
    assert api.post(f"/api/agent/conversations/{conversation_id}/accept",
                    headers=agent).status_code == 200
    assert api.post(f"/api/agent/conversations/{conversation_id}/close",
                    headers=agent).status_code == 200
    start = {"page_id": engine.page_id, "psid": psid}
    api.delete(f"/api/manage/customers/{engine.page_id}/{psid}", headers=MANAGER)
    refused = api.post("/api/agent/conversations", headers=agent, json=start)
    assert (refused.status_code, refused.json()["error"]) == (409, "customer_being_erased")
    services = engine.services
    run_erasures(services)
    services.clock.set_offset(SETTLE.total_seconds() + 1)
    assert run_erasures(services) == 1
    # Afterwards the page knows no such customer: nothing to start a conversation with.
    assert api.post("/api/agent/conversations", headers=agent, json=start).status_code == 404
