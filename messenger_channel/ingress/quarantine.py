"""What the channel accepted from Meta but could not use: kept, counted and listed, never a 5xx.

A signed body that is not a Messenger page payload, an event the split refused (an id that is
not a Messenger id, an event too large to queue, an oversized field: see
:mod:`..facebook.webhook_events`), or an event the router could not store as it is: each gets
one ``Quarantine`` row (the reason, when, the account, the page when it is a valid id, a
redacted excerpt) and a count (``IngressCounters``, reason ``quarantined``, read by manage
health); the bytes stay in Blob storage (the signed body in the ``quarantine`` container, a
queue message in the webhook archive), where the row's ``blob`` points.

**Customers.** A refused event with a valid page id and a PSID names its customer on its row
(``psid``), and every customer of a body (those of its refused events and of the events that
went through: the body keeps their words too) is noted in ``QuarantinedByCustomer``
(``quarantine_index.py``, at most ``MAX_CUSTOMERS_PER_BODY`` per body) before the rows are
written, so that an erasure finds the body. Rows, index and bodies are kept
``QUARANTINE_RETENTION_DAYS`` (``privacy/retention.py``).

Rows are listed newest first across the whole table (``GET /api/manage/quarantine``): the
PartitionKey is the day inverted, the RowKey the time inverted, so the table's own order is the
list's. A body's rows (at most ``MAX_ROWS_PER_BODY``) share a day and go in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from messenger_channel.facebook.webhook_events import decode_webhook, split_webhook
from messenger_channel.ingress.archive import QUARANTINE_CONTAINER, WebhookArchive
from messenger_channel.ingress.counters import IngressCounters
from messenger_channel.ingress.quarantine_index import QuarantineIndex
from messenger_channel.storage.tables import (
    Entity,
    ResultPage,
    Table,
    TableStore,
    UpsertOp,
)

# What a row shows of an event: its shape, ids and numbers, never words (a customer's text, a
# token, a payload): every other string is replaced by its length.
MAX_EXCERPT_CHARS = 400
MAX_REASON_CHARS = 300
# Rows written for one body: one transaction, well inside Meta's 5 s. The rest of a body's
# refusals are counted and summed up in its last row; the signed body holds them all.
MAX_ROWS_PER_BODY = 100
# Customers noted for one body: one transaction too. A body naming more (Meta batches fewer)
# is found by no erasure: its retention removes it.
MAX_CUSTOMERS_PER_BODY = 100
TABLE = "Quarantine"
_SHOWN_KEY_CHARS = 40
_SHOWN_ITEMS = 5
_SHOWN_DEPTH = 5
_SHOWN_ID_DIGITS = 32
_LAST_DAY = 99991231
_LAST_MILLISECOND = 10**13 - 1


class QuarantineEntry(Entity):
    day_key: str
    row_id: str
    account_id: str
    at: datetime
    reason: str
    page_id: str | None = None
    psid: str | None = None  # the event's customer, when its page id and PSID are valid
    excerpt: str
    blob: str | None = None  # "<container>/<name>" of the bytes as they arrived

    def partition_key(self) -> str:
        return self.day_key

    def row_key(self) -> str:
        return self.row_id


@dataclass(frozen=True)
class Held:
    """One thing to quarantine: why, the page when known to be valid, and what it was."""

    reason: str
    raw: Any
    page_id: str | None = None


class Quarantine:
    def __init__(self, store: TableStore, archive: WebhookArchive,
                 counters: IngressCounters) -> None:
        self._table: Table[QuarantineEntry] = store.table(TABLE, QuarantineEntry)
        self._index = QuarantineIndex(store)
        self._archive = archive
        self._counters = counters

    def hold_body(self, account_id: str, now: datetime, body: bytes,
                  items: Sequence[Held]) -> None:
        """The webhook's: the signed body kept once, a row for each item (the ones past
        ``MAX_ROWS_PER_BODY`` summed up in the last), each counted."""
        if not items:
            return
        name = self._archive.quarantine(account_id, now, body)
        self._hold(account_id, now, f"{QUARANTINE_CONTAINER}/{name}", items,
                   _customers_of_body(body))

    def _hold(self, account_id: str, now: datetime, blob: str, items: Sequence[Held],
              also: Sequence[tuple[str, str]] = ()) -> None:
        """The rows of ``items``; ``also``: customers of the body besides the items'."""
        customers = {*also, *((item.page_id, psid) for item in items
                              if item.page_id is not None
                              and (psid := customer_of(item.raw, item.page_id)))}
        # First: from the moment the rows are listed, an erasure must find the body.
        self._index.note(day_key(now), now, blob,
                         sorted(customers)[:MAX_CUSTOMERS_PER_BODY])
        shown = list(items)
        if len(shown) > MAX_ROWS_PER_BODY:
            rest = len(shown) - MAX_ROWS_PER_BODY + 1
            shown = [*shown[:MAX_ROWS_PER_BODY - 1], Held(
                f"{rest} more refused events in this body (all in its blob)", None)]
        rows = [QuarantineEntry(
            day_key=day_key(now), row_id=_row_id(now, blob, index, item.reason),
            account_id=account_id, at=now, reason=item.reason[:MAX_REASON_CHARS],
            page_id=item.page_id, psid=customer_of(item.raw, item.page_id),
            excerpt=redacted_excerpt(item.raw), blob=blob)
            for index, item in enumerate(shown)]
        # Upserts: a retried delivery of the same body at the same moment lands on itself.
        self._table.transaction([UpsertOp(row) for row in rows])
        self._counters.add(account_id, "quarantined", now, detail=items[0].reason,
                           amount=len(items))

    def hold_stored(self, account_id: str, now: datetime, blob: str, item: Held) -> None:
        """The router's: an event already archived (``blob``) that could not be stored."""
        self._hold(account_id, now, blob, [item])

    def page(self, *, limit: int, continuation: str | None = None,
             after: datetime | None = None) -> ResultPage[QuarantineEntry]:
        """Newest first; ``after``: only what was quarantined later."""
        if after is None:
            return self._table.query("PartitionKey ge @lo", {"lo": "q"}, page_size=limit,
                                     continuation=continuation)
        return self._table.query("PartitionKey ge @lo and at gt @after",
                                 {"lo": "q", "after": after}, page_size=limit,
                                 continuation=continuation)


