"""Every accepted event in Blob storage by account and day, as the ``inbound`` queue message
(the envelope with the event as Meta sent it), so events can be replayed
(``POST /api/manage/replay``) and nothing accepted is ever lost. The router archives each
event before it completes the event's queue message; the webhook keeps only the payloads it
quarantines."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from messenger_channel.storage.blobs import BlobStore

ARCHIVE_CONTAINER = "webhook-archive"
QUARANTINE_CONTAINER = "quarantine"
SESSION_METADATA = "session"


@dataclass(frozen=True)
class ArchivedBody:
    name: str
    received_at: datetime
    body: bytes


def blob_name(account_id: str, received_at: datetime, body: bytes) -> str:
    # Sortable by time within a day's folder; the digest makes a retried body land on itself.
    digest = hashlib.sha256(body).hexdigest()[:16]
    return f"{account_id}/{received_at:%Y/%m/%d}/{received_at:%H%M%S%f}-{digest}.json"


def _received_at(name: str) -> datetime | None:
    try:
        _, year, month, day, rest = name.split("/")
        return datetime.strptime(f"{year}{month}{day}{rest[:12]}+0000", "%Y%m%d%H%M%S%f%z")
    except ValueError:
        return None


class WebhookArchive:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs

    def keep(self, account_id: str, received_at: datetime, body: bytes,
             session: str | None = None) -> str:
        """Idempotent: a redelivered message has the same bytes, so the same name. The queue
        session (``page:psid``) goes in the blob's metadata: retention reads it from the
        listing to spare the events of customers whose conversation is still open."""
        name = blob_name(account_id, received_at, body)
        self._blobs.upload(ARCHIVE_CONTAINER, name, body, "application/json",
                           metadata={SESSION_METADATA: session}
                           if session and session.isascii() and session.isprintable() else None)
        return name

    def quarantine(self, account_id: str, received_at: datetime, body: bytes) -> str:
        name = blob_name(account_id, received_at, body)
        self._blobs.upload(QUARANTINE_CONTAINER, name, body, "application/json")
        return name

    def between(self, account_id: str, start: datetime, end: datetime) -> Iterator[ArchivedBody]:
        """What was archived for ``account_id`` and received in ``[start, end)``, oldest first."""
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < end:
            for info in self._blobs.list(ARCHIVE_CONTAINER, f"{account_id}/{day:%Y/%m/%d}/"):
                moment = _received_at(info.name)
                if moment is not None and start <= moment < end:
                    yield ArchivedBody(
                        info.name, moment, self._blobs.download(ARCHIVE_CONTAINER, info.name)
                    )
            day += timedelta(days=1)
