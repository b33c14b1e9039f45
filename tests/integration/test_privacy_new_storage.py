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
from messenger_channel.conversations.sender import ParkedMessage
from messenger_channel.facebook.webhook_events import MAX_FIELD_CHARS
from messenger_channel.ingress.archive import QUARANTINE_CONTAINER
from messenger_channel.ingress.quarantine import TABLE as QUARANTINE_TABLE
from messenger_channel.ingress.quarantine import QuarantineEntry
from messenger_channel.ingress.quarantine_index import QuarantineIndex
from messenger_channel.privacy.retention import run_retention
from messenger_channel.provisioning.models import Retention
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.services import Services
from messenger_channel.storage.errors import NotFound
from messenger_channel.workforce.agents import get_agent
from simulator.client import SimulatorClient
from tests.integration.test_privacy import MANAGER, _account, _erased, _everything, _route
from tests.integration.test_quarantine import APP_SECRET, Webhook, event
from tests.integration.test_sender import Chat
from tests.support.engine import ACCOUNT, Engine, new_id

TAIL = "quokkatail"  # only past the start a row keeps of a long text


def long_text() -> str:
    text = "Order 42 details " * (MAX_ROW_TEXT_CHARS // 10) + TAIL
    assert len(text) > MAX_ROW_TEXT_CHARS and TAIL not in text[:KEPT_CHARS]
    return text


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)  # each test makes its workstream (``Chat`` does)


@pytest.fixture
def searched(services: Services, azurite: Any, table_prefix: str, tmp_path: Any) -> Any:
    return lambda: _everything(services, azurite.connection_string, table_prefix,
                               tmp_path / "queues.sqlite")


def _erase(services: Services, api: TestClient, page_id: str, psid: str) -> dict[str, Any]:
    started = api.delete(f"/api/manage/customers/{page_id}/{psid}", headers=MANAGER)
    assert started.status_code == 202, started.text
    assert _erased(services) == 1
    status: dict[str, Any] = api.get(f"/api/manage/erasures/{started.json()['erasure_id']}",
                                     headers=MANAGER).json()
    assert status["state"] == "done", status
    return status


def _retention(engine: Engine, retention: Retention) -> None:
    _account(engine.services)
    ChannelTables(engine.services.tables).accounts.update("account", ACCOUNT.account_id, (
        lambda a: a.model_copy(update={"retention": retention})))


def _days_later(engine: Engine, days: int) -> None:
    clock = engine.services.clock
    clock.set_offset(clock.offset_seconds + timedelta(days=days).total_seconds())
    engine.simulator.set_clock(clock.offset_seconds)


# ---------------------------------------------------------------- long texts


def test_an_erasure_deletes_the_customer_s_long_texts_and_the_rows_forget_them(
        engine: Engine, api: TestClient, searched: Any) -> None:
    engine.workstream()
    psid = new_id()
    _route(engine, psid, long_text())
    conversation_id = engine.conversation_of(psid).id
    [row] = engine.tables.history(conversation_id)
    blob = row.text_blob
    assert blob is not None and TAIL in searched()
    status = _erase(engine.services, api, engine.page_id, psid)
    assert status["counts"]["long_texts"] == 1 and status["counts"]["messages"] == 1
    [row] = engine.tables.history(conversation_id)
    assert row.text is None and row.text_blob is None  # no name of a blob that is gone
    with pytest.raises(NotFound):
        engine.services.blobs.download(CONTAINER, blob)
    everything = searched()
    assert TAIL not in everything and psid not in everything


def test_the_export_gives_a_long_text_whole(engine: Engine, api: TestClient) -> None:
    engine.workstream()
    psid, text = new_id(), long_text()
    _route(engine, psid, text)
    answer = api.get(f"/api/manage/customers/{engine.page_id}/{psid}/export", headers=MANAGER)
    assert answer.status_code == 200, answer.text
    [message] = answer.json()["conversations"][0]["messages"]
    assert message["text"] == text
    assert "text_blob" not in message  # where it is stored is not the customer's data


