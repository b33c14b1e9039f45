"""Issue 20's loose ends: a reply queued before its page is removed, customer events for a page
being removed, a failed reply whose echo proves it went, and the supervisor's close saying what
it could not send. The APIs in process on Azurite, the simulator in a thread as Facebook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from messenger_channel.bus.local import LocalQueue
from messenger_channel.bus.queues import OUTBOUND
from messenger_channel.conversations import assignment
from messenger_channel.conversations.inbound import handle_inbound
from messenger_channel.conversations.models import Message
from messenger_channel.conversations.satisfaction import send_post_conversation_survey
from messenger_channel.conversations.sender import MAX_ATTEMPTS, process_outbound
from messenger_channel.facebook.graph import GraphClient
from messenger_channel.facebook.signature import sign
from messenger_channel.ingress.counters import IngressCounters
from messenger_channel.ingress.webhook import build_ingress
from messenger_channel.live.port import Audience, ClientAccess, Hint, LiveUnavailable, agent_user
from messenger_channel.provisioning.queue_health import failed_sends
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.integration.test_contract_gaps import HOUR, accepted
from tests.integration.test_deprovisioning import manage, new_account, new_page, stored
from tests.integration.test_sender import Chat
from tests.integration.test_supervisor import supervisor
from tests.support.engine import Engine, new_id
from tests.support.eventually import eventually


@pytest.fixture
def sim(simulator_url: str) -> Iterator[SimulatorClient]:
    with SimulatorClient(simulator_url) as client:
        yield client


def drain(services: Services) -> int:
    """Run the sender over every due ``outbound`` message, settling as the host does."""
    queue = services.queue
    assert isinstance(queue, LocalQueue)
    count = 0
    while (received := queue.receive(OUTBOUND.name)) is not None:
        process_outbound(services, received.body)
        queue.complete(received)
        count += 1
    return count


class Hints:
    """The live hints published, as (type, conversation id, audience)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None, Audience]] = []

    def publish(self, hint: Hint, audience: Audience) -> None:
        self.sent.append((hint.type, hint.conversation_id, audience))

    def client_access(self, user_id: str, groups: object, minutes: int) -> ClientAccess:
        raise LiveUnavailable("not here")


def row_of(engine: Engine, psid: str, message_id: str) -> Message:
    [row] = [m for m in engine.history(psid) if m.id == message_id]
    return row


@pytest.mark.parametrize("removed", ["page", "account"])
def test_a_reply_queued_before_its_page_is_removed_fails_as_page_removed(
        services: Services, sim: SimulatorClient, api: TestClient, removed: str) -> None:
    account_id = new_account(api, sim)
    page_id = new_page(api, sim, account_id)
    engine = Engine(services, sim, page_id=page_id)
    engine.queue_id = engine.queue()
    _, key = engine.agent("Ann")
    agent = {"Authorization": f"Bearer {key}"}
    workstream = manage(api, "POST", "/workstreams", {
        "name": "Support", "page_id": page_id, "fallback_queue_id": engine.queue_id},
        201).json()
    psid = new_id()
    sim.put_user(psid, page_id, first_name="Ada")
    engine.say(psid, "Hello")
    conversation_id = engine.conversation_of(psid).id
    accepted = api.post(f"/api/agent/conversations/{conversation_id}/accept", headers=agent)
    assert accepted.status_code == 200, accepted.text
    queued = api.post(f"/api/agent/conversations/{conversation_id}/messages",
                      json={"text": "On its way"}, headers=agent)
    assert queued.status_code == 202, queued.text

    manage(api, "DELETE", f"/workstreams/{workstream['id']}", status=204)
    path = f"/accounts/{account_id}" + ("" if removed == "account" else f"/pages/{page_id}")
    manage(api, "DELETE", path, status=202)
    assert drain(services) >= 1

    row = row_of(engine, psid, queued.json()["id"])
    assert (row.status, row.failure_reason) == ("failed", "page_removed")
    assert failed_sends(services)[page_id] == {"page_removed": 1}
    assert sim.sent(page_id=page_id, psid=psid) == []
    listed = api.get(f"/api/agent/conversations/{conversation_id}/messages",
                     headers=agent).json()["items"]
    assert [m["failure_reason"] for m in listed if m["author"] == "agent"] == ["page_removed"]


