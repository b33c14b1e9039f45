"""The daily copy of the audit log to Blob storage (``audit_export`` timer): one JSON Lines
blob per UTC day in ``audit-export``, the container that Azure keeps under a time-based
immutability policy (infra/core/storage), so no one — not the app, not an operator — can
delete or change a day once written. Each run writes the days since the last one it wrote,
up to yesterday, at most ``MAX_DAYS``; an existing blob is never overwritten."""

from __future__ import annotations

from datetime import date, timedelta

from messenger_channel.audit.log import AuditLog
from messenger_channel.services import Services
from messenger_channel.storage.errors import NotFound
from messenger_channel.storage.tables import Entity, Table, TableStore

CONTAINER = "audit-export"
MAX_DAYS = 31
FIRST_LOOKBACK = timedelta(days=7)


class AuditExportCursor(Entity):
    last_day: str

    def partition_key(self) -> str:
        return "cursor"

    def row_key(self) -> str:
        return "audit-export"


def _cursors(store: TableStore) -> Table[AuditExportCursor]:
    return store.table("AuditExports", AuditExportCursor)


def blob_name(day: date) -> str:
    return f"{day:%Y/%m/%d}.jsonl"


def run_audit_export(services: Services) -> int:
    """Returns how many days were written."""
    cursors = _cursors(services.tables)
    yesterday = services.clock.now().date() - timedelta(days=1)
    cursor = cursors.get("cursor", "audit-export")
    day = (date.fromisoformat(cursor.last_day) + timedelta(days=1) if cursor
           else yesterday - FIRST_LOOKBACK)
    audit = AuditLog(services.tables, services.clock)
    written = 0
    while day <= yesterday and written < MAX_DAYS:
        name = blob_name(day)
        try:
            services.blobs.properties(CONTAINER, name)
        except NotFound:
            lines = [entry.model_dump_json() for entry in reversed(list(audit.day(day)))]
            services.blobs.upload(CONTAINER, name, ("\n".join(lines) + "\n").encode(),
                                  "application/x-ndjson",
                                  metadata={"entries": str(len(lines))})
            written += 1
        cursors.upsert(AuditExportCursor(last_day=day.isoformat()))
        day += timedelta(days=1)
    return written

