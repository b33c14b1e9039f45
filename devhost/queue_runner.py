"""Drive a Service Bus-triggered function from the local queue, settling like the host does:
complete on return, abandon on exception (the delivery count grows toward dead-letter)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from azure.functions.servicebus import ServiceBusMessage

from devhost.invoke import invoke_sync
from devhost.loader import FunctionSpec
from messenger_channel.bus.local import LocalQueue, LockLost, ReceivedMessage

log = logging.getLogger("devhost.queue")


@dataclass
class DrainResult:
    processed: int = 0
    failed: int = 0


def to_trigger_message(message: ReceivedMessage) -> ServiceBusMessage:
    return ServiceBusMessage(
        body=message.body,
        message_id=message.message_id,
        session_id=message.session_id,
        delivery_count=message.delivery_count,
        enqueued_time_utc=message.enqueued_at,
        scheduled_enqueue_time_utc=message.scheduled_at,
        sequence_number=message.sequence_number,
        lock_token=message.lock_token,
        locked_until=message.locked_until,
        content_type=message.content_type,
        application_properties=dict(message.properties),
        user_properties=dict(message.properties),
    )


class QueueFunctionRunner:
    def __init__(self, spec: FunctionSpec, queue: LocalQueue, concurrency: int = 4) -> None:
        assert spec.queue_name is not None
        self.spec = spec
        self.queue = queue
        self.concurrency = concurrency

    def process(self, message: ReceivedMessage) -> bool:
        """Run the function on one locked message and settle it; True when it succeeded."""
        try:
            invoke_sync(self.spec, to_trigger_message(message))
        except Exception as error:
            log.exception(
                "function failed; message abandoned",
                extra={
                    "function": self.spec.name,
                    "message_id": message.message_id,
                    "session_id": message.session_id,
                    "delivery_count": message.delivery_count,
                },
            )
            self._settle(message, f"{type(error).__name__}: {error}")
            return False
        self._settle(message, None)
        return True

    def _settle(self, message: ReceivedMessage, failure: str | None) -> None:
        try:
            if failure is None:
                self.queue.complete(message)
            else:
                self.queue.abandon(message, failure[:1000])
        except LockLost:
            log.warning(
                "lock lost before settling; the message will be delivered again",
                extra={"function": self.spec.name, "message_id": message.message_id},
            )

    def drain(self) -> DrainResult:
        """Process every message due now. A session whose message fails is left alone for the
        rest of this run (its later messages must wait for it), so a drain always ends."""
        assert self.spec.queue_name is not None
        result = DrainResult()
        failed_sessions: set[str] = set()
        while (
            message := self.queue.receive(self.spec.queue_name, exclude_sessions=failed_sessions)
        ) is not None:
            if self.process(message):
                result.processed += 1
            else:
                result.failed += 1
                failed_sessions.add(message.session_id)
        return result

    def run_forever(self, stop: threading.Event, poll_seconds: float = 0.1) -> None:
        """Background delivery: up to ``concurrency`` sessions in parallel, one message each;
        an idle runner waits ``poll_seconds`` or until this process sends to its queue."""
        assert self.spec.queue_name is not None
        slots = threading.Semaphore(self.concurrency)
        arrival = self.queue.arrival(self.spec.queue_name)
        with ThreadPoolExecutor(
            self.concurrency, thread_name_prefix=f"queue-{self.spec.name}"
        ) as pool:
            while not stop.is_set():
                if not slots.acquire(timeout=poll_seconds):
                    continue
                arrival.clear()  # before receiving: a send after this wakes the wait below
                try:
                    message = self.queue.receive(self.spec.queue_name)
                except Exception:
                    log.exception("local queue receive failed", extra={"function": self.spec.name})
                    message = None
                if message is None:
                    slots.release()
                    arrival.wait(poll_seconds)  # woken by a send in this process
                    continue
                future = pool.submit(self.process, message)
                future.add_done_callback(lambda _: slots.release())
