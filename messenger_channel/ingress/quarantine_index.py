"""The customers whose events a quarantined body (or a row the router quarantined) holds, so
that an erasure finds them without reading the quarantine (``quarantine.py``), as
``archive_index.py`` does for the archive.

===================== ============= ======================== =================================
table                 PartitionKey  RowKey                   why
===================== ============= ======================== =================================
QuarantinedByCustomer the rows' day ``<page>|<psid>|<blob>`` a customer's bodies: one RowKey
                      key                                    range over the days kept
===================== ============= ======================== =================================

Keyed by day, not by customer: the retention of the quarantine deletes what is past it by the
same day partitions as the Quarantine rows, without a list of the customers. An erasure reads
the customer's RowKey range over the days kept (``QUARANTINE_RETENTION_DAYS``), a bounded
table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice

from messenger_channel.storage.tables import (
    MAX_BATCH_OPERATIONS,
    Entity,
    Table,
    TableStore,
    UpsertOp,
)

TABLE = "QuarantinedByCustomer"
# Day keys of the Quarantine rows (``quarantine.day_key``) all start with "q".
_FIRST_DAY, _PAST_LAST_DAY = "q", "r"


class QuarantinedCustomer(Entity):
    day_key: str
    page_id: str
    psid: str
    blob: str  # "<container>/<name>", as on the Quarantine rows
    at: datetime

    def partition_key(self) -> str:
        return self.day_key

    def row_key(self) -> str:
        return f"{_customer(self.page_id, self.psid)}{self.blob.replace('/', '|')}"


def _customer(page_id: str, psid: str) -> str:
    return f"{page_id}|{psid}|"  # RowKeys may not hold '/'; the PSID ends before the blob


class QuarantineIndex:
    def __init__(self, store: TableStore) -> None:
        self.rows: Table[QuarantinedCustomer] = store.table(TABLE, QuarantinedCustomer)

    def note(self, day_key: str, at: datetime, blob: str,
             customers: Iterable[tuple[str, str]]) -> None:
        """One row per ``(page id, psid)``, in transactions of one day's partition."""
        rows = iter(sorted(set(customers)))
        while chunk := list(islice(rows, MAX_BATCH_OPERATIONS)):
            self.rows.transaction([UpsertOp(QuarantinedCustomer(
                day_key=day_key, page_id=page_id, psid=psid, blob=blob, at=at))
                for page_id, psid in chunk])

    def of_customer(self, page_id: str, psid: str) -> Iterator[QuarantinedCustomer]:
        prefix = _customer(page_id, psid)
        return self.rows.query_all(
            "PartitionKey ge @first and PartitionKey lt @past and RowKey ge @lo and RowKey lt @hi",
            {"first": _FIRST_DAY, "past": _PAST_LAST_DAY, "lo": prefix,
             "hi": prefix[:-1] + chr(ord("|") + 1)})

    def of_body(self, day_key: str, blob: str) -> Iterator[QuarantinedCustomer]:
        """Every customer noted for one body: a scan of its day's partition."""
        return self.rows.query_all("PartitionKey eq @day and blob eq @blob",
                                   {"day": day_key, "blob": blob})

    def older_than(self, day_key: str, limit: int) -> list[QuarantinedCustomer]:
        """Rows of the days before ``day_key``'s (day keys grow into the past)."""
        return self.rows.query("PartitionKey gt @day and PartitionKey lt @past",
                               {"day": day_key, "past": _PAST_LAST_DAY}, page_size=limit).items

    def forget(self, row: QuarantinedCustomer) -> None:
        self.rows.delete(row.partition_key(), row.row_key())
