"""Everything a running product holds, as one lowercase text to search: every entity of every
table and every blob (with its metadata) in its storage account, and the local queue's SQLite
file byte for byte (its rows, and whatever deleted rows left in its pages or its WAL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient


def stored_text(connection_string: str, queue_file: Path, prefix: str = "") -> str:
    """``prefix``: only the tables and containers of one test (the integration tier's)."""
    found: list[str] = []
    with TableServiceClient.from_connection_string(connection_string) as tables:
        for table in tables.list_tables():
            if not table.name.startswith(prefix):
                continue
            client = tables.get_table_client(table.name)
            found += [f"{table.name} {dict(entity)}" for entity in client.list_entities()]
    with BlobServiceClient.from_connection_string(connection_string) as blobs:
        for container in blobs.list_containers(name_starts_with=prefix or None):
            holder = blobs.get_container_client(container.name)
            for blob in holder.list_blobs(include="metadata"):
                data = holder.download_blob(blob.name).readall().decode(errors="replace")
                found.append(f"{container.name}/{blob.name} {blob.metadata} {data}")
    found.append(_queue_file_text(queue_file))
    return "\n".join(found).lower()


def _queue_file_text(path: Path) -> str:
    # Checkpointed first, so the file holds the current pages; the WAL is read as well, in
    # case the host's connection kept the checkpoint from finishing.
    with sqlite3.connect(path, timeout=30) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = [repr(row) for row in db.execute("SELECT * FROM messages")]
    raw = [p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
    return "\n".join([*rows, *(data.decode("latin-1") for data in raw)])
