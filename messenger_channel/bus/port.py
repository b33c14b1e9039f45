"""The sending side of the queue port, shared by the Service Bus and the local adapter."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from messenger_channel.bus.queues import INBOUND

# Service Bus limits MessageId and SessionId to 128 characters.
MAX_ID_LENGTH = 128


class QueueUnavailable(Exception):
    """The queue could not be reached or refused the message; the caller may retry later."""


@dataclass(frozen=True)
class QueueMessage:
    body: bytes
    session_id: str
    message_id: str
    scheduled_at: datetime | None = None
    content_type: str = "application/json"
    properties: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("session_id", "message_id"):
            value = getattr(self, name)
            if not value or len(value) > MAX_ID_LENGTH:
                raise ValueError(f"{name} must be 1 to {MAX_ID_LENGTH} characters")
        if self.scheduled_at is not None and self.scheduled_at.tzinfo is None:
            raise ValueError("scheduled_at must be timezone-aware")


class QueueSender(Protocol):
    def send(self, queue: str, messages: Sequence[QueueMessage]) -> None:
        """Durably enqueue every message or raise ``QueueUnavailable``; duplicates (same
        message id within the queue's window) are dropped silently, as Service Bus does."""
        ...

    def check(self) -> None:
        """Raise ``QueueUnavailable`` when the queues cannot be reached."""
        ...


# Counting reads the dead letters themselves (Service Bus gives no count without the admin
# role): beyond this many, the count shown is a lower bound.
MAX_COUNTED = 5000


@dataclass(frozen=True)
class DeadLetterCount:
    queue: str
    count: int
    # Inbound sessions are "{page_id}:{psid}"; outbound ones are conversations, not pages.
    by_page: dict[str, int] = field(default_factory=dict)
    at_least: bool = False  # MAX_COUNTED reached
    depth: int | None = None  # live messages; None where only dead letters can be read


class DeadLetterQueues(Protocol):
    def count(self, queue: str) -> DeadLetterCount: ...

    def redrive(self, queue: str) -> int:
        """Put every dead letter of ``queue`` back in it; returns how many moved."""
        ...


def count_of(queue: str, session_ids: Iterable[str]) -> DeadLetterCount:
    sessions = list(session_ids)
    pages = Counter(s.split(":", 1)[0] for s in sessions if queue == INBOUND.name and ":" in s)
    return DeadLetterCount(queue, len(sessions), dict(pages), len(sessions) >= MAX_COUNTED)
