"""Drive a Service Bus-triggered function from the local queue, settling like the host does:
complete on return, abandon on exception (the delivery count grows toward dead-letter). While
the function runs its message's lock is renewed, at half the lock duration, up to host.json's
``extensions.serviceBus.maxAutoLockRenewalDuration`` (the extension's default: 5 minutes), as
the Functions host does; a function that runs longer loses the lock and its message is
delivered again."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from azure.functions.servicebus import ServiceBusMessage

from devhost.invoke import invoke_sync
from devhost.loader import FunctionSpec
from messenger_channel.bus.local import LocalQueue, LockLost, ReceivedMessage
from messenger_channel.bus.port import QueueUnavailable

log = logging.getLogger("devhost.queue")

# The Service Bus extension's default for maxAutoLockRenewalDuration.
DEFAULT_MAX_LOCK_RENEWAL = timedelta(minutes=5)
_TIME_SPAN = re.compile(r"^(\d+):(\d{2}):(\d{2})$")


def max_lock_renewal(host_json: Path | None) -> timedelta:
    """``extensions.serviceBus.maxAutoLockRenewalDuration`` of the app's host.json
    (``hh:mm:ss``), or the extension's default."""
    if host_json is None or not host_json.exists():
        return DEFAULT_MAX_LOCK_RENEWAL
    host = json.loads(host_json.read_text())
    value = host.get("extensions", {}).get("serviceBus", {}).get("maxAutoLockRenewalDuration")
    if value is None:
        return DEFAULT_MAX_LOCK_RENEWAL
    match = _TIME_SPAN.match(str(value))
    if match is None:
        raise ValueError(f"{host_json}: maxAutoLockRenewalDuration {value!r} is not hh:mm:ss")
    hours, minutes, seconds = (int(part) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


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
    def __init__(self, spec: FunctionSpec, queue: LocalQueue, concurrency: int = 4,
                 max_lock_renewal: timedelta = DEFAULT_MAX_LOCK_RENEWAL) -> None:
        assert spec.queue_name is not None
        self.spec = spec
        self.queue = queue
        self.concurrency = concurrency
        self.max_lock_renewal = max_lock_renewal

    def process(self, message: ReceivedMessage) -> bool:
        """Run the function on one locked message and settle it; True when it succeeded."""
        try:
            with self._lock_renewed(message):
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

    @contextmanager
    def _lock_renewed(self, message: ReceivedMessage) -> Iterator[None]:
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(message, done), daemon=True,
                                   name=f"lock-{self.spec.name}")
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()

    def _renew(self, message: ReceivedMessage, done: threading.Event) -> None:
        """Until ``done``: renew the lock at half its duration, for at most
        ``max_lock_renewal`` from now (the host's limit counts from the message's arrival)."""
        assert message.locked_until is not None  # a received message is locked
        interval = max((message.locked_until - self.queue.clock.now()).total_seconds() / 2,
                       0.01)
        stop_at = time.monotonic() + self.max_lock_renewal.total_seconds()
        while not done.wait(min(interval, max(stop_at - time.monotonic(), 0))):
            if time.monotonic() >= stop_at:
                log.warning("lock renewal limit reached; the lock will expire",
                            extra={"function": self.spec.name, "message_id": message.message_id})
                return
            try:
                self.queue.renew_lock(message)
            except LockLost:
                return  # settled meanwhile, or lost: the settle reports it
            except QueueUnavailable:
                log.exception("lock renewal failed", extra={"function": self.spec.name})

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
