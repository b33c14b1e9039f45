"""Replies when Graph is slower than the queue's lock: the devhost's queue runner renews the
lock while the sender runs (as the Functions host does, up to host.json's
``maxAutoLockRenewalDuration``), and one invocation makes one send, so parked replies resume
one queue message each, in order. The lock is 1 second here instead of Service Bus's minute."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devhost.loader import FunctionSpec
from devhost.queue_runner import DEFAULT_MAX_LOCK_RENEWAL, QueueFunctionRunner, max_lock_renewal
from messenger_channel.bus.local import LocalQueue
from messenger_channel.bus.port import QueueMessage
from messenger_channel.bus.queues import OUTBOUND, QUEUES
from messenger_channel.conversations.outbound import process_outbound_queue
from messenger_channel.conversations.sender import process_outbound
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.integration.test_sender import Chat
from tests.support.engine import Engine
from tests.support.eventually import eventually

ROOT = Path(__file__).resolve().parents[2]
LOCK = timedelta(seconds=1)
SHORT_LOCKS = {name: dataclasses.replace(spec, lock_duration=LOCK)
               for name, spec in QUEUES.items()}


@pytest.fixture
def short_lock(services: Services, tmp_path: Path) -> Iterator[Services]:
    queue = LocalQueue(tmp_path / "short-locks.sqlite", services.clock, SHORT_LOCKS)
    yield dataclasses.replace(services, queue=queue)
    queue.close()


@pytest.fixture
def engine(short_lock: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(short_lock, simulator)


@pytest.fixture
def short_lock_api(short_lock: Services) -> Iterator[TestClient]:
    from messenger_channel.api.app import create_api
    from messenger_channel.api.auth import api_services

    app = create_api()
    app.dependency_overrides[api_services] = lambda: short_lock
    with TestClient(app) as client:
        yield client


def runner(services: Services, function: Any,
           max_renewal: timedelta = DEFAULT_MAX_LOCK_RENEWAL) -> QueueFunctionRunner:
    queue = services.queue
    assert isinstance(queue, LocalQueue)
    spec = FunctionSpec(name="sender", trigger_type="serviceBusTrigger", arg_name="msg",
                        user_function=function, queue_name=OUTBOUND.name)
    return QueueFunctionRunner(spec, queue, concurrency=2, max_lock_renewal=max_renewal)


def running(runner: QueueFunctionRunner) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop, 0.05), daemon=True)
    thread.start()
    return thread, stop


def test_host_json_renews_locks_for_five_minutes() -> None:
    assert max_lock_renewal(ROOT / "host.json") == DEFAULT_MAX_LOCK_RENEWAL
    assert max_lock_renewal(None) == timedelta(minutes=5)


def test_a_function_slower_than_the_lock_keeps_it_and_runs_once(short_lock: Services) -> None:
    calls: list[str] = []

    def slow(msg: Any) -> None:
        calls.append(msg.message_id)
        threading.Event().wait(3 * LOCK.total_seconds())  # the function's own work

    queue = short_lock.queue
    assert isinstance(queue, LocalQueue)
    queue.send(OUTBOUND.name, [QueueMessage(body=b"{}", session_id="s", message_id="m1")])
    thread, stop = running(runner(short_lock, slow))
    try:
        eventually(lambda: queue.counts(OUTBOUND.name).locked == 0 and calls,
                   timeout=15, what="the slow message completed")
    finally:
        stop.set()
        thread.join()
    assert calls == ["m1"]  # never delivered to the second worker
    assert queue.counts(OUTBOUND.name).active == 0  # completed, not abandoned


def test_a_function_running_past_the_renewal_limit_loses_its_lock(
        short_lock: Services) -> None:
    """As on Azure: renewal stops at maxAutoLockRenewalDuration, then the lock expires and
    another worker gets the message."""
    calls: list[str] = []

    def slower_than_the_limit(msg: Any) -> None:
        calls.append(msg.message_id)
        if len(calls) == 1:
            threading.Event().wait(4 * LOCK.total_seconds())

    queue = short_lock.queue
    assert isinstance(queue, LocalQueue)
    queue.send(OUTBOUND.name, [QueueMessage(body=b"{}", session_id="s", message_id="m1")])
    thread, stop = running(runner(short_lock, slower_than_the_limit,
                                  max_renewal=1.5 * LOCK))
    try:
        eventually(lambda: len(calls) == 2, timeout=15,
                   what="the message delivered again once its lock expired")
    finally:
        stop.set()
        thread.join()
    assert calls == ["m1", "m1"]


def test_parked_replies_flushed_through_a_slow_graph_are_sent_once_in_order(
        engine: Engine, short_lock_api: TestClient) -> None:
    chat = Chat(engine, short_lock_api)
    engine.simulator.add_fault(operation="send", page_id=engine.page_id, kind="graph_error",
                               code=1200, times=1)
    replies = [f"reply {n}" for n in range(5)]
    for text in replies:
        chat.queued(text)
    chat.drain()  # the first waits for its retry; the others are parked behind it
    assert chat.sent() == []
    # Each Send API call now takes longer than the lock.
    engine.simulator.add_fault(operation="send", page_id=engine.page_id, kind="timeout",
                               delay_seconds=1.4 * LOCK.total_seconds(), times=len(replies))
    chat.later(30 * 60)  # the retry is due
    services = engine.services
    queue = services.queue
    assert isinstance(queue, LocalQueue)
    thread, stop = running(runner(services, lambda msg: process_outbound_queue(
        services, msg.get_body())))
    try:
        eventually(lambda: len(chat.sent()) >= len(replies), timeout=30,
                   what="every reply sent")
        eventually(lambda: queue.counts(OUTBOUND.name).locked == 0, timeout=10,
                   what="the last invocation settled")
    finally:
        stop.set()
        thread.join()
    assert [s["message"]["text"] for s in chat.sent()] == replies


def test_each_parked_reply_is_sent_by_an_invocation_of_its_own(
        engine: Engine, short_lock_api: TestClient) -> None:
    """The work of one invocation is bounded, whatever piled up behind a retry: one send, and
    the next parked reply becomes the next queue message of the conversation's session."""
    chat = Chat(engine, short_lock_api)
    engine.simulator.add_fault(operation="send", page_id=engine.page_id, kind="graph_error",
                               code=1200, times=1)
    replies = [f"reply {n}" for n in range(4)]
    for text in replies:
        chat.queued(text)
    chat.drain()  # the first waits for its retry; the others are parked behind it
    assert chat.sent() == []
    chat.later(30 * 60)  # the retry is due
    queue = engine.services.queue
    assert isinstance(queue, LocalQueue)
    for n in range(len(replies)):
        received = queue.receive(OUTBOUND.name)
        assert received is not None, f"reply {n} was not resumed as a queue message"
        process_outbound(engine.services, received.body)
        queue.complete(received)
        assert [s["message"]["text"] for s in chat.sent()] == replies[:n + 1]
    assert queue.receive(OUTBOUND.name) is None
