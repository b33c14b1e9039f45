"""The channel's metrics where the engine records them, on Azurite and the simulator: a
customer's message in, the offer's wait until the agent accepts, a reply out, a send that fails
for good by its reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.integration.test_sender import Chat
from tests.support.engine import Engine
from tests.support.telemetry import points, recorded


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


def test_messages_offers_and_failed_sends_are_counted(engine: Engine, api: TestClient) -> None:
    messages_in = recorded("channel.messages.in", kind="message")
    messages_out = recorded("channel.messages.out")
    unavailable = recorded("channel.send.failures", reason="customer_unavailable")

    chat = Chat(engine, api)  # the customer writes, Ann is offered the conversation, accepts
    assert recorded("channel.messages.in", kind="message") == messages_in + 1
    assert recorded("channel.offer.wait", queue=engine.queue_id) == 1  # a queue of this test
    [wait] = [p for p in points("channel.offer.wait")
              if dict(p.attributes or {}) == {"queue": engine.queue_id}]
    assert 0 <= wait.max < 60

    chat.queued("Hello, how can I help?")
    chat.drain()
    assert recorded("channel.messages.out") == messages_out + 1
    engine.simulator.add_fault(operation="send", page_id=engine.page_id, kind="graph_error",
                               code=551, subcode=1545041, times=1)
    chat.queued("Are you still there?")
    chat.drain()
    assert recorded("channel.send.failures", reason="customer_unavailable") == unavailable + 1
    assert recorded("channel.messages.out") == messages_out + 1
