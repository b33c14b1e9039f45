"""``/api/agent/queues`` and ``/api/agent/colleagues``: whom a conversation can go to (the
transfer and consult dialogs). Names and availability only: no keys, no settings."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from messenger_channel.api.auth import AgentIdDep, ServicesDep
from messenger_channel.conversations.models import ConversationTables
from messenger_channel.workforce.agents import Presence, list_agents
from messenger_channel.workforce.queue_management import Queues

router = APIRouter(tags=["agent"])


class QueueItem(BaseModel):
    id: str
    name: str


class QueueList(BaseModel):
    items: list[QueueItem]


class Colleague(BaseModel):
    id: str
    name: str
    presence: Presence
    queue_ids: list[str]
    free_capacity: int


class ColleagueList(BaseModel):
    items: list[Colleague]


@router.get("/queues", name="list_queues", response_model=QueueList)
def queues(agent_id: AgentIdDep, services: ServicesDep) -> QueueList:
    """Every queue, by name."""
    found = sorted(Queues(services.tables).all(), key=lambda queue: queue.name.casefold())
    return QueueList(items=[QueueItem(id=queue.id, name=queue.name) for queue in found])


@router.get("/colleagues", name="list_colleagues", response_model=ColleagueList)
def colleagues(agent_id: AgentIdDep, services: ServicesDep) -> ColleagueList:
    """Every other agent, with presence and the capacity they have free now."""
    loads = {load.agent_id: load.used
             for load in ConversationTables(services.tables).loads.list_partition("load")}
    others = sorted((agent for agent in list_agents(services.tables) if agent.id != agent_id),
                    key=lambda agent: agent.name.casefold())
    return ColleagueList(items=[Colleague(
        id=agent.id, name=agent.name, presence=agent.presence, queue_ids=agent.queue_ids,
        free_capacity=max(0, agent.capacity - loads.get(agent.id, 0))) for agent in others])
