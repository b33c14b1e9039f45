"""Privacy against Azurite: a customer's erasure (over the router with its archive, the agent
API and the queue), its crash and rerun, a message during it, Meta's data deletion callback,
retention at its boundary days, the audit entries, and the management key on every route."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from fastapi.testclient import TestClient

from messenger_channel.bus.local import LocalQueue
from messenger_channel.bus.queues import INBOUND
from messenger_channel.conversations.closing import agent_closes
from messenger_channel.conversations.erasure_hold import erasure_holds
from messenger_channel.conversations.inbound import process_inbound
from messenger_channel.privacy import erasure_job
from messenger_channel.privacy.erasure_job import SETTLE, run_erasures
from messenger_channel.privacy.erasure_records import ErasureRecords
from messenger_channel.privacy.retention import cutoff, run_retention
from messenger_channel.privacy.signed_request import sign
from messenger_channel.provisioning.models import Account, Retention
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.services import Services
from messenger_channel.workforce.agents import get_agent
from simulator.client import SimulatorClient
from simulator.settings import DEFAULT_APP_SECRET
from tests.support.engine import ACCOUNT, Engine, new_id
from tests.support.keys import MANAGEMENT_KEY

WORDS = "zebracorn"  # the customer's own word, found nowhere after the erasure
MANAGER = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        engine = Engine(services, simulator)
        engine.workstream()
        yield engine


APP_ID = "100000000000001"  # the simulator's app, which owns the engine's pages


def _account(services: Services) -> None:
    services.secrets.set("app-secret-test", DEFAULT_APP_SECRET)
    now = services.clock.now()
    ChannelTables(services.tables).accounts.upsert(Account(
        id=ACCOUNT.account_id, name="Test", app_id=APP_ID,
        app_secret_ref="app-secret-test", verify_token=ACCOUNT.verify_token,
        created_at=now, updated_at=now))


def _erased(services: Services) -> int:
    """Runs the job, then again once what was in flight has surely ended (``SETTLE``)."""
    run_erasures(services)
    services.clock.set_offset(services.clock.offset_seconds + SETTLE.total_seconds() + 1)
    return run_erasures(services)


def _route(engine: Engine, psid: str, text: str) -> None:
    """As the router gets it: archived, indexed, handled."""
    envelope = engine.message(psid, text)
    process_inbound(engine.services, envelope.model_dump_json().encode())


def _everything(services: Services, connection_string: str, prefix: str,
                queue_file: Any) -> str:
    """Every entity of every table, every blob and every queued message of this test."""
    found: list[str] = []
    tables = TableServiceClient.from_connection_string(connection_string)
    for table in tables.list_tables():
        if table.name.startswith(prefix):
            client = tables.get_table_client(table.name)
            found += [f"{table.name} {dict(entity)}" for entity in client.list_entities()]
    blobs = BlobServiceClient.from_connection_string(connection_string)
    for container in blobs.list_containers(name_starts_with=prefix):
        holder = blobs.get_container_client(container.name)
        for blob in holder.list_blobs(include="metadata"):
            data = holder.download_blob(blob.name).readall().decode(errors="replace")
            found.append(f"{container.name}/{blob.name} {blob.metadata} {data}")
    with sqlite3.connect(queue_file) as db:
        found += [f"queue {row}" for row in db.execute(
            "SELECT session_id, message_id, body FROM messages")]
    return "\n".join(found).lower()


@pytest.fixture
def searched(services: Services, azurite: Any, table_prefix: str, tmp_path: Any) -> Any:
    return lambda: _everything(services, azurite.connection_string, table_prefix,
                               tmp_path / "queues.sqlite")


def _served_and_written(engine: Engine, api: TestClient, psid: str) -> tuple[str, str]:
    engine.simulator.put_user(psid, engine.page_id, first_name="Quillon",
                              last_name="Vantablack")
    _, key = engine.agent("Ann")
    _route(engine, psid, f"My order 7731 is wrong {WORDS}")
    conversation = engine.conversation_of(psid)
    agent = {"Authorization": f"Bearer {key}"}
    assert api.post(f"/api/agent/conversations/{conversation.id}/accept",
                    headers=agent).status_code == 200
    assert api.post(f"/api/agent/conversations/{conversation.id}/messages", headers=agent,
                    json={"text": f"Sorry about the {WORDS}"}).status_code == 202
    return conversation.id, key


def test_erasure_leaves_nothing_of_the_customer_but_the_kept_ids(
        engine: Engine, api: TestClient, searched: Any) -> None:
    psid = new_id()
    conversation_id, _ = _served_and_written(engine, api, psid)
    assert psid in searched() and WORDS in searched() and "quillon" in searched()
    started = api.delete(f"/api/manage/customers/{engine.page_id}/{psid}", headers=MANAGER)
    assert started.status_code == 202, started.text
    erasure_id = started.json()["erasure_id"]
    again = api.delete(f"/api/manage/customers/{engine.page_id}/{psid}", headers=MANAGER)
    assert again.json()["erasure_id"] == erasure_id  # one erasure per customer at a time
    assert _erased(engine.services) == 1
    status = api.get(f"/api/manage/erasures/{erasure_id}", headers=MANAGER).json()
    assert status["state"] == "done" and status["finished_at"] is not None
    assert status["counts"]["conversations"] == 1 and status["counts"]["messages"] >= 2
    assert status["counts"]["archived_events"] == 1
    everything = searched()
    assert psid not in everything
    assert WORDS not in everything and "quillon" not in everything
    kept = engine.tables.conversation(conversation_id)
    assert kept is not None and kept.state == "closed" and kept.created_at is not None
    assert [m.text for m in engine.tables.history(conversation_id)] == [None] * len(
        engine.tables.history(conversation_id))


def test_a_crash_in_the_middle_then_a_rerun_finishes_the_job(
        engine: Engine, api: TestClient, searched: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    psid = new_id()
    _served_and_written(engine, api, psid)
    erasure_id = api.delete(f"/api/manage/customers/{engine.page_id}/{psid}",
                            headers=MANAGER).json()["erasure_id"]
    real = erasure_job.ErasureJob.archive

    def crash(self: erasure_job.ErasureJob) -> None:
        raise ConnectionError("storage went away")

    monkeypatch.setattr(erasure_job.ErasureJob, "archive", crash)
    assert run_erasures(engine.services) == 0
    record = ErasureRecords(engine.services.tables).get(erasure_id)
    assert record is not None and record.state == "pending" and record.step == "archive"
    assert record.last_error == "ConnectionError"
    monkeypatch.setattr(erasure_job.ErasureJob, "archive", real)
    engine.services.clock.set_offset(erasure_job.LEASE.total_seconds() + 1)  # lease lapsed
    assert _erased(engine.services) == 1
    everything = searched()
    assert psid not in everything and WORDS not in everything


def test_a_message_during_the_erasure_starts_a_fresh_conversation_after_it(
        engine: Engine, api: TestClient) -> None:
    psid = new_id()
    old_id, _ = _served_and_written(engine, api, psid)
    api.delete(f"/api/manage/customers/{engine.page_id}/{psid}", headers=MANAGER)
    _route(engine, psid, "hello again")  # held: nothing stored while the erasure runs
    assert engine.tables.contacts.get(engine.page_id, psid) is not None
    assert engine.tables.conversation(old_id).last_message_preview != "hello again"  # type: ignore[union-attr]
    assert _erased(engine.services) == 1
    queue = engine.services.queue
    assert isinstance(queue, LocalQueue)
    held = queue.receive(INBOUND.name)
    assert held is not None
    process_inbound(engine.services, held.body)
    queue.complete(held)
    fresh = engine.conversation_of(psid)
    assert fresh.id != old_id
    assert [m.text for m in engine.tables.history(fresh.id) if m.direction == "in"] == [
        "hello again"]
    assert all(m.text is None for m in engine.tables.history(old_id))


def _deletion(api: TestClient, signed: str) -> Any:
    return api.post(f"/api/facebook/data-deletion/{ACCOUNT.account_id}",
                    content=f"signed_request={signed}",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})


def _callback(services: Services, signed: str) -> tuple[int, dict[str, Any]]:
    from messenger_channel.privacy.data_deletion import answer_callback
    answer = answer_callback(services, ACCOUNT.account_id, f"signed_request={signed}".encode())
    return answer.status, json.loads(answer.body)


@pytest.mark.parametrize("case", ["forged", "expired", "wrong_algorithm"])
def test_a_bad_signed_request_is_403_and_erases_nothing(engine: Engine, case: str) -> None:
    _account(engine.services)
    psid = new_id()
    engine.simulator.put_user(psid, engine.page_id, first_name="Ann", last_name="Lee",
                              app_scoped_id="5551234")
    now = int(engine.services.clock.now().timestamp())
    payload = {"algorithm": "HMAC-SHA256", "issued_at": now, "user_id": "5551234"}
    secret = DEFAULT_APP_SECRET
    if case == "forged":
        secret = "x" * 32
    elif case == "expired":
        payload["issued_at"] = now - 2 * 3600
    else:
        payload["algorithm"] = "HMAC-SHA1"
    status, body = _callback(engine.services, sign(payload, secret))
    assert status == 403 and body["error"] == "forbidden"
    assert erasure_holds(engine.services.tables).get(engine.page_id, psid) is None
    assert ErasureRecords(engine.services.tables).due(10) == []


def test_meta_s_callback_erases_the_matched_customers_and_shows_a_plain_status(
        engine: Engine) -> None:
    from messenger_channel.privacy.data_deletion import answer_status
    _account(engine.services)
    psid = new_id()
    _route(engine, psid, f"call me {WORDS}")
    engine.simulator.put_user(psid, engine.page_id, first_name="Ann", last_name="Lee",
                              app_scoped_id="5551234")
    signed = sign({"algorithm": "HMAC-SHA256", "user_id": "5551234",
                   "issued_at": int(engine.services.clock.now().timestamp())},
                  DEFAULT_APP_SECRET)
    status, body = _callback(engine.services, signed)
    assert status == 200, body
    code = body["confirmation_code"]
    assert body["url"] == (f"https://channel.example.test/api/facebook/data-deletion/"
                           f"{ACCOUNT.account_id}/{code}")
    assert erasure_holds(engine.services.tables).get(engine.page_id, psid) is not None
    page = answer_status(engine.services, ACCOUNT.account_id, code)
    assert page.status == 200 and "in progress" in page.body and psid not in page.body
    assert _erased(engine.services) == 1
    done = answer_status(engine.services, ACCOUNT.account_id, code)
    assert "has been deleted" in done.body and psid not in done.body
    assert engine.tables.contacts.get(engine.page_id, psid) is None
    assert answer_status(engine.services, ACCOUNT.account_id, "0" * 20).status == 404


def _clock_at(services: Services, moment: datetime) -> None:
    """From the real time now, not the test's start: a slow machine must not move a close
    that is one second before the line past it."""
    services.clock.set_offset((moment - datetime.now(UTC)).total_seconds())


def test_retention_at_the_boundary_days(engine: Engine) -> None:
    _account(engine.services)
    ChannelTables(engine.services.tables).accounts.update("account", ACCOUNT.account_id, (
        lambda a: a.model_copy(update={"retention": Retention(messages_days=30)})))
    agent_id, _ = engine.agent("Ann")
    agent = get_agent(engine.services.tables, agent_id)
    assert agent is not None
    now = engine.services.clock.now()
    line = cutoff(now, 30)
    closed_at = {}
    for name, moment in (("before", line - timedelta(seconds=1)), ("at", line)):
        psid = new_id()
        _clock_at(engine.services, moment - timedelta(hours=1))
        _route(engine, psid, f"{name} words")
        conversation = engine.conversation_of(psid)
        from messenger_channel.conversations.distribution import Distributor
        Distributor(engine.services).accept(conversation.id, agent_id, agent)
        _clock_at(engine.services, moment)
        agent_closes(engine.services, conversation.id, agent_id)
        closed_at[name] = conversation.id
    open_psid = new_id()
    _clock_at(engine.services, line - timedelta(days=2))
    _route(engine, open_psid, "still open words")
    engine.services.clock.set_offset(0)
    run = run_retention(engine.services)
    assert run.by_kind == {"messages": 1}
    assert engine.tables.history(closed_at["before"]) == []
    assert engine.tables.conversation(closed_at["before"]).state == "closed"  # type: ignore[union-attr]
    assert engine.tables.history(closed_at["at"])[0].text == "at words"
    assert engine.history(open_psid)[0].text == "still open words"
    assert run_retention(engine.services).by_kind == {}  # the cursor moved on


def test_the_audit_log_names_each_act_and_keeps_no_secret(
        engine: Engine, api: TestClient) -> None:
    _account(engine.services)
    psid = new_id()
    conversation_id, key = _served_and_written(engine, api, psid)
    agent = {"Authorization": f"Bearer {key}"}
    assert api.post(f"/api/agent/conversations/{conversation_id}/close",
                    headers=agent).status_code == 200
    queue = api.post("/api/manage/queues", json={"name": "Billing"}, headers=MANAGER)
    created = api.post("/api/manage/agents", json={"name": "Bo", "queue_ids": []},
                       headers=MANAGER).json()
    assert api.post(f"/api/manage/agents/{created['id']}/key", headers=MANAGER).status_code < 300
    assert api.post("/api/manage/deadletters/inbound/redrive",
                    headers=MANAGER).status_code == 202
    assert api.get(f"/api/manage/customers/{engine.page_id}/{psid}/export",
                   headers=MANAGER).status_code == 200
    assert api.delete(f"/api/manage/customers/{engine.page_id}/{psid}",
                      headers=MANAGER).status_code == 202
    entries = api.get("/api/manage/audit", headers=MANAGER).json()["items"]
    actions = [entry["action"] for entry in entries]
    for action in ("conversation.accept", "conversation.close", "queue.create",
                   "agent.create", "key.issued", "key.rotated", "deadletters.redrive",
                   "customer.export", "customer.erase", "erasure.requested"):
        assert action in actions or (action == "queue.create" and "manage.create" in actions), (
            action, actions)
    text = json.dumps(entries)
    assert created["api_key"] not in text and key not in text and psid not in text
    assert WORDS not in text
    mine = api.get("/api/manage/audit", headers=MANAGER,
                   params={"actor": f"agent:{engine.tables.conversation(conversation_id).agent_id}"}  # type: ignore[union-attr]
                   ).json()["items"]
    assert {entry["action"] for entry in mine} == {"conversation.accept", "conversation.close"}
    erasures = api.get("/api/manage/audit", headers=MANAGER,
                       params={"action": "customer.erase"}).json()["items"]
    assert len(erasures) == 1 and erasures[0]["actor"] == {"kind": "management",
                                                          "id": "management_key"}
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert api.get("/api/manage/audit", headers=MANAGER,
                   params={"from": later, "to": (datetime.now(UTC) + timedelta(hours=2)
                                                 ).isoformat()}).json()["items"] == []
    one = api.get("/api/manage/audit", headers=MANAGER, params={"limit": 1}).json()
    assert len(one["items"]) == 1 and one["next"]
    second = api.get("/api/manage/audit", headers=MANAGER,
                     params={"limit": 1, "cursor": one["next"]}).json()["items"]
    assert second and second[0]["id"] != one["items"][0]["id"]
    assert queue.status_code == 201


def test_every_privacy_route_refuses_an_agent_key(engine: Engine, api: TestClient) -> None:
    _, key = engine.agent("Ann")
    agent = {"Authorization": f"Bearer {key}"}
    psid = new_id()
    for method, path in (("DELETE", f"/api/manage/customers/{engine.page_id}/{psid}"),
                         ("GET", "/api/manage/erasures/er_00000000000000000000"),
                         ("GET", f"/api/manage/customers/{engine.page_id}/{psid}/export"),
                         ("GET", "/api/manage/attachments/cv_1/att_1"),
                         ("GET", "/api/manage/audit"),
                         ("PATCH", f"/api/manage/accounts/{ACCOUNT.account_id}")):
        answer = api.request(method, path, headers=agent, json={} if method == "PATCH" else None)
        assert answer.status_code == 403, (method, path, answer.text)
    assert erasure_holds(engine.services.tables).get(engine.page_id, psid) is None
