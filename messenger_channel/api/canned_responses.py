"""Canned responses: the team's under ``/api/manage/canned-responses`` (management key), each
agent's own under ``/api/agent/canned-responses`` (agent key).

An agent reads, changes and deletes only their personal responses (another's id, or a team
one's, is a 404); their list also holds the team responses of their queues. Lists are sorted
by shortcut (personal ones first), the order in which an agent looks them up; they have the
API's list shape, ``next`` and ``since`` included. The logic lives in
``messenger_channel.workforce.canned_responses``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query, Response

from messenger_channel.api.auth import AgentIdDep, ManagerDep, ServicesDep
from messenger_channel.api.errors import ApiError, documented
from messenger_channel.api.lists import (
    DEFAULT_LIMIT,
    ListPage,
    change_cursor,
    paginate,
    parse_change_cursor,
)
from messenger_channel.api.workforce_models import RecordOut, patch_model, shown
from messenger_channel.services import Services
from messenger_channel.workforce.agents import Agent, get_agent
from messenger_channel.workforce.canned_responses import (
    CannedFields,
    CannedQuickReply,
    CannedResponse,
    CannedResponses,
    PersonalCannedCreate,
    TeamCannedCreate,
    TeamCannedFields,
    by_shortcut,
    matches,
    usable_by,
)

MAX_QUERY_CHARS = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_SHORTCUT_TAKEN = documented({409: "shortcut_taken"})

manage_router = APIRouter(prefix="/api/manage", tags=["canned responses"])
agent_router = APIRouter(tags=["agent"])


class CannedResponseOut(RecordOut):
    shortcut: str
    title: str
    text: str
    quick_replies: list[CannedQuickReply]
    queue_ids: list[str]
    owner_agent_id: str | None


def _out(canned: CannedResponse) -> CannedResponseOut:
    return shown(CannedResponseOut, canned)


TeamCannedPatch = patch_model(TeamCannedFields)
PersonalCannedPatch = patch_model(CannedFields)

QueryParam = Query("", max_length=MAX_QUERY_CHARS,
                   description="words starting a word of the shortcut or title, or the start "
                               "of the shortcut; any case, any accent")


def _page(responses: list[CannedResponse], cursor: str | None, since: str | None,
          limit: int) -> ListPage[CannedResponseOut]:
    """The list shape over ``responses`` in their order (``paginate`` would sort by time)."""
    latest = max((canned.updated_at for canned in responses), default=None)
    if since is not None:
        after = parse_change_cursor(since)
        responses = [canned for canned in responses if canned.updated_at > after]
        latest = after if latest is None else max(latest, after)
    # One time for all: the sort is stable, so the order given is kept.
    page = paginate(responses, changed_at=lambda _: _EPOCH, cursor=cursor, limit=limit,
                    oldest_first=True)
    return ListPage[CannedResponseOut](items=[_out(canned) for canned in page.items],
                                       next=page.next, since=change_cursor(latest))


def _team(services: Services) -> CannedResponses:
    return CannedResponses(services.tables, services.clock)


def _personal(services: Services, agent_id: str) -> CannedResponses:
    return CannedResponses(services.tables, services.clock, owner_agent_id=agent_id)


def _agent(services: Services, agent_id: str) -> Agent:
    agent = get_agent(services.tables, agent_id)
    if agent is None:  # deleted after the key was checked
        raise ApiError(401, "unauthorized", "the key is not valid")
    return agent


# ------------------------------------------------------------------------------- team


@manage_router.post("/canned-responses", name="create_canned_response", responses=_SHORTCUT_TAKEN,
                    status_code=201, response_model=CannedResponseOut,
                    summary="Create a team canned response")
def create_team(body: TeamCannedCreate, services: ServicesDep,
                _: ManagerDep) -> CannedResponseOut:
    return _out(_team(services).create(body))


@manage_router.get("/canned-responses", name="list_canned_responses",
                   response_model=ListPage[CannedResponseOut],
                   summary="List the team's canned responses, by shortcut")
def list_team(services: ServicesDep, _: ManagerDep, query: str = QueryParam,
              cursor: str | None = None, since: str | None = None,
              limit: int = DEFAULT_LIMIT) -> ListPage[CannedResponseOut]:
    found = [canned for canned in by_shortcut(_team(services).all()) if matches(canned, query)]
    return _page(found, cursor, since, limit)


@manage_router.get("/canned-responses/{id}", name="get_canned_response",
                   response_model=CannedResponseOut,
                   summary="Read a team canned response")
def read_team(id: str, services: ServicesDep, _: ManagerDep) -> CannedResponseOut:
    return _out(_team(services).get(id))


@manage_router.patch("/canned-responses/{id}", name="patch_canned_response",
                     responses=_SHORTCUT_TAKEN, response_model=CannedResponseOut,
                     summary="Change some fields of a team canned response")
def patch_team(id: str, body: TeamCannedPatch,  # type: ignore[valid-type]
               services: ServicesDep, _: ManagerDep) -> CannedResponseOut:
    return _out(_team(services).patch(id, body))


@manage_router.delete("/canned-responses/{id}", name="delete_canned_response",
                      status_code=204,
                      summary="Delete a team canned response")
def delete_team(id: str, services: ServicesDep, _: ManagerDep) -> Response:
    _team(services).delete(id)
    return Response(status_code=204)


# --------------------------------------------------------------------------- personal


@agent_router.post("/canned-responses", name="create_canned_response", responses=_SHORTCUT_TAKEN,
                   status_code=201, response_model=CannedResponseOut,
                   summary="Create a personal canned response")
def create_personal(body: PersonalCannedCreate, agent_id: AgentIdDep,
                    services: ServicesDep) -> CannedResponseOut:
    _agent(services, agent_id)
    return _out(_personal(services, agent_id).create(body))


@agent_router.get("/canned-responses", name="list_canned_responses",
                  response_model=ListPage[CannedResponseOut],
                  summary="The canned responses the agent may use: personal ones, then the "
                          "team ones of their queues, each by shortcut")
def list_usable(agent_id: AgentIdDep, services: ServicesDep, query: str = QueryParam,
                cursor: str | None = None, since: str | None = None,
                limit: int = DEFAULT_LIMIT) -> ListPage[CannedResponseOut]:
    return _page(usable_by(services.tables, _agent(services, agent_id), query),
                 cursor, since, limit)


@agent_router.get("/canned-responses/{id}", name="get_canned_response",
                  response_model=CannedResponseOut,
                  summary="Read one of the agent's personal canned responses")
def read_personal(id: str, agent_id: AgentIdDep, services: ServicesDep) -> CannedResponseOut:
    return _out(_personal(services, agent_id).get(id))


@agent_router.patch("/canned-responses/{id}", name="patch_canned_response",
                    responses=_SHORTCUT_TAKEN, response_model=CannedResponseOut,
                    summary="Change some fields of one of the agent's personal canned responses")
def patch_personal(id: str, body: PersonalCannedPatch,  # type: ignore[valid-type]
                   agent_id: AgentIdDep, services: ServicesDep) -> CannedResponseOut:
    return _out(_personal(services, agent_id).patch(id, body))


@agent_router.delete("/canned-responses/{id}", name="delete_canned_response",
                     status_code=204,
                     summary="Delete one of the agent's personal canned responses")
def delete_personal(id: str, agent_id: AgentIdDep, services: ServicesDep) -> Response:
    _personal(services, agent_id).delete(id)
    return Response(status_code=204)
