"""The two queues and their properties. infra/ declares the same values for Service Bus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class QueueSpec:
    name: str
    max_delivery_count: int
    lock_duration: timedelta
    duplicate_detection_window: timedelta
    # Service Bus requiresSession: a trigger on the queue must be session-enabled to receive.
    sessions: bool = True


# Meta retries a failed webhook delivery for hours; a day of duplicate detection covers that.
INBOUND = QueueSpec(
    "inbound",
    max_delivery_count=10,
    lock_duration=timedelta(minutes=1),
    duplicate_detection_window=timedelta(days=1),
    sessions=True,  # one customer's events in order
)
OUTBOUND = QueueSpec(
    "outbound",
    max_delivery_count=10,
    lock_duration=timedelta(minutes=1),
    duplicate_detection_window=timedelta(days=1),
    sessions=True,  # one conversation's messages in order
)

QUEUES: dict[str, QueueSpec] = {spec.name: spec for spec in (INBOUND, OUTBOUND)}
