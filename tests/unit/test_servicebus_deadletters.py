"""Dead letters on Service Bus, against a fake client: counting by peeking the DLQ sub-queue,
redrive by receive → send back (same session) → complete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from azure.servicebus import ServiceBusReceivedMessage, ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.exceptions import ServiceBusConnectionError

from messenger_channel.bus.deadletters import dead_letter_queues
from messenger_channel.bus.port import QueueMessage, QueueUnavailable
from messenger_channel.bus.servicebus import ServiceBusQueueSender
from messenger_channel.bus.servicebus_deadletters import ServiceBusDeadLetters


@dataclass
class DeadLetter:
    """The fields of ``ServiceBusReceivedMessage`` the adapter reads."""

    session_id: str
    message_id: str
    sequence_number: int
    body: list[bytes] = field(default_factory=lambda: [b'{"a":', b"1}"])
    content_type: str = "application/json"
    application_properties: dict[bytes, Any] = field(default_factory=lambda: {
        b"kind": b"message", b"DeadLetterReason": b"MaxDeliveryCountExceeded"})


class FakeReceiver:
    def __init__(self, messages: list[DeadLetter]) -> None:
        self.messages = messages
        self.completed: list[str] = []
        self.closed = False

    def peek_messages(self, max_message_count: int = 1, *,
                      sequence_number: int = 0) -> list[ServiceBusReceivedMessage]:
        found = [m for m in self.messages if m.sequence_number >= sequence_number]
        return cast(list[ServiceBusReceivedMessage], found[:max_message_count])

    def receive_messages(self, max_message_count: int | None = 1,
                         max_wait_time: float | None = None) -> list[ServiceBusReceivedMessage]:
        taken = [m for m in self.messages if m.message_id not in self.completed]
        return cast(list[ServiceBusReceivedMessage], taken[: max_message_count or 1])

    def complete_message(self, message: ServiceBusReceivedMessage) -> None:
        self.completed.append(str(message.message_id))

    def close(self) -> None:
        self.closed = True


class FakeClient:
    def __init__(self, messages: list[DeadLetter]) -> None:
        self.receiver = FakeReceiver(messages)
        self.asked: list[tuple[str, Any, Any]] = []

    def get_queue_receiver(self, queue_name: str, *, sub_queue: ServiceBusSubQueue | None = None,
                           receive_mode: ServiceBusReceiveMode = ServiceBusReceiveMode.PEEK_LOCK,
                           max_wait_time: float | None = None) -> FakeReceiver:
        self.asked.append((queue_name, sub_queue, receive_mode))
        return self.receiver


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, QueueMessage]] = []
        self.fail = False

    def send(self, queue: str, messages: Sequence[QueueMessage]) -> None:
        if self.fail:
            raise QueueUnavailable("down")
        self.sent += [(queue, m) for m in messages]

    def check(self) -> None:
        """Always reachable."""


def letters() -> list[DeadLetter]:
    return [DeadLetter("1001:2001", "evt-a", 5), DeadLetter("1001:2002", "evt-b", 9),
            DeadLetter("1002:2003", "evt-c", 12)]


def test_counts_by_peeking_the_dead_letter_sub_queue() -> None:
    client = FakeClient(letters())
    found = ServiceBusDeadLetters(client, RecordingSender()).count("inbound")
    assert found.count == 3 and found.by_page == {"1001": 2, "1002": 1}
    assert found.depth is None and not found.at_least
    assert client.asked[0] == ("inbound", ServiceBusSubQueue.DEAD_LETTER,
                               ServiceBusReceiveMode.PEEK_LOCK)
    assert client.receiver.closed


def test_redrive_resends_with_the_session_then_completes() -> None:
    client, sender = FakeClient(letters()), RecordingSender()
    moved = ServiceBusDeadLetters(client, sender).redrive("outbound")
    assert moved == 3
    assert [(q, m.session_id) for q, m in sender.sent] == [
        ("outbound", "1001:2001"), ("outbound", "1001:2002"), ("outbound", "1002:2003")]
    first = sender.sent[0][1]
    assert first.body == b'{"a":1}'
    # A fresh id, or duplicate detection would drop a message redriven within its window.
    assert first.message_id == "evt-a:r5"
    assert first.properties == {"kind": "message", "original_message_id": "evt-a"}
    assert client.receiver.completed == ["evt-a", "evt-b", "evt-c"]


def test_nothing_is_completed_when_the_send_fails() -> None:
    client, sender = FakeClient(letters()), RecordingSender()
    sender.fail = True
    with pytest.raises(QueueUnavailable):
        ServiceBusDeadLetters(client, sender).redrive("inbound")
    assert client.receiver.completed == []


def test_an_unreachable_namespace_is_queue_unavailable() -> None:
    class Broken(FakeClient):
        def get_queue_receiver(self, queue_name: str, **_: Any) -> FakeReceiver:
            raise ServiceBusConnectionError(message="no route")

    with pytest.raises(QueueUnavailable, match="inbound"):
        ServiceBusDeadLetters(Broken([]), RecordingSender()).count("inbound")


def test_the_factory_needs_a_receiving_client() -> None:
    class SenderOnly:
        def get_queue_sender(self, queue_name: str) -> Any:
            raise AssertionError("not used")

        def close(self) -> None:
            """Nothing to close."""

    assert dead_letter_queues(ServiceBusQueueSender(SenderOnly())) is None
    with_receivers = ServiceBusQueueSender(SenderOnly(), receivers=FakeClient([]))
    assert isinstance(dead_letter_queues(with_receivers), ServiceBusDeadLetters)