def test_the_retention_of_files_keeps_a_long_text_as_long_as_its_message(
        engine: Engine) -> None:
    engine.workstream()
    _retention(engine, Retention(messages_days=365, attachments_days=10))
    agent_id, _ = engine.agent("Ann")
    agent = get_agent(engine.services.tables, agent_id)
    assert agent is not None
    psid, text = new_id(), long_text()
    _route(engine, psid, text)
    conversation = engine.conversation_of(psid)
    Distributor(engine.services).accept(conversation.id, agent_id, agent)
    agent_closes(engine.services, conversation.id, agent_id)
    _days_later(engine, 20)
    assert run_retention(engine.services).by_kind == {"attachments": 1}
    [row] = engine.tables.history(conversation.id)
    assert row.text_blob is not None
    assert engine.services.blobs.download(CONTAINER, row.text_blob).decode() == text


# ---------------------------------------------------------------- parked replies

WAITING = "wombatreply"  # the words of replies parked behind a retry


def _parked(engine: Engine, api: TestClient) -> Chat:
    """Two replies parked behind a first one that waits for its retry (Graph said 1200)."""
    chat = Chat(engine, api)
    engine.simulator.add_fault(operation="send", page_id=engine.page_id, kind="graph_error",
                               code=1200, times=1)
    for n in range(3):
        chat.queued(f"{WAITING} {n}")
    chat.drain()
    assert chat.sent() == []
    assert len(_parked_rows(engine, chat.id)) == 2
    return chat


def _parked_rows(engine: Engine, conversation_id: str) -> list[ParkedMessage]:
    return engine.services.tables.table("SendCursors", ParkedMessage).query(
        "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
        {"pk": conversation_id, "lo": "p-", "hi": "p."}).items


def test_an_erasure_deletes_the_replies_parked_in_the_customer_s_conversations(
        engine: Engine, api: TestClient, searched: Any) -> None:
    chat = _parked(engine, api)
    assert WAITING in searched()
    status = _erase(engine.services, api, engine.page_id, chat.psid)
    assert status["counts"]["parked_replies"] == 2
    assert _parked_rows(engine, chat.id) == []
    _days_later(engine, 1)  # the retry's time: nothing is left to resume or send
    chat.drain()
    assert chat.sent() == []
    everything = searched()
    assert WAITING not in everything and chat.psid not in everything


def test_the_retention_of_messages_deletes_replies_still_parked(
        engine: Engine, api: TestClient) -> None:
    chat = _parked(engine, api)
    _retention(engine, Retention(messages_days=10))
    agent_closes(engine.services, chat.id, chat.agent_id)
    _days_later(engine, 20)
    assert run_retention(engine.services).by_kind == {"messages": 1}
    assert _parked_rows(engine, chat.id) == []


# ---------------------------------------------------------------- quarantine

SAID = "narwhalword"  # a customer's words, kept in the quarantined bodies


@pytest.fixture
def webhook(services: Services, simulator_url: str) -> Iterator[Webhook]:
    with SimulatorClient(simulator_url) as simulator:
        yield Webhook(services, simulator, "Privacy", APP_SECRET)


def _refused(page: str, psid: str, mid: str) -> dict[str, Any]:
    """An event of a valid page and PSID the webhook refuses: a quick reply's payload longer
    than any field may be."""
    return event(page, psid, mid, message={"mid": mid, "text": f"{SAID} refused", "quick_reply": {
        "payload": "p" * (MAX_FIELD_CHARS + 1)}})


def _body(page: str, *events: dict[str, Any]) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": page, "messaging": list(events)}]}


def _quarantined(services: Services) -> list[QuarantineEntry]:
    return list(services.tables.table(QUARANTINE_TABLE, QuarantineEntry).query_all(
        "PartitionKey ge @lo", {"lo": "q"}))


def _bodies(services: Services) -> set[str]:
    return {f"{QUARANTINE_CONTAINER}/{blob.name}"
            for blob in services.blobs.list(QUARANTINE_CONTAINER, "")}


