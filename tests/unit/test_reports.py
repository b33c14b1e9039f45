"""Report measures on a constructed history whose answers are known by hand."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from messenger_channel.conversations.indexes import ConversationEntry
from messenger_channel.conversations.models import Csat
from messenger_channel.conversations.reports import as_csv, fact_of, median, percentile, report

DAY1 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def row(n: int, created: datetime, *, wait: int | None = None, first: int | None = None,
        handle: int | None = None, state: str = "closed", queue: str = "q_a",
        agent: str | None = "ag_1", transfers: int = 0, score: int | None = None,
        comment: str | None = None) -> ConversationEntry:
    """A conversation created at ``created``: waits ``wait`` s, answered ``first`` s after
    assignment, closed ``handle`` s after assignment."""
    assigned = None if wait is None else created + timedelta(seconds=wait)
    fields: dict[str, Any] = {
        "partition": created.date().isoformat(), "key": f"{n}", "conversation_id": f"cv_{n}",
        "page_id": "p_1", "psid": f"u{n}", "contact_id": f"c{n}", "state": state,
        "queue_id": queue, "agent_id": agent if assigned else None, "transfers": transfers,
        "first_waiting_at": created, "first_assigned_at": assigned,
        "created_at": created, "updated_at": created}
    if assigned is not None and first is not None:
        fields["first_response_at"] = assigned + timedelta(seconds=first)
        fields["last_agent_message_at"] = fields["first_response_at"]
    if assigned is not None and handle is not None:
        fields["closed_at"] = assigned + timedelta(seconds=handle)
    elif state == "closed":
        fields["closed_at"] = created + timedelta(hours=1)
    if score is not None or comment is not None:
        fields["csat"] = Csat(score=score, comment=comment, at=created + timedelta(hours=2))
    return ConversationEntry(**fields)


HISTORY = [
    # day 1: four conversations
    row(1, DAY1, wait=60, first=30, handle=600, score=5),
    row(2, DAY1 + timedelta(hours=1), wait=120, first=90, handle=900, score=3),
    row(3, DAY1 + timedelta(hours=2), wait=30, first=10, handle=300, transfers=1,
        queue="q_b", agent="ag_2", comment="quick"),  # a comment alone is not a rating
    row(4, DAY1 + timedelta(hours=3)),  # closed, never assigned: abandoned
    # day 2: two
    row(5, DAY2, wait=300, first=600, state="active"),  # not closed: no handle time
    row(6, DAY2 + timedelta(hours=1), wait=10, handle=50, score=4),  # closed unanswered
]


def test_by_day_with_known_answers() -> None:
    first, second = report(map(fact_of, HISTORY), "day")
    assert first.key == "2026-11-02" and second.key == "2026-11-03"
    assert (first.conversations, first.closed, first.abandoned, first.transferred) == (4, 4, 1, 1)
    assert first.median_wait_seconds == 60  # 30, 60, 120
    assert first.median_first_response_seconds == 30  # 10, 30, 90
    assert first.p90_first_response_seconds == 90  # nearest rank: ceil(0.9 * 3) = 3rd
    assert first.median_handle_seconds == 600  # 300, 600, 900
    assert (first.csat_average, first.csat_responses) == (4.0, 2)
    assert (second.conversations, second.closed, second.abandoned) == (2, 1, 1)
    assert second.median_wait_seconds == 155  # (10 + 300) / 2
    assert second.median_first_response_seconds == 600
    assert second.median_handle_seconds == 50
    assert (second.csat_average, second.csat_responses) == (4.0, 1)


def test_by_queue_and_by_agent() -> None:
    by_queue = {r.key: r for r in report(map(fact_of, HISTORY), "queue")}
    assert set(by_queue) == {"q_a", "q_b"}
    assert by_queue["q_b"].transferred == 1 and by_queue["q_a"].conversations == 5
    by_agent = {r.key: r.conversations for r in report(map(fact_of, HISTORY), "agent")}
    assert by_agent == {"ag_1": 4, "ag_2": 1, "unassigned": 1}


def test_csv_has_the_json_rows_and_defuses_formulas() -> None:
    text = as_csv(report([fact_of(row(9, DAY1, queue="=cmd()"))], "queue"))
    header, line = list(csv.reader(io.StringIO(text)))
    assert header[:3] == ["key", "name", "conversations"]
    assert line[0] == "'=cmd()" and line[2] == "1"
    assert line[header.index("median_wait_seconds")] == ""  # never assigned: no value


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1))
def test_percentiles_are_values_that_occurred_and_ordered(values: list[float]) -> None:
    p50, p90 = percentile(values, 0.5), percentile(values, 0.9)
    assert p50 in values and p90 in values
    assert p50 is not None and p90 is not None and p50 <= p90
    middle = median(values)
    assert middle is not None and min(values) <= middle <= max(values)
