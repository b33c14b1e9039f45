"""Where conversations are found: index rows, so every question the product asks is a point
read or a range read of partitions sized by live work, never a scan of history.

================== ======================= =============================== =====================
table              PartitionKey            RowKey                          answers
================== ======================= =============================== =====================
ConversationsByAgent  agent id             conversation id                 the inbox: push offers
                                                                           and held ones (live)
ConversationsByQueue  queue id             ``<waiting since ms>|<id>``     unassigned (waiting,
                                                                           offered, pick offers),
                                                                           oldest first (live)
ConversationsByCustomer ``<page>|<psid>``  ``<inverted created ms>|<id>``  one customer's
                                                                           history, newest first
ConversationsByDay    ``YYYY-MM-DD``       ``<created ms>|<id>``           by day of creation;
                                                                           queue, agent, page,
                                                                           state as filters
ConversationsDue      shard ``0``-``7``    ``<due ms>|<id>|<kind>``        the timers: auto-close,
                                                                           end of wrap-up, repair
ConversationsLeftAgent agent id            conversation id                 what left an agent's
                                                                           list in the last hour
                                                                           (their ``since`` polls)
================== ======================= =============================== =====================

Each row is a projection of the conversation (``ConversationEntry``): a list is answered from
the rows alone, with the customer's name and the last message's preview, no read per item.
Live partitions hold only open work (a row leaves when its conversation leaves that state);
the permanent ones grow with history but are only ever read as a range of one partition.

**Self-healing.** A conversation and its rows live in different partitions, so they cannot
change in one transaction. A change that moves a conversation between lists (a *transition*)
is bracketed by a repair row in ``ConversationsDue``: written before the conversation, deleted
after its rows are in place. A crash in between leaves the repair row; the auto-close timer
reads it ``REPAIR_AFTER`` later and rewrites every row from the conversation (the truth),
deleting stale ones. Every open conversation also has a due row (its auto-close or wrap-up
end): the timer visits it then, closes or reschedules it, so nothing open is ever forgotten.
Changes within a list (a message: unread, preview) rewrite the live rows after the
conversation, without a repair row: a crash there leaves a stale preview until the next one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from messenger_channel.conversations.models import Conversation, Csat, State
from messenger_channel.routing.rules import Scalar
from messenger_channel.storage.tables import Entity, Table, TableStore

REPAIR_AFTER = timedelta(minutes=2)
DUE_SHARDS = 8
PREVIEW_CHARS = 120
MAX_POSITION = 500  # "position in queue" is counted up to this
_MAX_MS = 10**13  # 2286-11-20: keys of 13 digits sort as numbers
LIVE_STATES: tuple[State, ...] = ("waiting", "offered", "active", "wrap_up")
HELD_STATES: tuple[State, ...] = ("active", "wrap_up")
UNASSIGNED_STATES: tuple[State, ...] = ("waiting", "offered")

ByAgent = "ConversationsByAgent"
ByQueue = "ConversationsByQueue"
ByCustomer = "ConversationsByCustomer"
ByDay = "ConversationsByDay"
LIVE_TABLES = (ByAgent, ByQueue)
# What left an agent's list (transferred, reassigned, a consultation ended, closed): read by
# the agent's ``since`` polls, removed after ``DEPARTURES_KEPT`` by their full reads.
LEFT = "ConversationsLeftAgent"
DEPARTURES_KEPT = timedelta(hours=1)
PERMANENT_TABLES = (ByCustomer, ByDay)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at_ms(moment: datetime) -> str:
    return f"{_ms(moment):013d}"


class ConversationEntry(Entity):
    """One conversation as the lists show it, in one index partition."""

    partition: str
    key: str
    conversation_id: str
    page_id: str
    psid: str
    contact_id: str
    customer_name: str | None = None
    name_missing_reason: str | None = None
    workstream_id: str | None = None
    queue_id: str | None = None
    state: State
    agent_id: str | None = None
    offered_to: list[str] = Field(default_factory=list)
    offered_at: datetime | None = None
    offer_expires_at: datetime | None = None
    assigned_at: datetime | None = None
    waiting_since: datetime | None = None
    last_customer_message_at: datetime | None = None
    last_message_preview: str | None = None
    last_agent_message_at: datetime | None = None
    labels: list[str] = Field(default_factory=list)
    consultants: dict[str, datetime] = Field(default_factory=dict)
    transfers: int = 0
    first_waiting_at: datetime | None = None
    first_assigned_at: datetime | None = None
    first_response_at: datetime | None = None
    csat: Csat | None = None
    human_agent_tag: bool = False
    unread: int = 0
    attributes: dict[str, Scalar] = Field(default_factory=dict)
    survey_answers: dict[str, str] = Field(default_factory=dict)
    referral: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None

    def partition_key(self) -> str:
        return self.partition

    def row_key(self) -> str:
        return self.key

    @property
    def id(self) -> str:
        return self.conversation_id


DueKind = Literal["due", "repair"]


class DueEntry(Entity):
    """The conversation needs the timer's look at ``key``'s time: ``due`` (auto-close or the
    end of wrap-up; rescheduled when not yet due) or ``repair`` (a transition may have been
    interrupted: rewrite its rows)."""

    shard: str
    key: str
    conversation_id: str
    kind: DueKind
    due_at: datetime

    def partition_key(self) -> str:
        return self.shard

    def row_key(self) -> str:
        return self.key


@dataclass(frozen=True)
class Place:
    """Where one row of a conversation goes: a table, a partition, a row key."""

    table: str
    partition: str
    key: str


def due_shard(conversation_id: str) -> str:
    return str(hashlib.sha256(conversation_id.encode()).digest()[0] % DUE_SHARDS)


def due_key(conversation_id: str, at: datetime, kind: DueKind) -> str:
    return f"{_at_ms(at)}|{conversation_id}|{kind}"


def day_partition(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def live_places(conversation: Conversation) -> set[Place]:
    """The live lists the conversation belongs in now (pure)."""
    places: set[Place] = set()
    c = conversation
    if c.state in HELD_STATES and c.agent_id is not None:
        places.add(Place(ByAgent, c.agent_id, c.id))
    if c.state in HELD_STATES:  # a consultant's inbox shows what they were asked to help on
        places |= {Place(ByAgent, agent_id, c.id) for agent_id in c.consultants}
    if c.state == "offered" and c.offer_expires_at is not None and c.offered_to:
        places.add(Place(ByAgent, c.offered_to[0], c.id))  # a push offer: one agent's
    if c.state in UNASSIGNED_STATES and c.queue_id is not None:
        places.add(Place(ByQueue, c.queue_id, queue_key(c)))
    return places


def permanent_places(conversation: Conversation) -> set[Place]:
    c = conversation
    inverted = _MAX_MS - _ms(c.created_at)
    return {Place(ByCustomer, f"{c.page_id}|{c.psid}", f"{inverted:013d}|{c.id}"),
            Place(ByDay, day_partition(c.created_at), f"{_at_ms(c.created_at)}|{c.id}")}


def queue_key(conversation: Conversation) -> str:
    return f"{_at_ms(conversation.waiting_since or conversation.created_at)}|{conversation.id}"


def stale_candidates(conversation: Conversation) -> set[Place]:
    """Every live place the conversation may have been in: its agents and its queue."""
    agents = {*conversation.offer_history, *conversation.offered_to,
              *conversation.agent_history, *conversation.consult_history}
    if conversation.agent_id is not None:
        agents.add(conversation.agent_id)
    places = {Place(ByAgent, agent_id, conversation.id) for agent_id in agents}
    if conversation.queue_id is not None:
        places.add(Place(ByQueue, conversation.queue_id, queue_key(conversation)))
    return places


def preview_of(text: str | None, attachments: int = 0) -> str | None:
    if text:
        flat = " ".join(text.split())
        return flat if len(flat) <= PREVIEW_CHARS else flat[:PREVIEW_CHARS - 1] + "…"
    if attachments:
        return "[attachment]" if attachments == 1 else f"[{attachments} attachments]"
    return None


def entry(conversation: Conversation, place: Place) -> ConversationEntry:
    fields = conversation.model_dump(include=set(ConversationEntry.model_fields) - {
        "partition", "key", "conversation_id"})
    return ConversationEntry(partition=place.partition, key=place.key,
                             conversation_id=conversation.id, **fields)


def _membership(conversation: Conversation) -> tuple[object, ...]:
    """What the permanent rows' filters and the reports read: they are rewritten when it
    changes."""
    c = conversation
    return (c.state, c.agent_id, c.queue_id, c.closed_at, c.customer_name, c.labels,
            c.contact_id, c.transfers, c.first_waiting_at, c.first_assigned_at,
            c.first_response_at, c.csat)


def permanent_change(before: Conversation, after: Conversation) -> bool:
    return _membership(before) != _membership(after)


class ConversationIndexes:
    def __init__(self, store: TableStore) -> None:
        self.tables: dict[str, Table[ConversationEntry]] = {
            name: store.table(name, ConversationEntry)
            for name in (*LIVE_TABLES, *PERMANENT_TABLES)}
        self.due: Table[DueEntry] = store.table("ConversationsDue", DueEntry)
        self.departures: Table[ConversationEntry] = store.table(LEFT, ConversationEntry)

    # ------------------------------------------------------------------ writing

    def write(self, before: Conversation | None, after: Conversation) -> bool:
        """Rows for ``after``, which replaced ``before`` (None: new, or unknown — then every
        place it may have been in is cleaned, as a repair does). True: its permanent rows
        were rewritten (what the reports read changed)."""
        live = live_places(after)
        for place in live:
            self._put(after, place)
        permanent = before is None or _membership(before) != _membership(after)
        if permanent:
            for place in permanent_places(after):
                self._put(after, place)
        stale = stale_candidates(after) if before is None else live_places(before)
        for place in stale - live:
            if place.table == ByAgent and before is not None:
                # The agent's ``since`` poll learns it left them (transfer, consult ended).
                self.departures.upsert(entry(after, Place(LEFT, place.partition, after.id)))
            self.tables[place.table].delete(place.partition, place.key)
        return permanent

    def touch(self, after: Conversation) -> None:
        """Refresh the live rows after a change within the same lists (a message)."""
        for place in live_places(after):
            self._put(after, place)

    def _put(self, conversation: Conversation, place: Place) -> None:
        self.tables[place.table].upsert(entry(conversation, place))

    def schedule(self, conversation_id: str, at: datetime, kind: DueKind = "due") -> DueEntry:
        row = DueEntry(shard=due_shard(conversation_id), key=due_key(conversation_id, at, kind),
                       conversation_id=conversation_id, kind=kind, due_at=at)
        self.due.upsert(row)
        return row

    def unschedule(self, row: DueEntry) -> None:
        self.due.delete(row.shard, row.key)

    # ------------------------------------------------------------------ reading

    def _range(self, table: str, partition: str, low: str | None = None,
               high: str | None = None, extra: str = "",
               values: dict[str, object] | None = None,
               limit: int | None = None) -> Iterator[ConversationEntry]:
        query = "PartitionKey eq @pk"
        parameters: dict[str, object] = {"pk": partition, **(values or {})}
        if low is not None:
            query, parameters["lo"] = query + " and RowKey ge @lo", low
        if high is not None:
            query, parameters["hi"] = query + " and RowKey lt @hi", high
        if extra:
            query += f" and {extra}"
        yield from self.tables[table].query_all(query, parameters, limit=limit)

    def left_agent(self, agent_id: str, changed_after: datetime) -> list[ConversationEntry]:
        """Conversations that left the agent's lists after ``changed_after`` (each as it was
        when it left)."""
        return list(self._range_of(self.departures, agent_id, "updated_at gt @after",
                                   {"after": changed_after}))

    def forget_departures(self, agent_id: str, before: datetime) -> None:
        """Departures older than any poll still asks about (``DEPARTURES_KEPT``)."""
        for row in self._range_of(self.departures, agent_id, "updated_at lt @before",
                                  {"before": before}):
            self.departures.delete(row.partition, row.key)

    def _range_of(self, table: Table[ConversationEntry], partition: str, extra: str,
                  values: dict[str, object]) -> Iterator[ConversationEntry]:
        yield from table.query_all(f"PartitionKey eq @pk and {extra}",
                                   {"pk": partition, **values})

    def of_agent(self, agent_id: str, queue_ids: Iterable[str],
                 changed_after: datetime | None = None) -> list[ConversationEntry]:
        """What the agent's inbox shows: push offers and held conversations (their partition)
        and pick offers in their queues (each queue's partition, offered rows only)."""
        since = "" if changed_after is None else "updated_at gt @after"
        values: dict[str, object] = {} if changed_after is None else {"after": changed_after}
        found = list(self._range(ByAgent, agent_id, extra=since, values=values))
        for queue_id in dict.fromkeys(queue_ids):
            offered = "state eq @offered" + (f" and {since}" if since else "")
            found += [row for row in self._range(ByQueue, queue_id, extra=offered,
                                                 values={**values, "offered": "offered"})
                      if row.offer_expires_at is None and agent_id in row.offered_to]
        return found

    def position_in_queue(self, conversation: Conversation) -> int:
        """1 + the waiting conversations ahead of it in its queue (offered ones are not in
        line any more), counted up to ``MAX_POSITION``: a longer line reads no further."""
        if conversation.queue_id is None:
            return 1
        return 1 + self.tables[ByQueue].count(
            "PartitionKey eq @pk and RowKey lt @hi and state eq @waiting",
            {"pk": conversation.queue_id, "hi": queue_key(conversation), "waiting": "waiting"},
            limit=MAX_POSITION - 1)

    def unassigned(self, queue_ids: Iterable[str], limit: int) -> list[ConversationEntry]:
        """Waiting and offered conversations of the queues, oldest first: the first ``limit``
        of each queue's partition (a range in key order), merged."""
        rows = [row for queue_id in dict.fromkeys(queue_ids)
                for row in self._range(ByQueue, queue_id, limit=limit)]
        rows.sort(key=lambda row: row.key)
        return rows[:limit]

    def of_customer(self, page_id: str, psid: str,
                    limit: int | None = None) -> list[ConversationEntry]:
        """One customer's conversations on a page, newest first."""
        return list(self._range(ByCustomer, f"{page_id}|{psid}", limit=limit))

    def of_day(self, day: date, *, queue_id: str | None = None, agent_id: str | None = None,
               page_id: str | None = None, state: State | None = None,
               start: datetime | None = None, end: datetime | None = None,
               ) -> list[ConversationEntry]:
        """Conversations created on ``day`` (UTC), oldest first, optionally only those of a
        queue, agent, page or state, created in [start, end)."""
        filters = {"queue_id": queue_id, "agent_id": agent_id, "page_id": page_id,
                   "state": state}
        extra = " and ".join(f"{name} eq @{name}" for name, value in filters.items()
                             if value is not None)
        values: dict[str, object] = {name: value for name, value in filters.items()
                                     if value is not None}
        return list(self._range(ByDay, day.isoformat(),
                                None if start is None else _at_ms(start),
                                None if end is None else _at_ms(end), extra, values))

    def due_rows(self, now: datetime, limit: int) -> list[DueEntry]:
        """Rows due by ``now``, earliest first, from every shard."""
        found: list[DueEntry] = []
        for shard in range(DUE_SHARDS):
            found += list(self.due.query_all(
                "PartitionKey eq @pk and RowKey lt @hi",
                {"pk": str(shard), "hi": _at_ms(now + timedelta(milliseconds=1))}, limit=limit))
        found.sort(key=lambda row: row.key)
        return found[:limit]

