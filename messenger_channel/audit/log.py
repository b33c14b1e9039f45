"""The audit log: one entry per accountable act, written three times so that each question
is a range read of one partition, newest first, never a scan.

========== ======================================= ================================ ===========
table      PartitionKey                            RowKey                           answers
========== ======================================= ================================ ===========
AuditLog   ``day|YYYY-MM-DD``                      ``<inverted ms:013>|<entry id>`` a time range
           ``actor|<kind>:<id>|YYYY-MM``           (same)                           by actor
           ``action|<action>|YYYY-MM``             (same)                           by action
========== ======================================= ================================ ===========

The day row is written first and is the log itself (the daily export reads it); the actor
and action rows follow. Entries are only ever created (``Table.create``): this module has no
update and no delete, and no route reaches one. Partitions by month keep the actor and action
ones bounded, and a time range reads only the months it covers.

An entry holds ids, names of fields and small facts; never a secret and never a customer's
words (``details`` accepts only short scalars, checked here).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from messenger_channel.clock import Clock
from messenger_channel.storage.errors import AlreadyExists
from messenger_channel.storage.tables import Entity, Table, TableStore

AUDIT_TABLE = "AuditLog"
ActorKind = Literal["management", "agent", "supervisor", "bot", "system"]
Detail = str | int | bool | list[str] | None
MAX_DETAIL_CHARS = 200
MAX_DETAILS = 20
_MAX_MS = 10**13
_ACTION = re.compile(r"[a-z][a-z0-9_.]{0,79}")


class Actor(BaseModel):
    kind: ActorKind
    id: str


class AuditEntry(BaseModel):
    id: str
    at: datetime
    actor: Actor
    action: str
    target: str
    details: dict[str, Detail] = Field(default_factory=dict)


class AuditRow(Entity):
    partition: str
    key: str
    entry_id: str
    at: datetime
    actor_kind: ActorKind
    actor_id: str
    action: str
    target: str
    details: dict[str, Detail] = Field(default_factory=dict)

    def partition_key(self) -> str:
        return self.partition

    def row_key(self) -> str:
        return self.key

    def entry(self) -> AuditEntry:
        return AuditEntry(id=self.entry_id, at=self.at, actor=Actor(kind=self.actor_kind,
                          id=self.actor_id), action=self.action, target=self.target,
                          details=self.details)


def day_partition(day: date) -> str:
    return f"day|{day.isoformat()}"


def actor_partition(actor: Actor, month: str) -> str:
    return f"actor|{actor.kind}:{actor.id}|{month}"


def action_partition(action: str, month: str) -> str:
    return f"action|{action}|{month}"


def row_key(at: datetime, entry_id: str) -> str:
    return f"{_MAX_MS - int(at.timestamp() * 1000):013d}|{entry_id}"


def clean_details(details: Mapping[str, object]) -> dict[str, Detail]:
    """Short scalars only: a long string could be a message or a secret pasted by mistake."""
    cleaned: dict[str, Detail] = {}
    for name, value in list(details.items())[:MAX_DETAILS]:
        if value is None or isinstance(value, bool | int):
            cleaned[name] = value
        elif isinstance(value, str):
            cleaned[name] = value[:MAX_DETAIL_CHARS]
        elif isinstance(value, list | tuple | set | frozenset):
            cleaned[name] = sorted(str(item)[:MAX_DETAIL_CHARS] for item in value)[:MAX_DETAILS]
        else:
            raise TypeError(f"audit detail {name!r}: {type(value).__name__} is not allowed")
    return cleaned


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEntry]
    next: tuple[str, str] | None  # (partition, last RowKey answered)


def _month(moment: datetime) -> str:
    return f"{moment:%Y-%m}"


def _months_back(start: datetime, end: datetime) -> list[str]:
    """The months from ``end``'s back to ``start``'s."""
    months: list[str] = []
    year, month = end.year, end.month
    while (year, month) >= (start.year, start.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def _days_back(start: datetime, end: datetime) -> list[str]:
    days: list[str] = []
    day = end.astimezone(UTC).date()
    while day >= start.astimezone(UTC).date():
        days.append(day_partition(day))
        day -= timedelta(days=1)
    return days


class AuditLog:
    def __init__(self, store: TableStore, clock: Clock) -> None:
        self.rows: Table[AuditRow] = store.table(AUDIT_TABLE, AuditRow)
        self.clock = clock

    def record(self, actor: Actor, action: str, target: str,
               details: Mapping[str, object] | None = None, *,
               entry_id: str | None = None) -> AuditEntry:
        """Append one entry (``entry_id``: a stable id for an act the system does once)."""
        if not _ACTION.fullmatch(action):
            raise ValueError(f"audit action {action!r}: lowercase words joined by dots")
        at = self.clock.now().astimezone(UTC)
        entry = AuditEntry(id=entry_id or f"au_{uuid.uuid4().hex}", at=at, actor=actor,
                           action=action, target=target[:MAX_DETAIL_CHARS],
                           details=clean_details(details or {}))
        key = row_key(at, entry.id)
        month = _month(at)
        for partition in (day_partition(at.date()), actor_partition(actor, month),
                          action_partition(action, month)):
            row = AuditRow(partition=partition, key=key, entry_id=entry.id, at=at,
                           actor_kind=actor.kind, actor_id=actor.id, action=action,
                           target=entry.target, details=entry.details)
            # Create, never upsert: an entry is never overwritten, even by a retry.
            with contextlib.suppress(AlreadyExists):
                self.rows.create(row)
        return entry

    def query(self, start: datetime, end: datetime, *, actor: Actor | None = None,
              action: str | None = None, limit: int = 100,
              after: tuple[str, str] | None = None) -> AuditPage:
        """Entries with ``start <= at < end``, newest first: the partitions of the actor (the
        action as a filter), else of the action, else of the days, one range each."""
        if actor is not None:
            partitions = [actor_partition(actor, m) for m in _months_back(start, end)]
        elif action is not None:
            partitions = [action_partition(action, m) for m in _months_back(start, end)]
        else:
            partitions = _days_back(start, end)
        extra = " and action eq @action" if actor is not None and action is not None else ""
        found: list[AuditEntry] = []
        resume = after
        if resume is not None:
            if resume[0] not in partitions:
                return AuditPage([], None)
            partitions = partitions[partitions.index(resume[0]):]
        for partition in partitions:
            low = row_key(end, "~")  # at or after ``end`` (to the ms) sorts before it
            if resume is not None and resume[0] == partition:
                low = max(low, resume[1])
            high = row_key(start - timedelta(milliseconds=1), "")
            values: dict[str, object] = {"pk": partition, "lo": low, "hi": high}
            if extra:
                values["action"] = action
            for row in self._range(f"PartitionKey eq @pk and RowKey gt @lo and RowKey lt @hi"
                                   f"{extra}", values, limit - len(found)):
                found.append(row.entry())
                if len(found) == limit:
                    return AuditPage(found, (partition, row.key))
        return AuditPage(found, None)

    def day(self, day: date) -> Iterator[AuditEntry]:
        """Every entry of one day (UTC), newest first: what the daily export writes."""
        for row in self._range("PartitionKey eq @pk", {"pk": day_partition(day)}, None):
            yield row.entry()

    def _range(self, query: str, values: dict[str, object],
               limit: int | None) -> Iterator[AuditRow]:
        return self.rows.query_all(query, values, limit=limit)
