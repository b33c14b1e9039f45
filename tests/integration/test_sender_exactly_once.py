"""Exactly once toward Facebook across a crash of the sender: the worker dies between the
claim, the Graph call and the record (in process: the invocation raises there and the message
is abandoned, as the host does when its worker dies and the lock is released). The restarted
worker redelivers at once; Facebook's echo, when it comes within the grace, settles the send.
Also: a second worker holding a copy of a message being sent skips it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from fastapi.testclient import TestClient

from messenger_channel.bus.local import LocalQueue
from messenger_channel.bus.queues import OUTBOUND
from messenger_channel.conversations.inbound import handle_inbound
from messenger_channel.conversations.sender import process_outbound
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.integration.test_sender import Chat
from tests.support.engine import Engine
from tests.support.eventually import eventually

CrashPoint = Literal["after_claim", "after_graph"]


class Crash(Exception):
    """The worker dies here."""


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


def crash_once(monkeypatch: pytest.MonkeyPatch, services: Services, point: CrashPoint) -> None:
    """The next Send API call dies before Graph is called (the claim is written) or after
    Graph answered (before the sender records it)."""
    graph = services.graph
    real = graph.send_message
    armed = [True]

    def send_message(*args: Any, **kwargs: Any) -> Any:
        crash, armed[0] = armed[0], False
        if crash and point == "after_claim":
            raise Crash(point)
        answer = real(*args, **kwargs)
        if crash:
            raise Crash(point)
        return answer

    monkeypatch.setattr(graph, "send_message", send_message)


def grace(services: Services) -> float:
    return services.settings.send_echo_grace_seconds


def texts(chat: Chat) -> list[str]:
    return [s["message"]["text"] for s in chat.sent()]


def crash_then_restart(chat: Chat, monkeypatch: pytest.MonkeyPatch, point: CrashPoint) -> str:
    """A reply whose send dies at ``point``; the restarted worker gets it again at once, and
    a later reply is queued meanwhile."""
    crash_once(monkeypatch, chat.engine.services, point)
    message_id = chat.queued("Your order ships today.")
    with pytest.raises(Crash):
        chat.drain()
    assert chat.drain() == 1  # the redelivery, at once: it waits for the echo
    chat.queued("Anything else?")
    chat.drain()  # parked behind the wait
    return message_id


def echo(chat: Chat, sent: dict[str, Any]) -> None:
    """Facebook's echo of a send, carrying the send's metadata, through the router."""
    engine = chat.engine
    handle_inbound(engine.services, engine.envelope(chat.psid, {"message": {
        "mid": sent["message_id"], "is_echo": True, "text": sent["message"]["text"],
        "metadata": sent["metadata"]}}, own_echo_app=True))


def test_killed_after_graph_answered_the_echo_within_the_grace_makes_it_exactly_once(
        engine: Engine, api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = Chat(engine, api)
    message_id = crash_then_restart(chat, monkeypatch, "after_graph")
    assert texts(chat) == ["Your order ships today."]  # not sent again on redelivery
    assert chat.row(message_id).status == "queued"
    [sent] = chat.sent()
    chat.later(grace(engine.services) / 2)
    echo(chat, sent)
    chat.later(grace(engine.services) / 2 + 1)
    chat.drain()
    chat.drain()
    assert texts(chat) == ["Your order ships today.", "Anything else?"]
    row = chat.row(message_id)
    assert (row.status, row.facebook_message_id) == ("sent", sent["message_id"])
    assert (row.send_attempt, row.send_attempt_at) == (None, None)


def test_killed_after_graph_answered_without_an_echo_it_is_sent_again_after_the_grace(
        engine: Engine, api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = Chat(engine, api)
    message_id = crash_then_restart(chat, monkeypatch, "after_graph")
    chat.later(grace(engine.services) - 5)
    chat.drain()
    assert texts(chat) == ["Your order ships today."]  # the grace is not over
    chat.later(6)
    chat.drain()
    chat.drain()
    # At least once: the echo never came, so the reply went again, then the next one.
    assert texts(chat) == ["Your order ships today.", "Your order ships today.",
                           "Anything else?"]
    row = chat.row(message_id)
    assert (row.status, row.facebook_message_id) == ("sent", chat.sent()[1]["message_id"])


def test_killed_after_the_claim_before_graph_it_is_sent_once_after_the_grace(
        engine: Engine, api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = Chat(engine, api)
    message_id = crash_then_restart(chat, monkeypatch, "after_claim")
    assert texts(chat) == []  # the attempt's outcome is unknown: no send before its grace
    assert chat.row(message_id).send_attempt is not None
    chat.later(grace(engine.services) + 1)
    chat.drain()
    chat.drain()
    assert texts(chat) == ["Your order ships today.", "Anything else?"]
    assert chat.row(message_id).status == "sent"


def test_a_second_worker_skips_a_send_in_flight(engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    message_id = chat.queued("Only once, please.")
    queue = engine.services.queue
    assert isinstance(queue, LocalQueue)
    received = queue.receive(OUTBOUND.name)
    assert received is not None
    # Graph is slow: the first worker is still in its call when the second gets a copy.
    engine.simulator.add_fault(operation="send", page_id=engine.page_id, kind="timeout",
                               delay_seconds=1.5, times=1)
    first = threading.Thread(target=process_outbound, args=(engine.services, received.body))
    first.start()
    try:
        eventually(lambda: chat.row(message_id).send_attempt, what="the first worker's claim")
        process_outbound(engine.services, received.body)  # Graph still holds the first call
    finally:
        first.join()
    queue.complete(received)
    assert texts(chat) == ["Only once, please."]
    assert chat.row(message_id).status == "sent"
    chat.later(grace(engine.services) + 1)
    assert chat.drain() == 1  # the second worker's wait, over: the send is recorded
    assert texts(chat) == ["Only once, please."]
