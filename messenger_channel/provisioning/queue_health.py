"""Queue health for ``GET /api/manage/health`` and the token check: dead letters per queue
(and per page for inbound), and the sends that failed, per page and reason.

``record_failed_send`` is what the sender calls when it marks a message ``failed`` (and
``record_recovered_send`` what an echo proving it went takes back): the message store is
partitioned by conversation, so counting there would scan every partition.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from messenger_channel.bus.deadletters import dead_letter_queues
from messenger_channel.bus.port import DeadLetterCount, QueueUnavailable
from messenger_channel.bus.queues import QUEUES
from messenger_channel.services import Services
from messenger_channel.storage.tables import Entity, Table, TableStore
from messenger_channel.telemetry import metrics

log = logging.getLogger(__name__)


class FailedSendCount(Entity):
    page_id: str
    reason: str
    count: int
    last_at: datetime

    def partition_key(self) -> str:
        # One small partition: failed sends are rare, and the health route reads them all.
        return "failed_send"

    def row_key(self) -> str:
        return f"{self.page_id}:{self.reason}"


def _failed_sends(store: TableStore) -> Table[FailedSendCount]:
    return store.table("FailedSends", FailedSendCount)


def record_failed_send(services: Services, page_id: str, reason: str) -> None:
    """Count one outbound message that ended ``failed`` with ``reason`` (API.md's failure
    reasons). Called by the sender; never raises for a storage hiccup, since the message's own
    status already tells the agent."""
    metrics.send_failed(reason)  # the same count for Application Insights
    now = services.clock.now()
    try:
        _failed_sends(services.tables).create_or_update(
            "failed_send", f"{page_id}:{reason}",
            lambda: FailedSendCount(page_id=page_id, reason=reason, count=0, last_at=now),
            lambda c: c.model_copy(update={"count": c.count + 1, "last_at": now}),
        )
    except Exception:
        log.exception("failed send not counted", extra={"page_id": page_id, "reason": reason})


def record_recovered_send(services: Services, page_id: str, reason: str) -> None:
    """Take back one ``record_failed_send``: Facebook's echo proved that a message the sender
    had marked ``failed`` (its last attempt unanswered) went out. Never raises either."""
    metrics.send_recovered(reason)
    try:
        _failed_sends(services.tables).update(
            "failed_send", f"{page_id}:{reason}",
            lambda c: c.model_copy(update={"count": c.count - 1}) if c.count > 0 else None)
    except Exception:
        log.exception("recovered send not counted", extra={"page_id": page_id, "reason": reason})


def failed_sends(services: Services) -> dict[str, dict[str, int]]:
    """page id → failure reason → count."""
    counts: dict[str, dict[str, int]] = {}
    for row in _failed_sends(services.tables).list_partition("failed_send"):
        counts.setdefault(row.page_id, {})[row.reason] = row.count
    return counts


@dataclass(frozen=True)
class QueueHealth:
    name: str
    dead_letters: DeadLetterCount | None  # None: could not be read
    problem: str | None = None


def queue_health(services: Services) -> list[QueueHealth]:
    queues = dead_letter_queues(services.queue)
    if queues is None:
        return [QueueHealth(name, None, "this queue backend cannot read dead letters")
                for name in QUEUES]
    found = []
    for name in QUEUES:
        try:
            found.append(QueueHealth(name, queues.count(name)))
        except QueueUnavailable as error:
            found.append(QueueHealth(name, None, str(error)))
    return found
