"""Privacy over the storage added after the privacy package: long texts in Blob storage,
quarantined webhook bodies and rows, and replies parked in ``SendCursors``. Each is erased with
its customer, exported whole, and kept no longer than retention says (against Azurite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations.attachments import CONTAINER
from messenger_channel.conversations.closing import agent_closes
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.long_texts import KEPT_CHARS, MAX_ROW_TEXT_CHARS
from messenger_channel.privacy.retention import run_retention
from messenger_channel.provisioning.models import Retention
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.services import Services
from messenger_channel.storage.errors import NotFound
from messenger_channel.workforce.agents import get_agent
from simulator.client import SimulatorClient
from tests.integration.test_privacy import MANAGER, _account, _erased, _everything, _route
from tests.support.engine import ACCOUNT, Engine, new_id

TAIL = "quokkatail"  # only past the start a row keeps of a long text


def long_text() -> str:
    text = "Order 42 details " * (MAX_ROW_TEXT_CHARS // 10) + TAIL
    assert len(text) > MAX_ROW_TEXT_CHARS and TAIL not in text[:KEPT_CHARS]
    return text


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        engine = Engine(services, simulator)
        engine.workstream()
        yield engine


@pytest.fixture
def searched(services: Services, azurite: Any, table_prefix: str, tmp_path: Any) -> Any:
    return lambda: _everything(services, azurite.connection_string, table_prefix,
                               tmp_path / "queues.sqlite")


def _erase(engine: Engine, api: TestClient, psid: str) -> dict[str, Any]:
    started = api.delete(f"/api/manage/customers/{engine.page_id}/{psid}", headers=MANAGER)
    assert started.status_code == 202, started.text
    assert _erased(engine.services) == 1
    status: dict[str, Any] = api.get(f"/api/manage/erasures/{started.json()['erasure_id']}",
                                     headers=MANAGER).json()
    assert status["state"] == "done", status
    return status


# ---------------------------------------------------------------- long texts


def test_an_erasure_deletes_the_customer_s_long_texts_and_the_rows_forget_them(
        engine: Engine, api: TestClient, searched: Any) -> None:
    psid = new_id()
    _route(engine, psid, long_text())
    conversation_id = engine.conversation_of(psid).id
    [row] = engine.tables.history(conversation_id)
    blob = row.text_blob
    assert blob is not None and TAIL in searched()
    status = _erase(engine, api, psid)
    assert status["counts"]["long_texts"] == 1 and status["counts"]["messages"] == 1
    [row] = engine.tables.history(conversation_id)
    assert row.text is None and row.text_blob is None  # no name of a blob that is gone
    with pytest.raises(NotFound):
        engine.services.blobs.download(CONTAINER, blob)
    everything = searched()
    assert TAIL not in everything and psid not in everything


def test_the_export_gives_a_long_text_whole(engine: Engine, api: TestClient) -> None:
    psid, text = new_id(), long_text()
    _route(engine, psid, text)
    answer = api.get(f"/api/manage/customers/{engine.page_id}/{psid}/export", headers=MANAGER)
    assert answer.status_code == 200, answer.text
    [message] = answer.json()["conversations"][0]["messages"]
    assert message["text"] == text
    assert "text_blob" not in message  # where it is stored is not the customer's data


def test_the_retention_of_files_keeps_a_long_text_as_long_as_its_message(
        engine: Engine) -> None:
    _account(engine.services)
    ChannelTables(engine.services.tables).accounts.update("account", ACCOUNT.account_id, (
        lambda a: a.model_copy(update={"retention": Retention(
            messages_days=365, attachments_days=10)})))
    agent_id, _ = engine.agent("Ann")
    agent = get_agent(engine.services.tables, agent_id)
    assert agent is not None
    psid, text = new_id(), long_text()
    _route(engine, psid, text)
    conversation = engine.conversation_of(psid)
    Distributor(engine.services).accept(conversation.id, agent_id, agent)
    agent_closes(engine.services, conversation.id, agent_id)
    engine.services.clock.set_offset(engine.services.clock.offset_seconds
                                     + timedelta(days=20).total_seconds())
    assert run_retention(engine.services).by_kind == {"attachments": 1}
    [row] = engine.tables.history(conversation.id)
    assert row.text_blob is not None
    assert engine.services.blobs.download(CONTAINER, row.text_blob).decode() == text
