"""Retention per account, applied by the daily ``retention`` timer (``run_retention``).

An account's ``retention`` says how many whole days after a conversation *closed* its content
is kept: ``messages_days`` (messages, with their attachments, long texts and replies still
parked behind a retry, and the words the conversation copied from them), ``attachments_days``
(the files only), ``archive_days`` (the archived webhook events). Absent: kept for ever. The
cut-off is the start of the UTC day ``N`` days ago: what closed before it goes; open
conversations are never touched.

**Bounded work.** Nothing reads history as a whole. Conversations are found day by day in
``ConversationsByDay`` (one range read of a day, closed ones only), from a cursor per account
and kind (``RetentionCursors``) up to the day before the cut-off; a conversation of such a day
that is still open or closed after the cut-off is noted (``RetentionLater``) and looked at
again by later runs (a point read each). Archived events are found by their day folder, the
same way. A run stops after ``MAX_ITEMS`` conversations or blobs and resumes from its cursor
(which also remembers where it stopped inside a day).

Conversations keep ids, times, states and the customer: the reports stay true.

**The quarantine** (``ingress/quarantine.py``) is kept ``QUARANTINE_RETENTION_DAYS`` (a
setting, 30 days) for every account, counted from the day it was quarantined: its bodies are
found by their day folder like archived events (cursor kind ``quarantine``), its rows and
their customer index (``QuarantinedByCustomer``) by their day partitions (what is past the
cut-off is deleted, so nothing to remember), and a row's body goes with it (that of an account
deleted since, which no walk lists). Within the same ``MAX_ITEMS`` per run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Literal, TypeVar

from messenger_channel.conversations.agent_files import agent_files
from messenger_channel.conversations.attachments import CONTAINER
from messenger_channel.conversations.indexes import ByDay, ConversationEntry
from messenger_channel.conversations.long_texts import is_text_blob
from messenger_channel.conversations.models import ConversationTables, Message
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.ingress.archive import (
    ARCHIVE_CONTAINER,
    QUARANTINE_CONTAINER,
    SESSION_METADATA,
)
from messenger_channel.ingress.archive_index import ArchivedEvent, customer_partition
from messenger_channel.ingress.quarantine import TABLE as QUARANTINE_TABLE
from messenger_channel.ingress.quarantine import QuarantineEntry, day_key
from messenger_channel.ingress.quarantine_index import QuarantineIndex
from messenger_channel.privacy.parked_replies import drop_parked_replies
from messenger_channel.privacy.scrub import conversation_without_words
from messenger_channel.provisioning.models import Account, Retention
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.services import Services
from messenger_channel.storage.errors import NotFound
from messenger_channel.storage.tables import (
    MAX_BATCH_OPERATIONS,
    MAX_PAGE_SIZE,
    DeleteOp,
    Entity,
    Table,
    TableStore,
)

T = TypeVar("T")

Kind = Literal["messages", "attachments", "archive", "quarantine"]
MAX_ITEMS = 2000
REMOVED = "removed by the retention policy"


class RetentionCursor(Entity):
    account_id: str
    kind: Kind
    day: str | None = None  # the last day done (YYYY-MM-DD)
    after_key: str | None = None  # inside the next day: the last row or blob done

    def partition_key(self) -> str:
        return self.account_id

    def row_key(self) -> str:
        return self.kind


class RetentionLater(Entity):
    account_id: str
    kind: Kind
    ref: str  # a conversation id, or an archive blob name
    noted_at: datetime

    def partition_key(self) -> str:
        return f"{self.account_id}|{self.kind}"

    def row_key(self) -> str:
        return self.ref.replace("/", "|")


@dataclass
class RetentionRun:
    conversations: int = 0
    blobs: int = 0
    rows: int = 0  # the quarantine's rows and index rows
    rows_read: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def items(self) -> int:
        return self.conversations + self.blobs + self.rows



def cutoff(now: datetime, days: int) -> datetime:
    """The start of the UTC day ``days`` days ago: what closed before it has had its days."""
    return datetime.combine(now.astimezone(UTC).date() - timedelta(days=days), time(), UTC)


def set_retention(services: Services, account_id: str, retention: Retention | None) -> Account:
    now = services.clock.now()
    return ChannelTables(services.tables).accounts.update("account", account_id, lambda a: (
        a.model_copy(update={"retention": retention, "updated_at": now})))


class _Tables:
    def __init__(self, store: TableStore) -> None:
        self.cursors: Table[RetentionCursor] = store.table("RetentionCursors", RetentionCursor)
        self.later: Table[RetentionLater] = store.table("RetentionLater", RetentionLater)


def run_retention(services: Services, max_items: int = MAX_ITEMS) -> RetentionRun:
    run = RetentionRun()
    channels = ChannelTables(services.tables)
    quarantine_before = cutoff(services.clock.now(),
                               services.settings.quarantine_retention_days)
    for account in channels.all_accounts():
        if account.deleting:
            continue
        pages = {page.page_id for page in channels.pages_of(account.id)}
        job = _AccountRetention(services, account.id, pages, run, max_items)
        job.quarantine(quarantine_before)
        retention = account.retention
        if retention is None:
            continue
        messages = retention.messages_days
        attachments = min(d for d in (retention.attachments_days, messages) if d is not None) \
            if retention.attachments_days is not None else None
        if messages is not None:
            job.content("messages", cutoff(services.clock.now(), messages))
        if attachments is not None:
            job.content("attachments", cutoff(services.clock.now(), attachments))
        if retention.archive_days is not None:
            job.archive(cutoff(services.clock.now(), retention.archive_days))
    _quarantine_rows(services, run, max_items, quarantine_before)
    return run


def _quarantine_rows(services: Services, run: RetentionRun, max_items: int,
                     before: datetime) -> None:
    """The Quarantine rows and their index rows of the days before ``before``'s."""
    rows = services.tables.table(QUARANTINE_TABLE, QuarantineEntry)
    index = QuarantineIndex(services.tables)
    past = day_key(before)
    while run.items < max_items:
        room = min(max_items - run.items, MAX_PAGE_SIZE)
        expired = rows.query("PartitionKey gt @day and PartitionKey lt @past",
                             {"day": past, "past": "r"}, page_size=room).items
        # Their bodies too (the account walk found them already, unless the account is gone).
        for blob in sorted({row.blob for row in expired if row.blob}):
            container, _, name = blob.partition("/")
            if container == QUARANTINE_CONTAINER:
                services.blobs.delete(QUARANTINE_CONTAINER, name)
        for row in expired:
            rows.delete(row.day_key, row.row_id)
        noted = index.older_than(past, room - len(expired)) if len(expired) < room else []
        for customer in noted:
            index.forget(customer)
        if not expired and not noted:
            return
        run.rows += len(expired) + len(noted)
        run.rows_read += len(expired) + len(noted)
        if expired:
            run.by_kind["quarantine_rows"] = run.by_kind.get("quarantine_rows", 0) + len(expired)


