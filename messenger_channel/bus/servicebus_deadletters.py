"""Dead letters on Service Bus, read and moved with the receiver role the app already has.

Counting peeks the ``$deadletterqueue`` sub-queue (no admin client: the app is not granted
Data Owner). Redrive receives from the sub-queue, which is not session-enabled even for a
session queue, sends each message back to its queue with the same session id, and completes it
only after the send succeeded: at worst a message is sent twice, never lost.

The new message's id is the old one plus the dead letter's sequence number: with the same id,
duplicate detection (a day on both queues) would drop a message redriven within a day of its
first send, and completing it afterwards would lose it. The consumers deduplicate by event
identity in the body, not by MessageId. The original id travels as ``original_message_id``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusReceivedMessage, ServiceBusReceiveMode, ServiceBusSubQueue

from messenger_channel.bus.port import (
    MAX_COUNTED,
    MAX_ID_LENGTH,
    DeadLetterCount,
    QueueMessage,
    QueueSender,
    QueueUnavailable,
    count_of,
)

PEEK_BATCH = 250
RECEIVE_BATCH = 100
RECEIVE_WAIT_SECONDS = 5.0
# One redrive call moves at most this many, so an HTTP request ends; call it again for more.
MAX_REDRIVE = 1000
# Set by Service Bus on dead-lettering; they describe the old failure, not the message.
_DEAD_LETTER_PROPERTIES = frozenset({"DeadLetterReason", "DeadLetterErrorDescription"})


class DeadLetterReceiver(Protocol):
    """The part of ``azure.servicebus.ServiceBusReceiver`` used here."""

    def peek_messages(self, max_message_count: int = 1, *,
                      sequence_number: int = 0) -> list[ServiceBusReceivedMessage]: ...

    def receive_messages(self, max_message_count: int | None = 1,
                         max_wait_time: float | None = None) -> list[ServiceBusReceivedMessage]: ...

    def complete_message(self, message: ServiceBusReceivedMessage) -> None: ...

    def close(self) -> None: ...


class ReceiverClient(Protocol):
    """The part of ``azure.servicebus.ServiceBusClient`` used here."""

    def get_queue_receiver(self, queue_name: str, *, sub_queue: ServiceBusSubQueue | None = None,
                           receive_mode: ServiceBusReceiveMode = ServiceBusReceiveMode.PEEK_LOCK,
                           max_wait_time: float | None = None) -> DeadLetterReceiver: ...


class ServiceBusDeadLetters:
    def __init__(self, client: ReceiverClient, sender: QueueSender) -> None:
        self._client = client
        self._sender = sender

    def count(self, queue: str) -> DeadLetterCount:
        sessions: list[str] = []
        with self._receiver(queue) as receiver:
            next_sequence = 0
            while len(sessions) < MAX_COUNTED:
                batch = receiver.peek_messages(PEEK_BATCH, sequence_number=next_sequence)
                if not batch:
                    break
                sessions += [m.session_id or "" for m in batch]
                next_sequence = max(m.sequence_number or 0 for m in batch) + 1
        return count_of(queue, sessions)

    def redrive(self, queue: str) -> int:
        moved = 0
        with self._receiver(queue) as receiver:
            while moved < MAX_REDRIVE:
                batch = receiver.receive_messages(min(RECEIVE_BATCH, MAX_REDRIVE - moved),
                                                  max_wait_time=RECEIVE_WAIT_SECONDS)
                if not batch:
                    break
                self._sender.send(queue, [_resent(m) for m in batch])
                for message in batch:
                    receiver.complete_message(message)
                moved += len(batch)
        return moved

    @contextmanager
    def _receiver(self, queue: str) -> Iterator[DeadLetterReceiver]:
        try:
            receiver = self._client.get_queue_receiver(
                queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER,
                receive_mode=ServiceBusReceiveMode.PEEK_LOCK, max_wait_time=RECEIVE_WAIT_SECONDS)
        except AzureError as error:
            raise QueueUnavailable(
                f"dead letters of {queue!r} unavailable ({type(error).__name__})") from error
        try:
            yield receiver
        except AzureError as error:
            raise QueueUnavailable(
                f"dead letters of {queue!r} unavailable ({type(error).__name__})") from error
        finally:
            receiver.close()


def _resent(message: ServiceBusReceivedMessage) -> QueueMessage:
    original = str(message.message_id)
    suffix = f":r{message.sequence_number}"
    properties = {
        _text(key): _text(value)
        for key, value in (message.application_properties or {}).items()
        if _text(key) not in _DEAD_LETTER_PROPERTIES
    }
    properties["original_message_id"] = original
    return QueueMessage(
        body=b"".join(message.body),
        session_id=str(message.session_id),
        message_id=original[: MAX_ID_LENGTH - len(suffix)] + suffix,
        content_type=message.content_type or "application/json",
        properties=properties,
    )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
