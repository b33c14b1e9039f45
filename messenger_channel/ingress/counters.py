"""Counts of what the webhook accepted but did not route (quarantined payloads and events, see
``quarantine``; events for unknown pages), per account, for the health route.
Rare events: an ETag update each is fine."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from messenger_channel.storage.tables import Entity, Table, TableStore

Reason = Literal["quarantined", "unknown_page"]


class IngressCounter(Entity):
    account_id: str
    reason: str
    count: int
    last_at: datetime
    last_detail: str | None = None

    def partition_key(self) -> str:
        return self.account_id

    def row_key(self) -> str:
        return self.reason


class IngressCounters:
    def __init__(self, store: TableStore) -> None:
        self._table: Table[IngressCounter] = store.table("IngressCounters", IngressCounter)

    def add(
        self,
        account_id: str,
        reason: Reason,
        now: datetime,
        detail: str | None = None,
        amount: int = 1,
    ) -> None:
        detail = detail[:500] if detail else None
        # A new counter starts at 0 and goes through the same increment as an existing one.
        self._table.create_or_update(
            account_id,
            reason,
            lambda: IngressCounter(
                account_id=account_id, reason=reason, count=0, last_at=now, last_detail=detail
            ),
            lambda c: c.model_copy(
                update={"count": c.count + amount, "last_at": now, "last_detail": detail}
            ),
        )

    def of(self, account_id: str) -> dict[str, int]:
        return {c.reason: c.count for c in self._table.list_partition(account_id)}
