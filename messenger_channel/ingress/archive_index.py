"""The archived events of one customer, so that an erasure finds them without reading the
archive (``archive.py``).

================== ================ ============== =======================================
table              PartitionKey     RowKey         why
================== ================ ============== =======================================
ArchivedByCustomer ``<page>|<psid>`` the blob name  a customer's archived events: one range
================== ================ ============== =======================================

Written by the router right after it archives an event of a customer (one upsert). Events
archived before this table existed are not listed here (see docs/DEPLOY.md, Privacy).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from messenger_channel.storage.tables import Entity, Table, TableStore

TABLE = "ArchivedByCustomer"


class ArchivedEvent(Entity):
    page_id: str
    psid: str
    blob: str
    received_at: datetime

    def partition_key(self) -> str:
        return customer_partition(self.page_id, self.psid)

    def row_key(self) -> str:
        return self.blob.replace("/", "|")  # RowKeys may not hold '/'


def customer_partition(page_id: str, psid: str) -> str:
    return f"{page_id}|{psid}"


class ArchiveIndex:
    def __init__(self, store: TableStore) -> None:
        self.rows: Table[ArchivedEvent] = store.table(TABLE, ArchivedEvent)

    def note(self, page_id: str, psid: str, blob: str, received_at: datetime) -> None:
        self.rows.upsert(ArchivedEvent(page_id=page_id, psid=psid, blob=blob,
                                       received_at=received_at))

    def of_customer(self, page_id: str, psid: str) -> Iterator[ArchivedEvent]:
        return self.rows.query_all("PartitionKey eq @pk",
                                   {"pk": customer_partition(page_id, psid)})

    def forget(self, row: ArchivedEvent) -> None:
        self.rows.delete(row.partition_key(), row.row_key())
