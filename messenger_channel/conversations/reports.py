"""Reports: how a contact centre did over a range of days, by day, queue, agent or page.

Read from the by-day index rows (one partition per UTC day of creation), which carry the
moments recorded as conversations move (``milestones``) and the rating (``csat``): a 30-day
report reads 30 partitions, never the conversations or their messages.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, timedelta
from typing import Literal

from messenger_channel.conversations.indexes import ConversationEntry, ConversationIndexes
from messenger_channel.storage.tables import TableStore

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


def group_key(row: ConversationEntry, group_by: GroupBy) -> str:
    if group_by == "day":
        return row.created_at.date().isoformat()
    if group_by == "queue":
        return row.queue_id or UNASSIGNED
    if group_by == "agent":
        return row.agent_id or UNASSIGNED
    return row.page_id


def summarise(key: str, rows: Sequence[ConversationEntry]) -> ReportRow:
    waits, firsts, handles, ratings = [], [], [], []
    for row in rows:
        if row.first_assigned_at is not None:
            if row.first_waiting_at is not None:
                waits.append((row.first_assigned_at - row.first_waiting_at).total_seconds())
            if row.first_response_at is not None:
                firsts.append((row.first_response_at - row.first_assigned_at).total_seconds())
            if row.state == "closed" and row.closed_at is not None:
                handles.append((row.closed_at - row.first_assigned_at).total_seconds())
        if row.csat is not None and row.csat.score is not None:
            ratings.append(row.csat.score)
    return ReportRow(
        key=key, conversations=len(rows),
        closed=sum(1 for row in rows if row.state == "closed"),
        abandoned=sum(1 for row in rows if row.state == "closed"
                      and row.first_response_at is None and row.last_agent_message_at is None),
        transferred=sum(1 for row in rows if row.transfers),
        median_wait_seconds=median(waits),
        median_first_response_seconds=median(firsts),
        p90_first_response_seconds=percentile(firsts, 0.9),
        median_handle_seconds=median(handles),
        csat_average=round(sum(ratings) / len(ratings), 2) if ratings else None,
        csat_responses=len(ratings))


def report(rows: Iterable[ConversationEntry], group_by: GroupBy) -> list[ReportRow]:
    groups: dict[str, list[ConversationEntry]] = defaultdict(list)
    for row in rows:
        groups[group_key(row, group_by)].append(row)
    return [summarise(key, groups[key]) for key in sorted(groups)]


def rows_of(tables: TableStore, start: date, end: date) -> list[ConversationEntry]:
    """Every conversation created from ``start`` to ``end`` (UTC days, both included)."""
    indexes = ConversationIndexes(tables)
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    return [row for day in days for row in indexes.of_day(day)]


def as_csv(rows: Sequence[ReportRow], names: Mapping[str, str | None] | None = None) -> str:
    """The rows as CSV; ``names``: the queue's, agent's or page's name of each key."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = [f.name for f in fields(ReportRow)]
    writer.writerow([columns[0], "name", *columns[1:]])
    for row in rows:
        values = asdict(row)
        values["name"] = (names or {}).get(row.key)
        writer.writerow(["" if values[name] is None else _cell(values[name])
                         for name in [columns[0], "name", *columns[1:]]])
    return out.getvalue()


def _cell(value: object) -> str:
    text = str(value)
    # A key (a queue or page id) starting like a formula must not run in a spreadsheet.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text
