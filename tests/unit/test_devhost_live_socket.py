"""The devhost's socket (``devhost.live_socket``) in process: a token from the local adapter
opens it, hints published from another thread (as the engine's runners do) arrive as JSON
text frames, and a bad token or a client that cannot keep up is closed."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient

from devhost.live_socket import POLICY_VIOLATION, TRY_AGAIN_LATER, LiveSockets, Outbox
from messenger_channel.clock import Clock
from messenger_channel.live.local import LocalLive, LocalLivePublisher
from messenger_channel.live.port import Audience, Hint

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def live() -> LocalLive:
    return LocalLive(b"s" * 32, Clock())


def client_for(live: LocalLive, max_pending: int = 1000) -> TestClient:
    sockets = LiveSockets(live, max_pending)
    return TestClient(Starlette(routes=[WebSocketRoute("/client/hubs/{hub}",
                                                       sockets.endpoint)]))


@pytest.fixture
def client(live: LocalLive) -> Iterator[TestClient]:
    with client_for(live) as client:
        yield client


def path_of(publisher: LocalLivePublisher, user: str, groups: list[str]) -> str:
    url = publisher.client_access(user, groups, 5).url
    return url.removeprefix("ws://testserver")


def wait_connected(live: LocalLive, count: int) -> None:
    for _ in range(200):
        if live.connected("console") >= count:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the socket never registered")


def test_hints_from_another_thread_arrive_as_text(live: LocalLive, client: TestClient) -> None:
    publisher = LocalLivePublisher(live, "http://testserver", "console")
    with client.websocket_connect(path_of(publisher, "agent:sue", ["supervisors"])) as socket:
        wait_connected(live, 1)
        engine = threading.Thread(target=lambda: publisher.publish(
            Hint("queue.updated", AT), Audience.of(groups=["supervisors"])))
        engine.start()
        engine.join()
        assert json.loads(socket.receive_text()) == {"type": "queue.updated",
                                                     "at": "2026-03-01T09:30:00Z"}
        socket.send_text("ignored")  # client frames go nowhere, the socket stays open
        publisher.publish(Hint("message.created", AT, "cv_1"), Audience.of(["agent:sue"]))
        assert json.loads(socket.receive_text())["conversation_id"] == "cv_1"
    wait_disconnected(live)


def wait_disconnected(live: LocalLive) -> None:
    for _ in range(200):
        if live.connected("console") == 0:
            return
        threading.Event().wait(0.01)
    raise AssertionError("a closed socket stayed registered")


@pytest.mark.parametrize("query", ["", "?access_token=", "?access_token=abc.def.ghi"])
def test_a_bad_token_is_closed_with_policy_violation(client: TestClient, query: str) -> None:
    with client.websocket_connect("/client/hubs/console" + query) as socket:
        closed = socket.receive()
    assert closed["type"] == "websocket.close"
    assert closed["code"] == POLICY_VIOLATION


def test_an_expired_token_is_closed(live: LocalLive, client: TestClient) -> None:
    path = path_of(LocalLivePublisher(live, "http://testserver", "console"), "agent:a", [])
    live.clock.set_offset(6 * 60)
    with client.websocket_connect(path) as socket:
        assert socket.receive()["code"] == POLICY_VIOLATION


def test_a_client_that_cannot_keep_up_is_closed() -> None:
    loop = asyncio.new_event_loop()
    try:
        outbox = Outbox(loop, limit=3)
        # The loop is not running: nothing is drained, as with a client that stalls.
        taken = [outbox.put(f'{{"n": {n}}}') for n in range(6)]
        assert taken == [True, True, True, False, False, False]

        async def drain() -> list[str | None]:
            return [await outbox.get() for _ in range(4)]

        # In a thread of its own: another test may have left a loop running in this one.
        drained: list[list[str | None]] = []
        worker = threading.Thread(target=lambda: drained.append(loop.run_until_complete(drain())))
        worker.start()
        worker.join()
        assert drained == [['{"n": 0}', '{"n": 1}', '{"n": 2}', None]]
        assert not outbox.put("later")  # once over, it stays closed
    finally:
        loop.close()
    assert not Outbox(loop, limit=3).put("after the loop closed")  # the host is stopping


def test_the_socket_closes_when_its_outbox_overflows(live: LocalLive) -> None:
    publisher = LocalLivePublisher(live, "http://testserver", "console")
    with client_for(live, max_pending=0) as client, \
            client.websocket_connect(path_of(publisher, "agent:a", [])) as socket:
        wait_connected(live, 1)
        publisher.publish(Hint("queue.updated", AT), Audience.of(["agent:a"]))
        assert socket.receive() == {"type": "websocket.close", "code": TRY_AGAIN_LATER,
                                    "reason": "too many hints pending"}