def test_an_erasure_deletes_the_quarantined_bodies_and_rows_that_hold_the_customer(
        webhook: Webhook, api: TestClient, searched: Any) -> None:
    page, customer, other, stranger = webhook.page_id, new_id(), new_id(), new_id()
    # Their own refused event; their event that went through beside another's refused one;
    # and a body that is none of theirs.
    for payload in (_body(page, _refused(page, customer, "m-1")),
                    _body(page, event(page, customer, "m-2", f"{SAID} fine"),
                          _refused(page, other, "m-3")),
                    _body(page, _refused(page, stranger, "m-4"))):
        assert webhook.post(payload) == 200
    assert webhook.route() == 1
    rows = _quarantined(webhook.services)
    assert sorted(row.psid or "" for row in rows) == sorted([customer, other, stranger])
    assert len(_bodies(webhook.services)) == 3 and customer in searched()

    status = _erase(webhook.services, api, page, customer)
    counts = status["counts"]
    assert counts["quarantined_bodies"] == 2 and counts["quarantined_bodies_shared"] == 1
    assert counts["quarantine_rows"] == 2
    [kept] = _quarantined(webhook.services)
    assert kept.psid == stranger and _bodies(webhook.services) == {kept.blob}
    everything = searched()
    assert customer not in everything and f"{SAID} fine" not in everything
    assert other not in everything  # their event was in a body of the customer's: gone too
    assert list(QuarantineIndex(webhook.services.tables).of_customer(page, customer)) == []
    assert stranger in everything


def test_quarantined_bodies_rows_and_their_index_are_kept_the_retention_days(
        webhook: Webhook, api: TestClient) -> None:
    services = webhook.services
    assert services.settings.quarantine_retention_days == 30
    page, old, new = webhook.page_id, new_id(), new_id()
    services.clock.set_offset(services.clock.offset_seconds - timedelta(days=31).total_seconds())
    for n in range(2):
        assert webhook.post(_body(page, _refused(page, old, f"m-old-{n}"))) == 200
    services.clock.set_offset(services.clock.offset_seconds + timedelta(days=31).total_seconds())
    assert webhook.post(_body(page, _refused(page, new, "m-new"))) == 200
    assert len(_quarantined(services)) == 3 and len(_bodies(services)) == 3

    first = run_retention(services, max_items=1)  # the per-run cap holds
    assert first.items == 1 and len(_quarantined(services)) + len(_bodies(services)) == 5
    rest = run_retention(services)
    assert rest.by_kind == {"quarantine": 1, "quarantine_rows": 2}
    [kept] = _quarantined(services)
    assert kept.psid == new and _bodies(services) == {kept.blob}
    index = QuarantineIndex(services.tables)
    assert list(index.of_customer(page, old)) == []
    assert [row.blob for row in index.of_customer(page, new)] == [kept.blob]
    assert run_retention(services).items == 0


def test_a_quarantined_body_goes_with_its_rows_when_no_account_lists_it(
        webhook: Webhook) -> None:
    services = webhook.services
    services.clock.set_offset(services.clock.offset_seconds - timedelta(days=31).total_seconds())
    assert webhook.post(_body(webhook.page_id, _refused(webhook.page_id, new_id(), "m-1"))) == 200
    services.clock.set_offset(services.clock.offset_seconds + timedelta(days=31).total_seconds())
    ChannelTables(services.tables).accounts.update("account", webhook.account_id, (
        lambda a: a.model_copy(update={"deleting": True})))  # the walk of its folders skips it
    assert run_retention(services).by_kind == {"quarantine_rows": 1}
    assert _quarantined(services) == [] and _bodies(services) == set()


def test_the_export_gives_the_customer_s_events_in_quarantined_bodies(
        webhook: Webhook, api: TestClient) -> None:
    page, customer, other = webhook.page_id, new_id(), new_id()
    assert webhook.post(_body(page, _refused(page, customer, "m-1"),
                              _refused(page, other, "m-2"))) == 200
    answer = api.get(f"/api/manage/customers/{page}/{customer}/export", headers=MANAGER)
    assert answer.status_code == 200, answer.text
    [held] = answer.json()["quarantined_events"]
    assert held["event"]["sender"]["id"] == customer  # theirs whole, not another's
    assert held["event"]["message"]["text"] == f"{SAID} refused"
    assert held["quarantined_at"]