def test_a_reply_failed_after_an_unanswered_last_attempt_is_sent_when_its_echo_comes(
        services: Services, simulator_url: str, sim: SimulatorClient, api: TestClient) -> None:
    # A Graph client that gives up before the simulator answers: the send goes out unseen.
    hints = Hints()
    impatient = replace(services, graph=GraphClient(f"{simulator_url}/v25.0", timeout=0.5),
                        live=hints)
    chat = Chat(Engine(impatient, sim), api)
    page_id = chat.engine.page_id
    sim.add_fault(operation="send", page_id=page_id, kind="http_5xx", times=MAX_ATTEMPTS - 1)
    message_id = chat.queued("Your refund is on its way.")
    for _ in range(MAX_ATTEMPTS - 1):
        chat.drain()
        chat.later(30 * 60)
    sim.add_fault(operation="send", page_id=page_id, kind="timeout", delay_seconds=1.5,
                  times=1)
    chat.drain()  # the last attempt: no answer within the client's timeout
    row = chat.row(message_id)
    assert (row.status, row.failure_reason) == ("failed", "facebook_error")
    assert failed_sends(impatient)[page_id] == {"facebook_error": 1}

    [sent] = eventually(chat.sent, what="the slow send reaching the simulator")
    hints.sent.clear()
    handle_inbound(impatient, chat.engine.envelope(chat.psid, {"message": {
        "mid": sent["message_id"], "is_echo": True, "text": sent["message"]["text"],
        "metadata": sent["metadata"]}}, own_echo_app=True))

    row = chat.row(message_id)
    assert (row.status, row.failure_reason, row.facebook_message_id) == (
        "sent", None, sent["message_id"])
    assert failed_sends(impatient)[page_id] == {"facebook_error": 0}
    [(kind, conversation_id, audience)] = hints.sent  # the agent's console hears of it
    assert (kind, conversation_id) == ("message.updated", chat.id)
    assert agent_user(chat.agent_id) in audience.users
    listed = chat.agent.ok("GET", f"/conversations/{chat.id}/messages")["items"]
    assert [(m["status"], m["failure_reason"]) for m in listed if m["id"] == message_id] == [
        ("sent", None)]


@pytest.mark.parametrize("removed", ["page", "account"])
def test_customer_events_for_a_page_being_removed_are_acknowledged_and_counted_not_routed(
        services: Services, sim: SimulatorClient, api: TestClient, removed: str) -> None:
    account_id = new_account(api, sim)
    page_id = new_page(api, sim, account_id)
    account = ChannelTables(services.tables).account(account_id)
    assert account is not None
    app_secret = services.secrets.get(account.app_secret_ref)
    sim.add_fault(page_id=page_id, operation="subscribed_apps", kind="http_5xx",
                  http_status=503, times=1)
    path = f"/accounts/{account_id}" + ("" if removed == "account" else f"/pages/{page_id}")
    manage(api, "DELETE", path, status=202)
    assert stored(services, page_id).provisioning_state == "Deprovisioning"

    psid = new_id()
    events = [{"sender": {"id": psid}, "recipient": {"id": page_id},
               "timestamp": 1764000000000 + n, "message": {"mid": f"m_{psid}_{n}", "text": "Hi"}}
              for n in range(3)]
    body = json.dumps({"object": "page", "entry": [
        {"id": page_id, "time": 1764000000000, "messaging": events}]}).encode()
    answer = build_ingress(services).receive(account_id, sign(app_secret, body), body)

    assert (answer.status, json.loads(answer.body)) == (200, {"status": "EVENT_RECEIVED"})
    queue = services.queue
    assert isinstance(queue, LocalQueue)
    assert queue.receive("inbound") is None  # nothing routed: no conversation to close later
    counts = IngressCounters(services.tables).of(account_id)
    assert counts.get("page_removed") == 3 and "quarantined" not in counts


def test_the_supervisors_close_says_what_it_could_not_send(
        services: Services, sim: SimulatorClient, api: TestClient) -> None:
    engine = Engine(services, sim)
    engine.workstream(automated_messages={"agent_ended": {"en-US": "Goodbye!"}},
                      post_conversation_survey={"message": "Rate us", "url": "https://x.test"})
    _, key = engine.agent("Ann")
    boss = supervisor(engine, api)
    inside, late = (accepted(engine, api, key, new_id()) for _ in range(2))

    answer = boss.ok("POST", f"/conversations/{inside}/close")
    assert (answer["state"], answer["not_sent"]) == ("closed", [])
    engine.services.clock.set_offset(25 * HOUR)
    answer = boss.ok("POST", f"/conversations/{late}/close")
    assert answer["state"] == "closed"
    # The supervisor's close sends the survey only (no goodbye): that is what it names.
    [not_sent] = answer["not_sent"]
    assert (not_sent["trigger"], not_sent["reason"]) == (
        "post_conversation_survey", "outside_messaging_window")
    assert "24 hours after the customer's last message" in not_sent["message"]
    assert boss.ok("POST", f"/conversations/{late}/close")["not_sent"] == []  # closed already


def test_a_supervisors_close_that_loses_to_another_close_answers_closed(
        services: Services, sim: SimulatorClient, api: TestClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The auto-close timer (or the agent) closes the conversation between the supervisor's
    read and write: the supervisor hears it is closed, not "changed; try again"."""
    engine = Engine(services, sim)
    engine.workstream()
    _, key = engine.agent("Ann")
    boss = supervisor(engine, api)
    conversation_id = accepted(engine, api, key, new_id())
    survey = send_post_conversation_survey

    def closed_meanwhile(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(assignment, "send_post_conversation_survey", survey)
        assert api.post(f"/api/agent/conversations/{conversation_id}/close",
                        headers={"Authorization": f"Bearer {key}"}).status_code == 200
        return survey(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(assignment, "send_post_conversation_survey", closed_meanwhile)
    answer = boss.ok("POST", f"/conversations/{conversation_id}/close")
    assert (answer["state"], answer["not_sent"]) == ("closed", [])
