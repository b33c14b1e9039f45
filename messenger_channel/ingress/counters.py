"""Counts of what the webhook accepted but did not route (quarantined payloads and events, see
``quarantine``; events for unknown pages or pages being removed), per account, for the health
route.

Each count is spread over ``SHARDS`` rows, one picked at random per increment: a burst of
hostile bodies on concurrent requests would otherwise race for one row's ETag until a writer
gives up (a 503 for Meta to retry). Reading sums them."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Literal

from messenger_channel.storage.tables import Entity, Table, TableStore

Reason = Literal["quarantined", "unknown_page", "page_removed"]
UNROUTED: tuple[Reason, ...] = ("unknown_page", "page_removed")  # answered 200, not routed
SHARDS = 8


class IngressCounter(Entity):
    account_id: str
    reason: str
    count: int
    last_at: datetime
    last_detail: str | None = None
    shard: int | None = None  # None: a row written before counts were sharded

    def partition_key(self) -> str:
        return self.account_id

    def row_key(self) -> str:
        return self.reason if self.shard is None else f"{self.reason}.{self.shard}"


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
        shard = random.randrange(SHARDS)  # noqa: S311 - spreads writers; nothing secret
        # A new counter starts at 0 and goes through the same increment as an existing one.
        self._table.create_or_update(
            account_id,
            f"{reason}.{shard}",
            lambda: IngressCounter(
                account_id=account_id, reason=reason, count=0, last_at=now, last_detail=detail,
                shard=shard,
            ),
            lambda c: c.model_copy(
                update={"count": c.count + amount, "last_at": now, "last_detail": detail}
            ),
        )

    def of(self, account_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for counter in self._table.list_partition(account_id):
            counts[counter.reason] = counts.get(counter.reason, 0) + counter.count
        return counts
