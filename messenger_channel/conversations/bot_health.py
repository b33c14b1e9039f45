"""Bots' failures, counted for ``GET /api/manage/health``: per workstream and reason (timeout,
unreachable, http_error, not_json, invalid_answer, too_large), with when the last one was.

One small partition, as the failed sends' counts (``provisioning/queue_health.py``): the
health route reads it whole, and failures are rare enough for one counter row each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from messenger_channel.services import Services
from messenger_channel.storage.tables import Entity, Table, TableStore

log = logging.getLogger(__name__)

_PARTITION = "bot_failure"


class BotFailureCount(Entity):
    workstream_id: str
    reason: str
    count: int
    last_at: datetime

    def partition_key(self) -> str:
        return _PARTITION

    def row_key(self) -> str:
        return f"{self.workstream_id}:{self.reason}"


def _table(store: TableStore) -> Table[BotFailureCount]:
    return store.table("BotFailures", BotFailureCount)


def record_bot_failure(services: Services, workstream_id: str, reason: str) -> None:
    """Count one failed call to a bot. Never raises for a storage hiccup: the customer's
    escalation matters more than the count."""
    now = services.clock.now()
    try:
        _table(services.tables).create_or_update(
            _PARTITION, f"{workstream_id}:{reason}",
            lambda: BotFailureCount(workstream_id=workstream_id, reason=reason, count=0,
                                    last_at=now),
            lambda row: row.model_copy(update={"count": row.count + 1, "last_at": now}))
    except Exception:
        log.exception("bot failure not counted", extra={"workstream_id": workstream_id,
                                                        "reason": reason})


@dataclass(frozen=True)
class BotFailures:
    counts: dict[str, dict[str, int]]  # workstream id → reason → count
    last_at: dict[str, datetime]  # workstream id → the latest failure


def bot_failures(services: Services) -> BotFailures:
    counts: dict[str, dict[str, int]] = {}
    last_at: dict[str, datetime] = {}
    for row in _table(services.tables).list_partition(_PARTITION):
        counts.setdefault(row.workstream_id, {})[row.reason] = row.count
        seen = last_at.get(row.workstream_id)
        last_at[row.workstream_id] = row.last_at if seen is None else max(seen, row.last_at)
    return BotFailures(counts, last_at)