class _AccountRetention:
    def __init__(self, services: Services, account_id: str, pages: set[str],
                 run: RetentionRun, max_items: int) -> None:
        self.services = services
        self.account_id = account_id
        self.pages = pages
        self.run = run
        self.max_items = max_items
        self.tables = _Tables(services.tables)
        self.store = ConversationStore.of(services)
        self.conversations = ConversationTables(services.tables)

    def _full(self) -> bool:
        return self.run.items >= self.max_items

    def _cursor(self, kind: Kind) -> RetentionCursor:
        return (self.tables.cursors.get(self.account_id, kind)
                or RetentionCursor(account_id=self.account_id, kind=kind))

    # ---------------------------------------------------------------- conversations

    def content(self, kind: Kind, before: datetime) -> None:
        self._later(kind, before)
        cursor = self._cursor(kind)

        def rows_of(day: date, after: str | None) -> Iterator[tuple[str, ConversationEntry]]:
            for row in self.store.indexes._range(
                    ByDay, day.isoformat(), low=None if after is None else after + "\x00"):
                yield row.key, row

        def handle(row: ConversationEntry) -> None:
            if row.page_id in self.pages:
                self._conversation(kind, row, before)

        self._walk_days(cursor, self._first_day(cursor, kind), before, rows_of, handle)

    def _walk_days(self, cursor: RetentionCursor, day: date | None, before: datetime,
                   items_of: Callable[[date, str | None], Iterable[tuple[str, T]]],
                   handle: Callable[[T], None]) -> None:
        """Day after day up to ``before``, each day's items after the cursor's key, until the
        run is full; the cursor saved after each day (or where the run stopped)."""
        while day is not None and day < before.date() and not self._full():
            finished = True
            for key, item in items_of(day, cursor.after_key):
                self.run.rows_read += 1
                handle(item)
                cursor = cursor.model_copy(update={"after_key": key})
                if self._full():
                    finished = False
                    break
            if finished:
                cursor = cursor.model_copy(update={"day": day.isoformat(), "after_key": None})
            self.tables.cursors.upsert(cursor)
            day = day + timedelta(days=1) if finished else None

    def _first_day(self, cursor: RetentionCursor, kind: Kind) -> date | None:
        if cursor.day is not None:
            return date.fromisoformat(cursor.day) + timedelta(days=1)
        # The earliest day of history: the first partition of the by-day index, one row read.
        table = self.store.indexes.tables[ByDay]
        first = table.query("PartitionKey ge @low", {"low": "0"}, page_size=1).items
        return None if not first else date.fromisoformat(first[0].partition)

    def _later(self, kind: Kind, before: datetime) -> None:
        """Conversations noted earlier: done now if they have closed before the cut-off."""
        pending = self.tables.later.query("PartitionKey eq @pk",
                                          {"pk": f"{self.account_id}|{kind}"},
                                          page_size=1000).items
        for noted in pending:
            if self._full():
                return
            conversation = self.store.get(noted.ref)
            if conversation is None or self._apply(kind, conversation.id, before):
                self.tables.later.delete(noted.partition_key(), noted.row_key())

    def _conversation(self, kind: Kind, row: ConversationEntry, before: datetime) -> None:
        if not self._apply(kind, row.conversation_id, before):
            self.tables.later.upsert(RetentionLater(
                account_id=self.account_id, kind=kind, ref=row.conversation_id,
                noted_at=self.services.clock.now()))

    def _apply(self, kind: Kind, conversation_id: str, before: datetime) -> bool:
        """False when the conversation is not yet due (open, or closed after ``before``)."""
        conversation = self.store.get(conversation_id)
        if conversation is None:
            return True
        if conversation.state != "closed" or conversation.closed_at is None \
                or conversation.closed_at >= before:
            return False
        messages = self.conversations.history(conversation_id)
        self._files(conversation_id, messages, texts_too=kind == "messages")
        if kind == "messages":
            self._delete_messages(conversation_id, messages)
            drop_parked_replies(self.services, conversation_id)
            self.store.transition(conversation_id, lambda current: None if (
                current == conversation_without_words(current))
                else conversation_without_words(current))
        else:
            for message in messages:
                if any(info.status == "stored" for info in message.attachments):
                    self.conversations.messages.upsert(message.model_copy(update={
                        "attachments": [info.model_copy(update={
                            "status": "skipped", "error": REMOVED})
                            for info in message.attachments]}))
        self.run.conversations += 1
        self.run.by_kind[kind] = self.run.by_kind.get(kind, 0) + 1
        return True

    def _files(self, conversation_id: str, messages: list[Message], *,
               texts_too: bool) -> None:
        """The conversation's files; its long texts too when its messages go (a long text is
        a message's words, kept as long as the message)."""
        blobs = self.services.blobs
        for blob in list(blobs.list(CONTAINER, f"{conversation_id}/")):
            if texts_too or not is_text_blob(blob.name):
                blobs.delete(CONTAINER, blob.name)
        files = agent_files(self.services)
        for message in messages:
            if message.direction != "out":
                continue
            for info in message.attachments:
                found = files.get(info.id, "file")
                if found is not None and found.conversation_id == conversation_id:
                    blobs.delete(CONTAINER, found.blob_name)
                    files.delete(info.id, "file")

    def _delete_messages(self, conversation_id: str, messages: list[Message]) -> None:
        index = self.conversations.message_index.query(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            {"pk": conversation_id, "lo": "mid-", "hi": "mid."}, page_size=1000).items
        keys = [m.row_key() for m in messages] + [row.row_key() for row in index]
        batches = iter(keys)
        while chunk := list(islice(batches, MAX_BATCH_OPERATIONS)):
            # Unconditional deletes of rows just listed; a missing one fails the batch, so
            # fall back to single deletes (a concurrent run got there first).
            try:
                self.conversations.messages.transaction(
                    [DeleteOp(conversation_id, key) for key in chunk])
            except NotFound:
                for key in chunk:
                    self.conversations.messages.delete(conversation_id, key)

    # ---------------------------------------------------------------- archive

    def archive(self, before: datetime) -> None:
        self._later_blobs(before)
        cursor = self._cursor("archive")
        day = (date.fromisoformat(cursor.day) + timedelta(days=1) if cursor.day
               else self._first_day_of(ARCHIVE_CONTAINER))

        def blobs_of(day: date, after: str | None) -> Iterator[tuple[str, tuple[str, str | None]]]:
            for blob in self._blobs_of(day, after):
                yield blob[0], blob

        def handle(blob: tuple[str, str | None]) -> None:
            if not self._delete_blob(blob[0], blob[1]):
                self.tables.later.upsert(RetentionLater(
                    account_id=self.account_id, kind="archive", ref=blob[0],
                    noted_at=self.services.clock.now()))

        self._walk_days(cursor, day, before, blobs_of, handle)

    # ---------------------------------------------------------------- quarantine

    def quarantine(self, before: datetime) -> None:
        """The account's quarantined bodies of the days before ``before``'s."""
        cursor = self._cursor("quarantine")
        day = (date.fromisoformat(cursor.day) + timedelta(days=1) if cursor.day
               else self._first_day_of(QUARANTINE_CONTAINER))

        def bodies_of(day: date, after: str | None) -> Iterator[tuple[str, str]]:
            for name, _ in self._blobs_of(day, after, QUARANTINE_CONTAINER):
                yield name, name

        def delete(name: str) -> None:
            self.services.blobs.delete(QUARANTINE_CONTAINER, name)
            self.run.blobs += 1
            self.run.by_kind["quarantine"] = self.run.by_kind.get("quarantine", 0) + 1

        self._walk_days(cursor, day, before, bodies_of, delete)

    def _blobs_of(self, day: date, after: str | None,
                  container: str = ARCHIVE_CONTAINER) -> Iterator[tuple[str, str | None]]:
        prefix = f"{self.account_id}/{day:%Y/%m/%d}/"
        for info in self.services.blobs.list(container, prefix):
            if after is None or info.name > after:
                yield info.name, info.metadata.get(SESSION_METADATA)

    def _first_day_of(self, container: str) -> date | None:
        for info in self.services.blobs.list(container, f"{self.account_id}/"):
            try:
                _, year, month, day, _ = info.name.split("/")
                return date(int(year), int(month), int(day))
            except ValueError:
                continue
        return None

    def _delete_blob(self, name: str, session: str | None) -> bool:
        """False while the customer's conversation is open: their events wait."""
        page_id, _, psid = (session or "").partition(":")
        if psid and psid.isdigit():
            contact = self.conversations.contacts.get(page_id, psid)
            if contact is not None and contact.open_conversation_id is not None:
                return False
            self.services.tables.table("ArchivedByCustomer", ArchivedEvent).delete(
                customer_partition(page_id, psid), name.replace("/", "|"))
        self.services.blobs.delete(ARCHIVE_CONTAINER, name)
        self.run.blobs += 1
        self.run.by_kind["archive"] = self.run.by_kind.get("archive", 0) + 1
        return True

    def _later_blobs(self, before: datetime) -> None:
        noted = self.tables.later.query("PartitionKey eq @pk",
                                        {"pk": f"{self.account_id}|archive"},
                                        page_size=1000).items
        for row in noted:
            if self._full():
                return
            try:
                info = self.services.blobs.properties(ARCHIVE_CONTAINER, row.ref)
            except NotFound:  # gone already
                self.tables.later.delete(row.partition_key(), row.row_key())
                continue
            if self._delete_blob(row.ref, info.metadata.get(SESSION_METADATA)):
                self.tables.later.delete(row.partition_key(), row.row_key())
