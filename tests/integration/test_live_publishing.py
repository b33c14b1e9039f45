"""The engine publishes live hints on Azurite: each after what it announces is stored (the
agent's list already shows the offer when the offer's hint goes out), to the right people,
and a publisher that fails never fails the router's or the sender's step."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from fastapi.testclient import TestClient

from messenger_channel.api.app import create_api
from messenger_channel.api.auth import api_services
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.inbound import handle_inbound
from messenger_channel.conversations.indexes import ConversationIndexes
from messenger_channel.conversations.replies import agent_reply
from messenger_channel.conversations.sender import process_outbound
from messenger_channel.live.guard import GuardedPublisher
from messenger_channel.live.local import LocalLivePublisher, open_local_live
from messenger_channel.live.port import Audience, ClientAccess, Hint, LiveUnavailable
from messenger_channel.services import Services
from messenger_channel.workforce.agents import AgentCreate, Agents, Role, get_agent
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id
from tests.support.keys import MANAGEMENT_KEY

Sent = tuple[str, str | None, Audience]


class Recording:
    """Records each hint with what the agent's list held at that moment."""

    def __init__(self, services: Services, agent_id: str) -> None:
        self.services, self.agent_id = services, agent_id
        self.sent: list[Sent] = []
        self.listed_when_offered: list[set[str]] = []

    def publish(self, hint: Hint, audience: Audience) -> None:
        self.sent.append((hint.type, hint.conversation_id, audience))
        if hint.type == "conversation.offered":
            agent = get_agent(self.services.tables, self.agent_id)
            assert agent is not None
            rows = ConversationIndexes(self.services.tables).of_agent(self.agent_id,
                                                                        agent.queue_ids)
            self.listed_when_offered.append({r.conversation_id for r in rows
                                             if r.state == "offered"})

    def client_access(self, user_id: str, groups: object, minutes: int) -> ClientAccess:
        raise LiveUnavailable("not here")


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    def publish(self, hint: Hint, audience: Audience) -> None:
        self.calls += 1
        raise LiveUnavailable("Web PubSub refused a hint: ServiceResponseError")

    def client_access(self, user_id: str, groups: object, minutes: int) -> ClientAccess:
        raise LiveUnavailable("down")


@pytest.fixture
def simulator(simulator_url: str) -> Iterator[SimulatorClient]:
    with SimulatorClient(simulator_url) as client:
        yield client


def test_offer_message_and_reply_hints_follow_the_stored_state(
        services: Services, simulator: SimulatorClient) -> None:
    engine = Engine(services, simulator)
    engine.workstream()
    agent_id, _ = engine.agent()
    recording = Recording(services, agent_id)
    engine.services = dataclasses.replace(services, live=recording)
    psid = new_id()
    envelope = engine.message(psid, "Hello?")
    # The simulator's window counts from the customer's message, as Facebook's does.
    simulator.put_user(psid, engine.page_id, first_name="Lea",
                       last_message_at=envelope.event().timestamp)
    handle_inbound(engine.services, envelope)
    conversation = engine.conversation_of(psid)

    ann, supervisors = f"agent:{agent_id}", frozenset({"supervisors"})
    offers = [s for s in recording.sent if s[0] == "conversation.offered"]
    assert offers == [("conversation.offered", conversation.id, Audience.of([ann]))]
    assert recording.listed_when_offered == [{conversation.id}]
    assert ("message.created", conversation.id, Audience(groups=supervisors)) \
        in recording.sent
    assert ("queue.updated", None, Audience(groups=supervisors)) in recording.sent

    recording.sent.clear()
    agent = get_agent(services.tables, agent_id)
    assert agent is not None
    Distributor(engine.services).accept(conversation.id, agent_id, agent)
    [row] = agent_reply(engine.services, conversation.id, agent_id, "Hi, Ann here", [])
    [outbound] = engine.outbound()
    process_outbound(engine.services, outbound.model_dump_json().encode())
    told_ann = [(kind, cid) for kind, cid, audience in recording.sent if ann in audience.users]
    assert ("message.created", conversation.id) in told_ann
    assert ("message.updated", conversation.id) in told_ann  # queued → sent
    assert all(audience.groups == supervisors for kind, _, audience in recording.sent
               if kind.startswith("message."))
    stored = engine.tables.messages.get(conversation.id, row.id)
    assert stored is not None and stored.status == "sent"


