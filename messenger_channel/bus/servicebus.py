"""The Service Bus adapter of the queue port, used in Azure.

The Functions output binding cannot set SessionId, MessageId or a scheduled time, so the app
sends with the ``azure-servicebus`` SDK (sync API).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Collection, Sequence
from contextlib import suppress
from datetime import UTC
from typing import Protocol

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.identity import DefaultAzureCredential
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusMessageBatch
from azure.servicebus.exceptions import MessageSizeExceededError

from messenger_channel import metering
from messenger_channel.bus.port import QueueMessage, QueueUnavailable
from messenger_channel.bus.queues import QUEUES
from messenger_channel.bus.servicebus_deadletters import ReceiverClient
from messenger_channel.telemetry.propagation import with_trace_context

# The SDK's type for application property values (``PrimitiveTypes``, not exported).
_PropertyValue = int | float | bytes | bool | str | uuid.UUID


class MessageSender(Protocol):
    """The part of ``azure.servicebus.ServiceBusSender`` this adapter uses."""

    def create_message_batch(self) -> ServiceBusMessageBatch: ...

    def send_messages(self, message: ServiceBusMessageBatch) -> None: ...

    def close(self) -> None: ...


class SenderClient(Protocol):
    """The part of ``azure.servicebus.ServiceBusClient`` this adapter uses."""

    def get_queue_sender(self, queue_name: str) -> MessageSender: ...

    def close(self) -> None: ...


class ServiceBusQueueSender:
    """A ``QueueSender`` on Service Bus, with one cached sender (one AMQP link) per queue.

    SDK senders are not thread-safe, so each queue's sender is used under its own lock; the
    two queues send in parallel.
    """

    def __init__(self, client: SenderClient, queues: Collection[str] = tuple(QUEUES),
                 receivers: ReceiverClient | None = None) -> None:
        self._client = client
        # The same SDK client, for reading dead letters; a sender-only fake has none.
        self.receivers = receivers
        self._locks = {queue: threading.Lock() for queue in queues}
        self._senders: dict[str, MessageSender] = {}
        self._closed = False

    @classmethod
    def from_connection_string(cls, connection_string: str) -> ServiceBusQueueSender:
        client = ServiceBusClient.from_connection_string(connection_string)
        return cls(client, receivers=client)

    @classmethod
    def from_namespace(cls, fully_qualified_namespace: str,
                       credential: TokenCredential | None = None) -> ServiceBusQueueSender:
        """Identity-based: managed identity in Azure, the developer's login elsewhere."""
        client = ServiceBusClient(fully_qualified_namespace, credential or DefaultAzureCredential())
        return cls(client, receivers=client)

    def send(self, queue: str, messages: Sequence[QueueMessage]) -> None:
        """Send in as few batches as fit. Each batch is atomic, several are not: after a
        ``QueueUnavailable`` the caller resends all, and duplicate detection drops the part
        already sent. A message larger than the queue accepts raises ``ValueError`` before
        anything is sent, since retrying cannot help."""
        lock = self._lock(queue)
        if not messages:
            return
        outgoing = [_service_bus_message(message) for message in messages]
        with lock:
            try:
                sender = self._sender(queue)
                batches = _batches(sender, outgoing)
                for batch in batches:
                    sender.send_messages(batch)
            except AzureError as error:  # ServiceBusError and credential errors included
                self._discard(queue)
                raise _unavailable(queue, error) from error
        # Every message of a batch is a billed operation. Receiving and settling them is the
        # Functions host's, not counted in this process: about two operations more each.
        metering.add({"queue.sent": len(messages), "queue.send_calls": 1,
                      "queue.send_batches": len(batches),
                      "queue.scheduled": sum(m.scheduled_at is not None for m in messages),
                      "servicebus.operations": len(messages)}, queue=queue)

    def check(self) -> None:
        """Open a fresh link to every queue: a cached link would hide a namespace, queue or
        permission that has gone away since it was opened."""
        self._raise_if_closed()
        for queue in self._locks:
            probe = self._client.get_queue_sender(queue)
            try:
                probe.create_message_batch()
            except AzureError as error:
                raise _unavailable(queue, error) from error
            finally:
                with suppress(AzureError):
                    probe.close()

    def close(self) -> None:
        self._closed = True  # first, so that no send opens a new sender meanwhile
        for queue, lock in self._locks.items():
            with lock:
                self._discard(queue)
        self._client.close()

    def _lock(self, queue: str) -> threading.Lock:
        try:
            return self._locks[queue]
        except KeyError:
            raise ValueError(f"unknown queue {queue!r}") from None

    def _sender(self, queue: str) -> MessageSender:
        """The queue's cached sender; call with the queue's lock held."""
        self._raise_if_closed()
        sender = self._senders.get(queue)
        if sender is None:
            sender = self._senders[queue] = self._client.get_queue_sender(queue)
        return sender

    def _discard(self, queue: str) -> None:
        """Drop the queue's sender (after a failure its link may be unusable); the next send
        opens a new one. Call with the queue's lock held."""
        sender = self._senders.pop(queue, None)
        if sender is not None:
            with suppress(AzureError):
                sender.close()

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise QueueUnavailable("the Service Bus sender is closed")


# The SDK's own tracing (on in Azure: the distro's ``azure_sdk`` instrumentation) adds these
# under bytes keys, with ``setdefault``: the same name as a str key would go out as a second
# key of the AMQP map (its keys are strings on the wire either way). Keyed as the SDK keys
# them, the context given here stands and each name is sent once.
_SDK_TRACE_KEYS = frozenset({"traceparent", "tracestate", "Diagnostic-Id"})


def _service_bus_message(message: QueueMessage) -> ServiceBusMessage:
    # The current trace context (traceparent) rides along: the consumer continues the trace.
    properties: dict[str | bytes, _PropertyValue] = {
        (key.encode("ascii") if key in _SDK_TRACE_KEYS else key): value
        for key, value in with_trace_context(message.properties).items()}
    return ServiceBusMessage(
        message.body,
        session_id=message.session_id,
        message_id=message.message_id,
        content_type=message.content_type,
        application_properties=properties or None,
        scheduled_enqueue_time_utc=(None if message.scheduled_at is None
                                    else message.scheduled_at.astimezone(UTC)),
    )


def _batches(sender: MessageSender,
             messages: Sequence[ServiceBusMessage]) -> list[ServiceBusMessageBatch]:
    """Fill batches in order, so each session's messages keep their order. One batch may mix
    sessions because the queues are not partitioned (infra/app/service-bus.bicep)."""
    batches = [sender.create_message_batch()]
    for message in messages:
        if _added(batches[-1], message):
            continue
        if len(batches[-1]):  # full: the message may fit in a new one
            batches.append(sender.create_message_batch())
            if _added(batches[-1], message):
                continue
        raise ValueError(f"message {message.message_id!r} is larger than the queue accepts "
                         f"({batches[-1].max_size_in_bytes} bytes per batch)")
    return batches


def _added(batch: ServiceBusMessageBatch, message: ServiceBusMessage) -> bool:
    try:
        batch.add_message(message)
    except MessageSizeExceededError:
        return False
    return True


def _unavailable(queue: str, error: AzureError) -> QueueUnavailable:
    # The error's class says enough (authentication, not found, timeout, ...); its text is
    # left out so that nothing from the connection ever reaches a log line or a response.
    return QueueUnavailable(f"Service Bus queue {queue!r} unavailable ({type(error).__name__})")
