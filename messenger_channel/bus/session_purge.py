"""Removing one session's queued messages, for an erasure ("anything queued for them").

Locally the SQLite adapter deletes them in one transaction. On Service Bus the app holds the
receiver role only: it takes the session's lock, receives its messages and completes those to
remove (abandoning the others), then reads the dead-letter sub-queue (not session-aware) and
completes the session's dead letters there, leaving the rest to their lapsing locks, up to
``MAX_SCANNED``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusReceiveMode, ServiceBusSubQueue
from azure.servicebus.exceptions import OperationTimeoutError, SessionCannotBeLockedError

from messenger_channel.bus.local import LocalQueue
from messenger_channel.bus.port import MAX_COUNTED, QueueSender, QueueUnavailable
from messenger_channel.bus.servicebus import ServiceBusQueueSender

MAX_SCANNED = MAX_COUNTED
RECEIVE_BATCH = 100
WAIT_SECONDS = 2.0

Pick = Callable[[bytes], bool]


class SessionPurger(Protocol):
    def purge_session(self, queue: str, session_id: str, should_remove: Pick) -> int: ...


class ServiceBusSessionPurge:
    def __init__(self, client: Any) -> None:
        self._client = client  # azure.servicebus.ServiceBusClient

    def purge_session(self, queue: str, session_id: str, should_remove: Pick) -> int:
        try:
            return (self._live(queue, session_id, should_remove)
                    + self._dead(queue, session_id, should_remove))
        except AzureError as error:
            raise QueueUnavailable(f"purge of {queue!r} failed ({type(error).__name__})") from error

    def _live(self, queue: str, session_id: str, should_remove: Pick) -> int:
        removed = 0
        try:
            receiver = self._client.get_queue_receiver(
                queue, session_id=session_id, receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
                max_wait_time=WAIT_SECONDS)
        except (SessionCannotBeLockedError, OperationTimeoutError):
            return 0  # no message in the session, or a consumer holds it: the router drops them
        with receiver:
            while batch := receiver.receive_messages(RECEIVE_BATCH, max_wait_time=WAIT_SECONDS):
                for message in batch:
                    if should_remove(b"".join(message.body)):
                        receiver.complete_message(message)
                        removed += 1
                if len(batch) < RECEIVE_BATCH:
                    break
        return removed

    def _dead(self, queue: str, session_id: str, should_remove: Pick) -> int:
        removed = scanned = 0
        with self._client.get_queue_receiver(
                queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER,
                receive_mode=ServiceBusReceiveMode.PEEK_LOCK, max_wait_time=WAIT_SECONDS,
        ) as receiver:
            while scanned < MAX_SCANNED and (
                    batch := receiver.receive_messages(RECEIVE_BATCH, max_wait_time=WAIT_SECONDS)):
                for message in batch:
                    scanned += 1
                    # Others are left locked: their locks lapse, so the scan moves past them.
                    if message.session_id == session_id and should_remove(b"".join(message.body)):
                        receiver.complete_message(message)
                        removed += 1
        return removed


def session_purger(sender: QueueSender) -> SessionPurger | None:
    """The purger behind the app's queue sender; None when it cannot receive."""
    if isinstance(sender, LocalQueue):
        return sender
    if isinstance(sender, ServiceBusQueueSender) and sender.receivers is not None:
        return ServiceBusSessionPurge(sender.receivers)
    return None
