"""The removed pages whose open conversations are still to be closed (``page_removal``).

============== ============ ========== ===================================================
table          PartitionKey RowKey     why
============== ============ ========== ===================================================
PageRemovals   ``pending``  page id    a page whose conversations are not all closed yet:
                                       the ``page_removals`` timer reads this one small
                                       partition every run, and the management API shows
                                       ``to_close`` as ``conversations_to_close``
============== ============ ========== ===================================================

A pass over a removed page notes its row with what it found open before it closes any (so a
pass cut off midway leaves the rest findable by the next run), writes what it left, and
deletes the row when it left nothing. ``to_close`` is an upper bound: a concurrent pass may
have closed some meanwhile, and the next pass corrects it. A page with nothing open never
gets a row: its delete costs no write here.
"""

from __future__ import annotations

from datetime import datetime

from messenger_channel.storage.tables import Entity, Table, TableStore

PENDING = "pending"


class PendingRemoval(Entity):
    page_id: str
    account_id: str
    to_close: int
    noted_at: datetime
    updated_at: datetime

    def partition_key(self) -> str:
        return PENDING

    def row_key(self) -> str:
        return self.page_id


class RemovalBacklog:
    def __init__(self, store: TableStore) -> None:
        self.rows: Table[PendingRemoval] = store.table("PageRemovals", PendingRemoval)

    def pending(self) -> list[PendingRemoval]:
        """Every page still to settle: one partition, as small as the removals under way."""
        return self.rows.list_partition(PENDING)

    def get(self, page_id: str) -> PendingRemoval | None:
        return self.rows.get(PENDING, page_id)

    def of_account(self, account_id: str) -> list[PendingRemoval]:
        return list(self.rows.query_all("PartitionKey eq @pk and account_id eq @account",
                                        {"pk": PENDING, "account": account_id}))

    def note(self, page_id: str, account_id: str, to_close: int, now: datetime) -> None:
        """The page has ``to_close`` (> 0) conversations left to close; idempotent."""
        def mutate(row: PendingRemoval) -> PendingRemoval | None:
            if row.to_close == to_close:
                return None
            return row.model_copy(update={"to_close": to_close, "updated_at": now})

        self.rows.create_or_update(
            PENDING, page_id,
            lambda: PendingRemoval(page_id=page_id, account_id=account_id, to_close=to_close,
                                   noted_at=now, updated_at=now),
            mutate)

    def settled(self, page_id: str) -> None:
        """Nothing of the page is left open: it leaves the backlog (idempotent)."""
        self.rows.delete(PENDING, page_id)



def conversations_to_close(store: TableStore, page_id: str) -> int:
    """What the backlog says is left to close on the page (0: nothing)."""
    row = RemovalBacklog(store).get(page_id)
    return 0 if row is None else row.to_close
