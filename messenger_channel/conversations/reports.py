"""Reports: how a contact centre did over a range of days, by day, queue, agent or page.

Computed from one ``Fact`` per conversation: what its by-day index row (one partition per
UTC day of creation) says of the moments recorded as it moved (``milestones``) and of its
rating (``csat``). ``report_days.py`` keeps a past day's facts as one compact digest, so a
30-day report reads 30 small partitions, never the conversations or their messages.

=============================== ===========================================================
measure                         definition (over the conversations created in the range)
=============================== ===========================================================
``conversations``               how many
``closed``                      how many are closed now
``abandoned``                   closed without any agent message to the customer
``transferred``                 transferred (or reassigned by a supervisor) at least once
``median_wait_seconds``         first waiting → first assignment (those assigned)
``median_first_response_*``     first assignment → the first agent message after it;
``p90_first_response_seconds``  nearest-rank percentiles
``median_handle_seconds``       first assignment → close (those closed after assignment)
``csat_average``, ``_responses`` the ratings given (a comment alone is not a rating)
=============================== ===========================================================

Grouping: ``day`` (the UTC day of creation), ``queue`` (the last queue), ``agent`` (the last
agent who held it; none: "unassigned"), ``page``. Groups come sorted by key.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, astuple, dataclass, fields
from datetime import datetime
from typing import Literal

from messenger_channel.conversations.indexes import ConversationEntry

GroupBy = Literal["day", "queue", "agent", "page"]
MAX_REPORT_DAYS = 366
UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class ReportRow:
    key: str
    conversations: int
    closed: int
    abandoned: int
    transferred: int
    median_wait_seconds: float | None
    median_first_response_seconds: float | None
    p90_first_response_seconds: float | None
    median_handle_seconds: float | None
    csat_average: float | None
    csat_responses: int
    name: str | None = None  # the queue's, agent's or page's, filled by who shows the row


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` in (0, 1]): a value that occurred."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True, slots=True)
class Fact:
    """What the reports need of one conversation (seconds; None: did not happen)."""

    day: str  # the UTC day of creation, YYYY-MM-DD
    queue: str
    agent: str
    page: str
    closed: bool
    abandoned: bool
    transferred: bool
    wait: float | None
    first_response: float | None
    handle: float | None
    rating: int | None

    def as_list(self) -> list[object]:
        return list(astuple(self))

    @classmethod
    def from_list(cls, values: Sequence[object]) -> Fact:
        return cls(*values)  # type: ignore[arg-type]


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def fact_of(row: ConversationEntry) -> Fact:
    closed = row.state == "closed"
    assigned = row.first_assigned_at
    return Fact(
        day=row.created_at.date().isoformat(), queue=row.queue_id or UNASSIGNED,
        agent=row.agent_id or UNASSIGNED, page=row.page_id, closed=closed,
        abandoned=closed and row.first_response_at is None
        and row.last_agent_message_at is None,
        transferred=bool(row.transfers),
        wait=_seconds(row.first_waiting_at, assigned),
        first_response=_seconds(assigned, row.first_response_at),
        handle=_seconds(assigned, row.closed_at) if closed else None,
        rating=row.csat.score if row.csat is not None else None)


def group_key(fact: Fact, group_by: GroupBy) -> str:
    if group_by == "day":
        return fact.day
    if group_by == "queue":
        return fact.queue
    if group_by == "agent":
        return fact.agent
    return fact.page


def summarise(key: str, facts: Sequence[Fact]) -> ReportRow:
    def present(values: Iterable[float | None]) -> list[float]:
        return [value for value in values if value is not None]

    firsts = present(fact.first_response for fact in facts)
    ratings = present(fact.rating for fact in facts)
    return ReportRow(
        key=key, conversations=len(facts),
        closed=sum(fact.closed for fact in facts),
        abandoned=sum(fact.abandoned for fact in facts),
        transferred=sum(fact.transferred for fact in facts),
        median_wait_seconds=median(present(fact.wait for fact in facts)),
        median_first_response_seconds=median(firsts),
        p90_first_response_seconds=percentile(firsts, 0.9),
        median_handle_seconds=median(present(fact.handle for fact in facts)),
        csat_average=round(sum(ratings) / len(ratings), 2) if ratings else None,
        csat_responses=len(ratings))


def report(facts: Iterable[Fact], group_by: GroupBy) -> list[ReportRow]:
    groups: dict[str, list[Fact]] = defaultdict(list)
    for fact in facts:
        groups[group_key(fact, group_by)].append(fact)
    return [summarise(key, groups[key]) for key in sorted(groups)]


def as_csv(rows: Sequence[ReportRow]) -> str:
    """The rows as CSV, the name beside the key."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = [f.name for f in fields(ReportRow) if f.name != "name"]
    columns.insert(1, "name")
    writer.writerow(columns)
    for row in rows:
        values = asdict(row)
        writer.writerow(["" if values[name] is None else _cell(values[name])
                         for name in columns])
    return out.getvalue()


def _cell(value: object) -> str:
    text = str(value)
    # A key (a queue or page id) starting like a formula must not run in a spreadsheet.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text