@pytest.mark.parametrize("guarded", [False, True])
def test_a_failing_publisher_never_fails_the_engines_steps(
        services: Services, simulator: SimulatorClient, guarded: bool) -> None:
    engine = Engine(services, simulator)
    engine.workstream()
    agent_id, _ = engine.agent()
    broken = Broken()
    engine.services = dataclasses.replace(
        services, live=GuardedPublisher(broken, services.clock) if guarded else broken)
    psid = new_id()
    envelope = engine.message(psid, "Anyone?")
    handle_inbound(engine.services, envelope)  # raises nothing: the step completes

    conversation = engine.conversation_of(psid)
    assert conversation.state == "offered" and conversation.offered_to == [agent_id]
    assert [m.text for m in engine.history(psid)] == ["Anyone?"]
    # Unguarded, every hint was tried (and failed); guarded, the first failure paused them.
    assert broken.calls == 1 if guarded else broken.calls > 1


@pytest.fixture
def live_api(services: Services, tmp_path: Path) -> Iterator[tuple[TestClient, Services]]:
    """The API in process with the devhost's local live adapter (what ``make run`` uses)."""
    live = LocalLivePublisher(open_local_live(tmp_path, services.clock), "http://127.0.0.1:7071",
                              "console")
    served = dataclasses.replace(services, live=live)
    app = create_api()
    app.dependency_overrides[api_services] = lambda: served
    with TestClient(app) as client:
        yield client, served


def _agent(services: Services, role: Role = "agent") -> tuple[str, dict[str, str]]:
    created = Agents(services.tables, services.clock).create(
        AgentCreate(name="Ann", queue_ids=[], role=role))
    return created.agent.id, {"Authorization": f"Bearer {created.api_key}"}


def _claims(url: str) -> dict[str, object]:
    token = parse_qs(urlsplit(url).query)["access_token"][0]
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_negotiate_gives_agents_a_user_and_supervisors_the_group(
        live_api: tuple[TestClient, Services]) -> None:
    client, services = live_api
    agent_id, agent_key = _agent(services)
    boss_id, boss_key = _agent(services, "supervisor")

    answer = client.get("/api/agent/negotiate", headers=agent_key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"url", "expires_at"}
    assert body["url"].startswith("ws://127.0.0.1:7071/client/hubs/console?access_token=")
    claims = _claims(body["url"])
    assert claims["sub"] == f"agent:{agent_id}" and "webpubsub.group" not in claims
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert claims["exp"] == int(expires.timestamp())
    assert timedelta(minutes=1) < expires - services.clock.now() <= timedelta(minutes=30)

    supervisor = _claims(client.get("/api/agent/negotiate", headers=boss_key).json()["url"])
    assert supervisor["sub"] == f"agent:{boss_id}"
    assert supervisor["webpubsub.group"] == ["supervisors"]

    managers = client.get("/api/agent/negotiate",
                          headers={"Authorization": f"Bearer {MANAGEMENT_KEY}"})
    assert managers.status_code == 403
    assert client.get("/api/agent/negotiate").status_code == 401


def test_negotiate_without_live_updates_says_so(api: TestClient, services: Services) -> None:
    _, key = _agent(services)  # the services fixture has no live adapter: Azure without one
    answer = api.get("/api/agent/negotiate", headers=key)
    assert answer.status_code == 503
    assert answer.json()["error"] == "live_updates_unavailable"


def test_a_presence_change_moves_the_supervisors_figures(services: Services) -> None:
    _, key = _agent(services)
    recording = Recording(services, "nobody")
    app = create_api()
    app.dependency_overrides[api_services] = lambda: dataclasses.replace(services,
                                                                         live=recording)
    with TestClient(app) as recorded:
        assert recorded.put("/api/agent/presence", headers=key,
                            json={"presence": "away"}).status_code == 200
        assert recorded.put("/api/agent/presence", headers=key,
                            json={"presence": "away"}).status_code == 200
    assert recording.sent == [("queue.updated", None, Audience.of(groups=["supervisors"]))]
