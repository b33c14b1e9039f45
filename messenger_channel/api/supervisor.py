"""``/api/supervisor``: every conversation, the live view, assignments and reports
(a supervisor's key: an agent whose ``role`` is ``supervisor``; any other key → 403).

The rules live in the core: ``conversations/supervision.py`` (lists, live view),
``conversations/assignment.py`` (assign, close), ``conversations/reports.py``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from messenger_channel.api.agent_conversations import (
    ClosedOut,
    ConversationOut,
    MessageOut,
    closed_answer,
    conversation_answer,
    conversation_out,
    messages_page,
    refusals,
)
from messenger_channel.api.auth import ServicesDep, SupervisorIdDep
from messenger_channel.api.errors import ApiError, documented
from messenger_channel.api.lists import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ListPage,
    change_cursor,
    parse_change_cursor,
)
from messenger_channel.api.names import Names
from messenger_channel.conversations.assignment import any_conversation, assign, supervisor_close
from messenger_channel.conversations.models import State
from messenger_channel.conversations.report_days import ReportDays
from messenger_channel.conversations.reports import (
    MAX_REPORT_DAYS,
    GroupBy,
    ReportRow,
    as_csv,
    report,
)
from messenger_channel.conversations.supervision import (
    AgentNow,
    BadCursor,
    Filters,
    QueueNow,
    agents_now,
    every_conversation,
    queues_now,
)

router = APIRouter(prefix="/api/supervisor", tags=["supervisor"])


def _moment(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    """An ISO 8601 date (a whole day: ``to`` includes it) or a time (UTC when no zone)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1 if end else 0), time(), UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(422, "validation_error", f"{name}: not an ISO 8601 date or time",
                       [{"field": name, "message": "not an ISO 8601 date or time"}]) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/conversations", name="list_conversations", response_model=ListPage[ConversationOut])
def conversations(
    supervisor_id: SupervisorIdDep, services: ServicesDep, state: State | None = None,
    queue_id: str | None = None, agent_id: str | None = None, page_id: str | None = None,
    label: str | None = None, customer: Annotated[str | None, Query(max_length=200)] = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None, cursor: str | None = None, since: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ListPage[ConversationOut]:
    """Every conversation, closed ones included, newest first by creation (see
    ``conversations/supervision.py``); ``from``/``to`` bound ``created_at`` (a date: the whole
    day; without ``from``: the last 90 days); ``customer`` matches like the contacts search;
    ``since``: only those changed after it."""
    filters = Filters(state=state, queue_id=queue_id, agent_id=agent_id, page_id=page_id,
                      label=label, customer=customer or None,
                      start=_moment(from_, "from"), end=_moment(to, "to", end=True))
    changed_after = None if since is None else parse_change_cursor(since)
    try:
        found = every_conversation(services, filters, limit=limit, cursor=cursor)
    except BadCursor:
        raise ApiError(400, "invalid_cursor", "cursor is not a cursor this API issued") from None
    items = [row for row in found.items
             if changed_after is None or row.updated_at > changed_after]
    latest = max((row.updated_at for row in found.items), default=changed_after)
    return ListPage[ConversationOut](
        items=[conversation_out(services, row) for row in items], next=found.next,
        since=change_cursor(latest or services.clock.now()))


@router.get("/conversations/{conversation_id}",
            name="get_conversation", response_model=ConversationOut)
def conversation(conversation_id: str, supervisor_id: SupervisorIdDep,
                 services: ServicesDep) -> ConversationOut:
    with refusals(conversation_id):
        found = any_conversation(services, conversation_id)
    return conversation_answer(services, found)


@router.get("/conversations/{conversation_id}/messages",
            name="list_messages", response_model=ListPage[MessageOut])
def messages(conversation_id: str, supervisor_id: SupervisorIdDep, services: ServicesDep,
             since: str | None = None, cursor: str | None = None,
             limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
             ) -> ListPage[MessageOut]:
    """The whole transcript, notes included; reading it changes nothing (no unread, no
    "seen" to the customer)."""
    with refusals(conversation_id):
        found = any_conversation(services, conversation_id)
    return messages_page(services, found, since=since, cursor=cursor, limit=limit)


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=100)


