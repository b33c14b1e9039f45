"""What supervisors read: every conversation (filtered, newest first) and the live view of
queues and agents — from the index rows, never a scan of the conversations table.

**Every conversation.** The by-day rows (``ConversationsByDay``: a partition per UTC day of
creation, keys ``<created ms>|<id>``) hold every conversation, closed ones included. A page
walks them newest first: days from ``to`` back to ``from``, and within a day key ranges of
growing time windows below the cursor (15 minutes, then four times wider each time), so a
page costs a few small range reads whatever the day's volume. Queue, agent, page and state
filters are part of each storage query; a label is checked on the rows read (a list cannot
be filtered in Table storage). A page reads at most ``SCAN_BUDGET`` rows: a rare label over
a long range answers fewer items with a ``next`` cursor to go on. Without ``from``, the walk
goes back ``DEFAULT_DAYS``. With ``customer``, the contact search names the customers
(Messenger profiles, and the profiles linked to matching contacts) and each one's own
partition of ``ConversationsByCustomer`` is read instead.

The order is creation, newest first (not last activity: an activity order would move a row
on every message); live work is in the live view.

**Live view.** The live index tables hold open work only (a row leaves with its state), so
they are read whole: ``ConversationsByQueue`` for the waiting and offered, the held rows of
``ConversationsByAgent`` for the active and wrapping up; used capacity is the distribution's
own ``AgentLoads``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from messenger_channel.clock import Clock
from messenger_channel.conversations.agent_contacts import AgentContact, search_contacts
from messenger_channel.conversations.history import ContactLinks
from messenger_channel.conversations.indexes import (
    HELD_STATES,
    ByAgent,
    ByCustomer,
    ByDay,
    ByQueue,
    ConversationEntry,
    ConversationIndexes,
    day_partition,
)
from messenger_channel.conversations.models import ConversationTables, State
from messenger_channel.errors import Invalid
from messenger_channel.services import Services
from messenger_channel.storage.tables import Table
from messenger_channel.workforce.agents import Agent, list_agents
from messenger_channel.workforce.queue_management import Queues

DEFAULT_DAYS = 90
MAX_DAYS = 400
SCAN_BUDGET = 5000
MAX_CUSTOMERS = 50
FIRST_WINDOW = timedelta(minutes=15)


class BadCursor(Exception):
    pass


@dataclass(frozen=True)
class Filters:
    state: State | None = None
    queue_id: str | None = None
    agent_id: str | None = None
    page_id: str | None = None
    label: str | None = None
    customer: str | None = None
    start: datetime | None = None  # created at or after
    end: datetime | None = None  # created before

    def storage_filter(self) -> tuple[str, dict[str, object]]:
        values = {name: value for name, value in (
            ("state", self.state), ("queue_id", self.queue_id), ("agent_id", self.agent_id),
            ("page_id", self.page_id)) if value is not None}
        return " and ".join(f"{name} eq @{name}" for name in values), dict(values)

    def keeps(self, row: ConversationEntry) -> bool:
        return ((self.label is None or self.label in row.labels)
                and all(value is None or getattr(row, name) == value for name, value in (
                    ("state", self.state), ("queue_id", self.queue_id),
                    ("agent_id", self.agent_id), ("page_id", self.page_id)))
                and (self.start is None or row.created_at >= self.start)
                and (self.end is None or row.created_at < self.end))


@dataclass
class Found:
    items: list[ConversationEntry] = field(default_factory=list)
    next: str | None = None


def _key_ms(moment: datetime) -> str:
    return f"{int(moment.timestamp() * 1000):013d}"


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": key}).encode()).decode()


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))["k"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadCursor from None
    if not isinstance(key, str) or "|" not in key:
        raise BadCursor
    return key


def every_conversation(services: Services, filters: Filters, *, limit: int,
                       cursor: str | None = None) -> Found:
    """A page of conversations matching ``filters``, newest first (by creation)."""
    now = services.clock.now()
    end = min(filters.end or now + timedelta(seconds=1), now + timedelta(seconds=1))
    start = filters.start or end - timedelta(days=DEFAULT_DAYS)
    if end - start > timedelta(days=MAX_DAYS):
        raise Invalid([("from", f"a range covers at most {MAX_DAYS} days")])
    before = decode_cursor(cursor)
    if filters.customer is not None:
        return _of_customers(services, filters, limit, before)
    return _by_day(ConversationIndexes(services.tables).tables[ByDay], filters, start, end,
                   limit, before)


def _by_day(table: Table[ConversationEntry], filters: Filters, start: datetime,
            end: datetime, limit: int, before: str | None) -> Found:
    """Walk the day partitions newest first, in key windows below ``before``."""
    extra, values = filters.storage_filter()
    high = before or f"{_key_ms(end)}|"
    found = Found()
    scanned = 0
    window = FIRST_WINDOW
    while len(found.items) < limit:
        high_ms = int(high.split("|", 1)[0])
        high_moment = datetime.fromtimestamp(high_ms / 1000, UTC)
        day_start = datetime.combine(high_moment.date(), time(), UTC)
        if high_moment == day_start and "|" in high and high.endswith("|"):
            day_start -= timedelta(days=1)  # ``high`` is midnight exactly: the day before
        low_moment = max(high_moment - window, day_start, start)
        low = _key_ms(low_moment)
        query = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
        if extra:
            query += f" and {extra}"
        rows = _read(table, query, {"pk": day_partition(low_moment), "lo": low, "hi": high,
                                    **values})
        scanned += len(rows)
        for row in sorted(rows, key=lambda r: r.key, reverse=True):
            if filters.keeps(row):
                found.items.append(row)
                if len(found.items) == limit:
                    found.next = encode_cursor(row.key)
                    return found
        if low_moment <= start:
            return found  # the range is walked
        high = f"{low}|"
        if len(rows) < limit:
            window = min(window * 4, timedelta(days=1))
        if scanned >= SCAN_BUDGET:
            found.next = encode_cursor(high)
            return found
    return found


def _read(table: Table[ConversationEntry], query: str,
          values: dict[str, object]) -> list[ConversationEntry]:
    rows: list[ConversationEntry] = []
    continuation = None
    while True:
        page = table.query(query, values, page_size=1000, continuation=continuation)
        rows.extend(page.items)
        if page.next is None:
            return rows
        continuation = page.next


def _of_customers(services: Services, filters: Filters, limit: int,
                  before: str | None) -> Found:
    """The conversations of the customers the search finds, merged newest first. Keys of the
    customer index invert the time (``<inverted ms>|<id>``): the cursor is the created key
    of the last item, and each customer's rows are read up to it."""
    assert filters.customer is not None
    profiles: dict[tuple[str, str], None] = {}
    links = ContactLinks(services.tables, services.clock)
    for match in search_contacts(services, filters.customer)[:MAX_CUSTOMERS]:
        if isinstance(match, AgentContact):
            for profile in links.profiles_of(match.id):
                profiles[(profile.page_id, profile.psid)] = None
        else:
            profiles[(match.page_id, match.psid)] = None
    table = ConversationIndexes(services.tables).tables[ByCustomer]
    rows: list[ConversationEntry] = []
    for page_id, psid in profiles:
        if filters.page_id is not None and page_id != filters.page_id:
            continue
        rows += _read(table, "PartitionKey eq @pk", {"pk": f"{page_id}|{psid}"})
    ordered = sorted((row for row in rows if filters.keeps(row)),
                     key=lambda row: (row.created_at, row.conversation_id), reverse=True)
    if before is not None:
        ordered = [row for row in ordered if _created_key(row) < before]
    found = Found(items=ordered[:limit])
    if len(ordered) > limit:
        found.next = encode_cursor(_created_key(found.items[-1]))
    return found