def customer_of(raw: object, page_id: str | None) -> str | None:
    """The PSID of an event whose page id is valid: its party that is not the page, when that
    is a Messenger id."""
    if page_id is None or not isinstance(raw, dict):
        return None
    for side in ("sender", "recipient"):
        party = raw.get(side)
        value = party.get("id") if isinstance(party, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value != page_id and _is_id(value):
            return value
    return None


def _customers_of_body(body: bytes) -> list[tuple[str, str]]:
    """The customers of the events of the body that went through."""
    try:
        batch = split_webhook(decode_webhook(body))
    except ValueError:
        return []
    if batch is None:
        return []
    return [(event.page_id, event.customer_psid) for event in batch.events
            if event.customer_psid is not None]


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= _SHOWN_ID_DIGITS


def day_key(moment: datetime) -> str:
    return f"q{_LAST_DAY - int(f'{moment:%Y%m%d}'):08d}"


def _row_id(moment: datetime, blob: str, index: int, reason: str) -> str:
    inverted = _LAST_MILLISECOND - int(moment.timestamp() * 1000)
    digest = hashlib.sha256(f"{blob}\x1f{index}\x1f{reason}".encode()).hexdigest()[:16]
    return f"{inverted:013d}-{digest}"


def redacted_excerpt(value: object) -> str:
    """The event's shape for an operator: keys (shortened), numbers, booleans and ids of
    digits; every other string becomes ``"<N chars>"``, so no customer's words and no token
    are ever shown."""
    text = json.dumps(_redacted(value, 0), ensure_ascii=True, separators=(",", ":"))
    return text if len(text) <= MAX_EXCERPT_CHARS else text[:MAX_EXCERPT_CHARS - 1] + "…"


def _redacted(value: object, depth: int) -> object:
    if isinstance(value, str):
        if _is_id(value):
            return value
        return f"<{len(value)} chars>"
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value if abs(value) < 10**20 else f"<{len(str(value))} digits>"
    if depth >= _SHOWN_DEPTH:
        return "<…>"
    if isinstance(value, dict):
        shown: dict[str, object] = {}
        for number, (key, item) in enumerate(value.items()):
            if number == _SHOWN_ITEMS * 2:
                shown["…"] = f"<{len(value) - number} more keys>"
                break
            shown[_shown_key(key)] = _redacted(item, depth + 1)
        return shown
    if isinstance(value, list):
        items = [_redacted(item, depth + 1) for item in value[:_SHOWN_ITEMS]]
        if len(value) > _SHOWN_ITEMS:
            items.append(f"<{len(value) - _SHOWN_ITEMS} more items>")
        return items
    return f"<{type(value).__name__}>"


def _shown_key(key: object) -> str:
    text = str(key)
    if len(text) <= _SHOWN_KEY_CHARS and text.isascii() and text.isprintable():
        return text
    return f"<key of {len(text)} chars>"
