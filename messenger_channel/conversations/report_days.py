"""A past day's report facts kept as one digest, so a report over history reads a few small
rows per day instead of every conversation created that day.

    days = ReportDays(tables, clock)
    facts = days.facts(start, end)      # the reports' input, from digests where they hold
    days.invalidate(conversation)       # the index writer, after a conversation's day rows changed

Table ``ReportDays``, one partition per UTC day of creation (``YYYY-MM-DD``):

=============== ============================================================================
RowKey          holds
=============== ============================================================================
``generation``  a token replaced (upsert) each time a conversation of that day changes what
                its by-day row says, once the day is over
``facts-NNN``   the digest: the day's facts (orjson, zlib, base64) in chunks under the
                string property limit, each chunk stamped with the generation it was made
                from and the number of chunks
=============== ============================================================================

**Why it stays true.** A digest is trusted only when every chunk carries the current
generation. The builder reads the generation *before* the day's rows; the index writer
replaces it *after* writing a changed row. So a change that lands while a digest is being
built leaves that digest with an old token, and the next report builds it again. Today (and
a day that ended less than ``SETTLE`` ago, so that hosts whose clocks disagree by less than
that still invalidate it) is always read from the rows.

The one window left: a host that stops between writing a by-day row and replacing the token.
A transition is then repaired by the timer (its repair row rewrites the rows and so replaces
the token); a ``touch`` (a first response, a late rating) is not, and a digest built before
it can miss that change until another conversation of the day changes.
"""

from __future__ import annotations

import base64
import logging
import uuid
import zlib
from datetime import UTC, date, datetime, time, timedelta

import orjson

from messenger_channel.clock import Clock
from messenger_channel.conversations.indexes import ConversationIndexes, day_partition
from messenger_channel.conversations.models import Conversation
from messenger_channel.conversations.reports import Fact, fact_of
from messenger_channel.storage.errors import StorageError
from messenger_channel.storage.tables import (
    MAX_BATCH_OPERATIONS,
    DeleteOp,
    Entity,
    TableStore,
    TransactionOp,
    UpsertOp,
)

log = logging.getLogger(__name__)

TABLE = "ReportDays"
GENERATION = "generation"
SETTLE = timedelta(minutes=10)
CHUNK_CHARS = 30_000  # under 64 KiB of UTF-16 per string property
# A transaction holds 4 MiB and a chunk counts ~60 KB (UTF-16): ~70,000 conversations a day.
MAX_CHUNKS = 60
_FACT_FIELDS = len(Fact.__dataclass_fields__)


class ReportDayRow(Entity):
    day: str
    key: str
    generation: str
    chunks: int | None = None
    facts: str | None = None

    def partition_key(self) -> str:
        return self.day

    def row_key(self) -> str:
        return self.key


def chunk_key(index: int) -> str:
    return f"facts-{index:03d}"


def encode(facts: list[Fact]) -> list[str]:
    packed = base64.b64encode(zlib.compress(orjson.dumps([f.as_list() for f in facts]))).decode()
    return [packed[i:i + CHUNK_CHARS] for i in range(0, len(packed), CHUNK_CHARS)] or [""]


def decode(chunks: list[str]) -> list[Fact]:
    values = orjson.loads(zlib.decompress(base64.b64decode("".join(chunks))))
    if not isinstance(values, list) or any(
            not isinstance(v, list) or len(v) != _FACT_FIELDS for v in values):
        raise ValueError("not a list of facts")
    return [Fact.from_list(v) for v in values]


class ReportDays:
    def __init__(self, tables: TableStore, clock: Clock) -> None:
        self.rows = tables.table(TABLE, ReportDayRow)
        self.indexes = ConversationIndexes(tables)
        self.clock = clock

    def settled(self, day: date) -> bool:
        """Over long enough ago that every host agrees it is in the past."""
        end = datetime.combine(day + timedelta(days=1), time(), UTC)
        return self.clock.now() >= end + SETTLE

    def invalidate(self, conversation: Conversation) -> None:
        """After the conversation's by-day row changed: a digest of its day no longer holds.
        Today's day has no digest yet, so nothing is written for it."""
        day = day_partition(conversation.created_at)
        if day < day_partition(self.clock.now()):
            self.rows.upsert(ReportDayRow(day=day, key=GENERATION, generation=uuid.uuid4().hex))

    def facts(self, start: date, end: date) -> list[Fact]:
        """The facts of every conversation created from ``start`` to ``end`` (UTC days, both
        included)."""
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        return [fact for day in days for fact in self.of_day(day)]

    def of_day(self, day: date) -> list[Fact]:
        if not self.settled(day):
            return [fact_of(row) for row in self.indexes.of_day(day)]
        stored = {row.key: row for row in self.rows.list_partition(day.isoformat())}
        generation = stored[GENERATION].generation if GENERATION in stored else ""
        chunks = [row for key, row in sorted(stored.items()) if key != GENERATION]
        if chunks and all(row.generation == generation and row.chunks == len(chunks)
                          for row in chunks):
            try:
                return decode([row.facts or "" for row in chunks])
            except (ValueError, zlib.error) as error:
                log.warning("report digest of %s unreadable (%s): rebuilt", day, error)
        facts = [fact_of(row) for row in self.indexes.of_day(day)]
        self._keep(day.isoformat(), generation, facts, {row.key for row in chunks})
        return facts

    def _keep(self, day: str, generation: str, facts: list[Fact], old: set[str]) -> None:
        parts = encode(facts)
        keys = [chunk_key(i) for i in range(len(parts))]
        operations: list[TransactionOp] = [
            UpsertOp(ReportDayRow(day=day, key=key, generation=generation, chunks=len(parts),
                                  facts=part)) for key, part in zip(keys, parts, strict=True)]
        operations += [DeleteOp(day, key) for key in sorted(old - set(keys))]
        if len(parts) > MAX_CHUNKS or len(operations) > MAX_BATCH_OPERATIONS:
            return  # a day too big for one transaction is read from its rows each time
        try:
            self.rows.transaction(operations)
        except StorageError as error:  # the report is right without it; the next one retries
            log.warning("report digest of %s not kept: %s", day, type(error).__name__)