def _created_key(row: ConversationEntry) -> str:
    return f"{_key_ms(row.created_at)}|{row.conversation_id}"


# --------------------------------------------------------------------------- the live view


@dataclass(frozen=True)
class QueueNow:
    queue_id: str
    name: str
    waiting: int
    offered: int
    active: int
    longest_wait_seconds: int | None
    agents_available: int


@dataclass(frozen=True)
class AgentNow:
    agent_id: str
    name: str
    presence: str
    role: str
    capacity: int
    used: int
    conversations: int
    queue_ids: list[str]


def live_rows(services: Services) -> tuple[list[ConversationEntry], list[ConversationEntry]]:
    """(every unassigned row, every held row): the live tables read whole."""
    indexes = ConversationIndexes(services.tables)
    unassigned = _read(indexes.tables[ByQueue], "state ne @closed", {"closed": "closed"})
    held = [row for row in _read(indexes.tables[ByAgent], "state ne @closed",
                                 {"closed": "closed"})
            if row.agent_id == row.partition and row.state in HELD_STATES]
    return unassigned, held


def queues_now(services: Services, clock: Clock) -> list[QueueNow]:
    unassigned, held = live_rows(services)
    agents = list_agents(services.tables)
    now = clock.now()
    found = []
    for queue in sorted(Queues(services.tables).all(), key=lambda q: q.name.casefold()):
        waiting = [row for row in unassigned if row.partition == queue.id
                   and row.state == "waiting"]
        waits = [now - (row.waiting_since or row.created_at) for row in waiting]
        found.append(QueueNow(
            queue_id=queue.id, name=queue.name, waiting=len(waiting),
            offered=sum(1 for row in unassigned if row.partition == queue.id
                        and row.state == "offered"),
            active=sum(1 for row in held if row.queue_id == queue.id),
            longest_wait_seconds=int(max(waits).total_seconds()) if waits else None,
            agents_available=sum(1 for agent in agents if agent.presence == "available"
                                 and queue.id in agent.queue_ids)))
    return found


def agents_now(services: Services) -> list[AgentNow]:
    _, held = live_rows(services)
    loads = {load.agent_id: load.used for load in
             ConversationTables(services.tables).loads.list_partition("load")}
    agents: Iterable[Agent] = sorted(list_agents(services.tables),
                                     key=lambda a: a.name.casefold())
    return [AgentNow(agent_id=agent.id, name=agent.name, presence=agent.presence,
                     role=agent.role, capacity=agent.capacity, used=loads.get(agent.id, 0),
                     conversations=sum(1 for row in held if row.agent_id == agent.id),
                     queue_ids=agent.queue_ids) for agent in agents]


def day_range(start: date, end: date) -> list[date]:
    """The days from ``start`` to ``end`` included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
