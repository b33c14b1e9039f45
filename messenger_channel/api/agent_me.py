"""``/api/agent/me`` and ``/api/agent/presence``: who the agent is, and their presence."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from messenger_channel.api.auth import AgentIdDep, ServicesDep
from messenger_channel.api.errors import ApiError
from messenger_channel.api.workforce_models import AgentOut, agent_out
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.live_hints import agents_changed
from messenger_channel.conversations.models import ConversationTables
from messenger_channel.conversations.presence import presence_changed
from messenger_channel.services import Services
from messenger_channel.workforce.agents import Agent, Agents, Presence, get_agent

router = APIRouter(tags=["agent"])


class AgentMe(AgentOut):
    capacity_used: int


class PresenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    presence: Presence


def _me(services: Services, agent: Agent) -> AgentMe:
    load = ConversationTables(services.tables).loads.get("load", agent.id)
    return AgentMe(**dict(agent_out(agent)),
                   capacity_used=0 if load is None else load.used)


def _agent(services: Services, agent_id: str) -> Agent:
    agent = get_agent(services.tables, agent_id)
    if agent is None:  # deleted after the key was checked
        raise ApiError(401, "unauthorized", "the key is not valid")
    return agent


@router.get("/me", response_model=AgentMe)
def me(agent_id: AgentIdDep, services: ServicesDep) -> AgentMe:
    return _me(services, _agent(services, agent_id))


@router.put("/presence", response_model=AgentMe)
def set_presence(body: PresenceBody, agent_id: AgentIdDep, services: ServicesDep) -> AgentMe:
    _agent(services, agent_id)
    before, updated = Agents(services.tables, services.clock).update(
        agent_id, {"presence": body.presence})
    presence_changed(services, updated, before.presence)
    if updated.presence != before.presence:
        agents_changed(services.live, services.clock)
    # A presence change may make the agent eligible: waiting conversations are offered now.
    Distributor(services).sweep()
    return _me(services, updated)
