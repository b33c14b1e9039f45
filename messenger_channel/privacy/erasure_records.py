"""Erasure requests and their status records.

============== ============ ============================ ====================================
table          PartitionKey RowKey                       why
============== ============ ============================ ====================================
Erasures       erasure id   ``erasure``                  the status record: a point read
               ``pending``  ``<requested ms:013>|<id>``  what the job still has to do, oldest
                                                         first: one range read per run
               erasure id   ``conversation|<id>``        each conversation erased, for the
                                                         final re-check (ids only)
============== ============ ============================ ====================================

Asking twice for the same customer while an erasure runs answers the same erasure: the
customer's hold row (``conversations/erasure_hold.py``) is created first and names it. The
PSID is kept on the record only until the job is done; after that the record names the
customer by a pseudonym.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from messenger_channel.audit.log import Actor, AuditLog
from messenger_channel.conversations.erasure_hold import ErasureHold, erasure_holds
from messenger_channel.services import Services
from messenger_channel.storage.errors import AlreadyExists
from messenger_channel.storage.tables import Entity, Table, TableStore

ErasureState = Literal["pending", "done", "failed"]
Step = Literal["conversations", "contact", "archive", "quarantine", "queue", "finish"]
STEPS: tuple[Step, ...] = ("conversations", "contact", "archive", "quarantine", "queue",
                           "finish")


class Erasure(Entity):
    id: str
    page_id: str
    psid: str | None = None  # cleared when done
    subject: str  # the customer's pseudonym, kept
    state: ErasureState
    step: Step = "conversations"
    counts: dict[str, int] = Field(default_factory=dict)
    requested_at: datetime
    requested_by: str  # "<actor kind>:<actor id>"
    attempts: int = 0
    last_error: str | None = None  # an error's type, never its message (it may hold data)
    lease_until: datetime | None = None
    # When every conversation was closed and scrubbed: the final re-check waits until what
    # was in flight then has surely ended (``erasure_job.SETTLE``).
    settle_from: datetime | None = None
    finished_at: datetime | None = None

    def partition_key(self) -> str:
        return self.id

    def row_key(self) -> str:
        return "erasure"


class ErasedConversation(Entity):
    erasure_id: str
    conversation_id: str

    def partition_key(self) -> str:
        return self.erasure_id

    def row_key(self) -> str:
        return f"conversation|{self.conversation_id}"


class PendingErasure(Entity):
    key: str
    erasure_id: str

    def partition_key(self) -> str:
        return "pending"

    def row_key(self) -> str:
        return self.key


def pending_key(requested_at: datetime, erasure_id: str) -> str:
    return f"{int(requested_at.timestamp() * 1000):013d}|{erasure_id}"


class ErasureRecords:
    def __init__(self, store: TableStore) -> None:
        self.records: Table[Erasure] = store.table("Erasures", Erasure)
        self.pending: Table[PendingErasure] = store.table("Erasures", PendingErasure)
        self.holds: Table[ErasureHold] = erasure_holds(store)
        self.erased: Table[ErasedConversation] = store.table("Erasures", ErasedConversation)

    def get(self, erasure_id: str) -> Erasure | None:
        return self.records.get(erasure_id, "erasure")

    def due(self, limit: int) -> list[PendingErasure]:
        return self.pending.query("PartitionKey eq @pk", {"pk": "pending"},
                                  page_size=limit).items

    def erased_conversations(self, erasure_id: str) -> list[str]:
        """One range read: bounded by the customer's own conversations."""
        return [row.conversation_id for row in self.erased.query_all(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            {"pk": erasure_id, "lo": "conversation|", "hi": "conversation}"})]


def request_erasure(services: Services, page_id: str, psid: str, actor: Actor,
                    subject: str) -> Erasure:
    """Start (or find the running) erasure of a customer; idempotent, and safe to retry after
    a crash at any point (each write is found again by the next attempt)."""
    records = ErasureRecords(services.tables)
    now = services.clock.now()
    hold = ErasureHold(page_id=page_id, psid=psid, erasure_id=f"er_{uuid.uuid4().hex[:20]}",
                       requested_at=now)
    try:
        records.holds.create(hold)
    except AlreadyExists:
        existing = records.holds.get(page_id, psid)
        hold = existing or hold
    record = records.get(hold.erasure_id)
    if record is None:
        record = Erasure(id=hold.erasure_id, page_id=page_id, psid=psid, subject=subject,
                         state="pending", requested_at=hold.requested_at,
                         requested_by=f"{actor.kind}:{actor.id}")
        try:
            records.records.create(record)
        except AlreadyExists:
            record = records.get(hold.erasure_id) or record
        else:
            AuditLog(services.tables, services.clock).record(
                actor, "erasure.requested", f"erasure:{record.id}",
                {"page_id": page_id, "subject": subject}, entry_id=f"au_req_{record.id}")
    records.pending.upsert(PendingErasure(key=pending_key(record.requested_at, record.id),
                                          erasure_id=record.id))
    return record