@router.post("/conversations/{conversation_id}/assign", response_model=ConversationOut,
             responses=documented({409: "no_capacity, agent_unavailable, conversation_closed, "
                                        "conversation_changed"}))
def assign_conversation(conversation_id: str, body: AssignBody,
                        supervisor_id: SupervisorIdDep, services: ServicesDep) -> ConversationOut:
    """Make a waiting, offered or active conversation the agent's, active at once (taken from
    whoever had it); 409 ``no_capacity``, ``agent_unavailable`` (offline),
    ``conversation_closed``."""
    with refusals(conversation_id):
        assigned = assign(services, conversation_id, supervisor_id, body.agent_id)
    return conversation_answer(services, assigned)


@router.post("/conversations/{conversation_id}/close", response_model=ClosedOut,
             responses=documented({409: "conversation_changed: try again"}))
def close_conversation(conversation_id: str, supervisor_id: SupervisorIdDep,
                       services: ServicesDep) -> ClosedOut:
    """Close it now, whatever its state (closed already: the same answer, ``not_sent`` empty).
    ``not_sent`` names the closing message Facebook refuses (the survey, after the messaging
    window), with the reason."""
    with refusals(conversation_id):
        closed = supervisor_close(services, conversation_id, supervisor_id)
    return closed_answer(services, closed)


class QueuesNow(BaseModel):
    items: list[QueueNow]


class AgentsNow(BaseModel):
    items: list[AgentNow]


@router.get("/queues", name="live_queues", response_model=QueuesNow)
def queues(supervisor_id: SupervisorIdDep, services: ServicesDep) -> QueuesNow:
    """Each queue now: waiting, offered and active conversations, the longest wait, the
    agents available in it."""
    return QueuesNow(items=queues_now(services, services.clock))


@router.get("/agents", name="live_agents", response_model=AgentsNow)
def agents(supervisor_id: SupervisorIdDep, services: ServicesDep) -> AgentsNow:
    """Each agent now: presence, capacity and what is used of it (the distribution's own
    reservations), the conversations they hold."""
    return AgentsNow(items=agents_now(services))


class ReportOut(BaseModel):
    from_: date = Field(alias="from")
    to: date
    group_by: GroupBy
    items: list[ReportRow]


@router.get("/reports", response_model=ReportOut, response_model_by_alias=True,
            responses={200: {"content": {"text/csv": {}}}})
def reports(supervisor_id: SupervisorIdDep, services: ServicesDep,
            from_: Annotated[date, Query(alias="from")], to: date,
            group_by: GroupBy = "day", format: str = "json") -> ReportOut | Response:
    """Over the conversations created from ``from`` to ``to`` (UTC days, both included; at
    most 366): see ``conversations/reports.py`` for each measure's definition.
    ``format=csv``: the same rows as CSV."""
    if to < from_:
        raise ApiError(422, "validation_error", "to: before from",
                       [{"field": "to", "message": "must not be before from"}])
    if (to - from_).days + 1 > MAX_REPORT_DAYS:
        raise ApiError(422, "validation_error", f"from: at most {MAX_REPORT_DAYS} days",
                       [{"field": "from", "message": f"at most {MAX_REPORT_DAYS} days"}])
    if format not in ("json", "csv"):
        raise ApiError(422, "validation_error", "format: json or csv",
                       [{"field": "format", "message": "json or csv"}])
    names = Names(services.tables)
    rows = [replace(row, name=_name(names, group_by, row)) for row in report(
        ReportDays(services.tables, services.clock).facts(from_, to), group_by)]
    if format == "csv":
        return Response(as_csv(rows),
                        media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition":
                f'attachment; filename="report-{group_by}-{from_}-{to}.csv"'})
    return ReportOut.model_validate({"from": from_, "to": to, "group_by": group_by,
                                     "items": rows})


def _name(names: Names, group_by: GroupBy, row: ReportRow) -> str | None:
    if group_by == "queue":
        return names.queue(row.key)
    if group_by == "agent":
        return names.agent(row.key)
    if group_by == "page":
        return names.page(row.key)
    return None
