"""A customer's earlier conversations, for the agent: those of the same Messenger profile
(page and PSID) and of every profile linked to the same agents' contact, newest first.

============== ============ ==================== ============================================
table          PartitionKey RowKey               why
============== ============ ==================== ============================================
ContactLinks   contact id   ``<page>|<psid>``    the profiles linked to a contact: one range
                                                 read, never a scan of ``Contacts``
============== ============ ==================== ============================================

``link_contact`` writes the row *before* it sets the profile's ``linked_contact_id``, so a crash
in between leaves a row pointing at a profile that is not linked; relinking a profile to
another contact leaves its row under the first one. The profile is the truth: a reader checks
each profile's ``linked_contact_id`` and skips a row that disagrees, deleting it (best effort)
once it is ``STALE_AFTER`` old (a younger one may belong to a link in flight) and unchanged
since it read it (its ETag). ``backfill_links`` writes the rows of profiles linked before the
table existed.

Each profile's conversations are one range of its ``ConversationsByCustomer`` partition, whose
RowKeys (``<inverted created ms>|<id>``) sort newest first in every partition alike: a page is
the first ``limit`` of the merged ranges after the cursor, which is the last RowKey answered
(stable while new conversations arrive).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from messenger_channel.clock import Clock
from messenger_channel.conversations.contact_search import every_entity
from messenger_channel.conversations.indexes import (
    ByCustomer,
    ConversationEntry,
    ConversationIndexes,
)
from messenger_channel.conversations.models import (
    Contact,
    Conversation,
    ConversationTables,
    Message,
)
from messenger_channel.storage.errors import ConcurrencyConflict, InvalidKey, StorageError
from messenger_channel.storage.tables import (
    MAX_BATCH_OPERATIONS,
    MAX_PAGE_SIZE,
    Entity,
    Table,
    TableStore,
    UpsertOp,
)

log = logging.getLogger(__name__)

CONTACT_LINKS = "ContactLinks"
STALE_AFTER = timedelta(minutes=5)  # a younger row may belong to a link in flight
MESSAGES_PER_CONVERSATION = 200  # the latest ones of each conversation listed
MAX_HISTORY_PAGE = 20
READ_WORKERS = 8  # conversations of a page read in parallel
_CURSOR = re.compile(r"\d{13}\|[^\s/\\#?]{1,250}")


class BadCursor(ValueError):
    """A cursor this module never issued."""


class ContactLink(Entity):
    """The profile (``page_id``, ``psid``) is, or was, linked to ``contact_id``."""

    contact_id: str
    page_id: str
    psid: str
    written_at: datetime

    def partition_key(self) -> str:
        return self.contact_id

    def row_key(self) -> str:
        return f"{self.page_id}|{self.psid}"


class ContactLinks:
    def __init__(self, store: TableStore, clock: Clock) -> None:
        self.rows: Table[ContactLink] = store.table(CONTACT_LINKS, ContactLink)
        self.profiles: Table[Contact] = ConversationTables(store).contacts
        self.clock = clock

    def add(self, contact_id: str, page_id: str, psid: str) -> ContactLink:
        """Before the profile's ``linked_contact_id`` is set (see the module's docstring)."""
        row = ContactLink(contact_id=contact_id, page_id=page_id, psid=psid,
                          written_at=self.clock.now())
        self.rows.upsert(row)
        return row

    def profiles_of(self, contact_id: str) -> list[Contact]:
        """The profiles linked to the contact now: one range read, a point read per row."""
        found: list[Contact] = []
        for row in self.rows.list_partition(contact_id):
            profile = self.profiles.get(row.page_id, row.psid)
            if profile is not None and profile.linked_contact_id == contact_id:
                found.append(profile)
            else:
                self._delete_stale(row)
        return found

    def backfill(self, profiles: Iterable[Contact]) -> int:
        """Write the missing rows of linked ``profiles`` (linked before the table existed);
        returns how many. Reads the whole table once: a one-off."""
        held = {(row.partition_key(), row.row_key()) for row in every_entity(self.rows)}
        now = self.clock.now()
        missing: dict[str, list[ContactLink]] = {}
        for profile in profiles:
            if profile.linked_contact_id is None:
                continue
            row = ContactLink(contact_id=profile.linked_contact_id, page_id=profile.page_id,
                              psid=profile.psid, written_at=now)
            if (row.partition_key(), row.row_key()) not in held:
                missing.setdefault(row.partition_key(), []).append(row)
        for partition in sorted(missing):
            batch = iter(missing[partition])
            while chunk := list(islice(batch, MAX_BATCH_OPERATIONS)):
                self.rows.transaction([UpsertOp(row) for row in chunk])
        return sum(map(len, missing.values()))

    def _delete_stale(self, seen: ContactLink) -> None:
        """Best effort: a row left is only a wasted point read for a later reader."""
        if not self._old(seen):
            return  # young as listed: maybe a link in flight
        keys = (seen.partition_key(), seen.row_key())
        try:
            current = self.rows.get_with_etag(*keys)
            if current is None or not self._old(current.entity):
                return
            self.rows.delete(*keys, etag=current.etag)
        except ConcurrencyConflict:
            return  # rewritten meanwhile: a link wants it
        except StorageError as error:
            log.warning("stale contact link not deleted",
                        extra={"table": CONTACT_LINKS, "error": type(error).__name__})

    def _old(self, row: ContactLink) -> bool:
        return row.written_at <= self.clock.now() - STALE_AFTER


@dataclass(frozen=True)
class PastConversation:
    conversation: Conversation | ConversationEntry  # the row only if the conversation is gone
    messages: list[Message]  # oldest first, the latest ``MESSAGES_PER_CONVERSATION``


@dataclass(frozen=True)
class HistoryPage:
    items: list[PastConversation]
    next: str | None  # the last RowKey answered; None: nothing after


def customer_history(store: TableStore, clock: Clock, conversation: Conversation, *,
                     limit: int = 5, after: str | None = None) -> HistoryPage:
    """The customer's other conversations, newest first (by ``created_at``), ``limit`` of them
    after the cursor ``after`` (a ``next`` this returned): those of the conversation's profile
    and of every profile linked to the same agents' contact, each with its latest
    ``MESSAGES_PER_CONVERSATION`` messages, oldest first. Read-only but for stale link rows.
    Costs a point read of the profile, a range read of the contact's links and a point read
    per link, a range read per profile, then per conversation answered a point read and the
    range of its messages. Raises ``BadCursor``."""
    if not 1 <= limit <= MAX_HISTORY_PAGE:
        raise ValueError(f"limit: 1 to {MAX_HISTORY_PAGE}")
    if after is not None and not _CURSOR.fullmatch(after):
        raise BadCursor("not a cursor of this history")
    table = ConversationIndexes(store).tables[ByCustomer]
    rows = sorted((row for page_id, psid in _customers(store, clock, conversation)
                   for row in _after(table, page_id, psid, conversation.id, after, limit + 1)),
                  key=lambda row: row.key)
    tables = ConversationTables(store)

    def past(row: ConversationEntry) -> PastConversation:
        # The conversation itself: its index row keeps what it was when it last changed lists
        # (not a contact linked since, say).
        return PastConversation(tables.conversation(row.conversation_id) or row,
                                tables.history(row.conversation_id)[-MESSAGES_PER_CONVERSATION:])

    chosen = rows[:limit]
    if len(chosen) <= 1:
        items = [past(row) for row in chosen]
    else:
        with ThreadPoolExecutor(min(READ_WORKERS, len(chosen)),
                                thread_name_prefix="history") as pool:
            # Each read in a copy of this context: metering labels follow the work.
            items = [future.result() for future in
                     [pool.submit(copy_context().run, past, row) for row in chosen]]
    return HistoryPage(items, rows[limit - 1].key if len(rows) > limit else None)


def _customers(store: TableStore, clock: Clock,
               conversation: Conversation) -> list[tuple[str, str]]:
    """(page, PSID) of the conversation's profile, then of the others linked to its contact."""
    found = {(conversation.page_id, conversation.psid): None}
    try:
        profile = ConversationTables(store).contacts.get(conversation.page_id, conversation.psid)
    except InvalidKey:
        profile = None
    if profile is not None and profile.linked_contact_id is not None:
        for linked in ContactLinks(store, clock).profiles_of(profile.linked_contact_id):
            found[(linked.page_id, linked.psid)] = None
    return list(found)


def _after(table: Table[ConversationEntry], page_id: str, psid: str, skipped: str,
           after: str | None, limit: int) -> Iterator[ConversationEntry]:
    """The first ``limit`` rows of the customer's partition after the key ``after``, without
    the conversation ``skipped``. The partition is named as ``indexes.permanent_places``
    names it."""
    query = "PartitionKey eq @pk and conversation_id ne @skipped"
    values: dict[str, object] = {"pk": f"{page_id}|{psid}", "skipped": skipped}
    if after is not None:
        query, values["after"] = query + " and RowKey gt @after", after
    cursor, count = None, 0
    while count < limit:
        page = table.query(query, values, page_size=min(MAX_PAGE_SIZE, limit - count),
                           continuation=cursor)
        yield from page.items[:limit - count]
        count += len(page.items)
        if page.next is None:
            return
        cursor = page.next

