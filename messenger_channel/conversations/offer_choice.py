"""Which agents a conversation may be offered to, and in which order: pure. ``distribution``
reads the agents and their loads, asks here, and reserves capacity in this order."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from messenger_channel.conversations.models import AgentLoad

_EPOCH = datetime.fromtimestamp(0).astimezone()


class OfferedAgent(Protocol):
    """What the choice reads of an agent."""

    @property
    def id(self) -> str: ...
    @property
    def capacity(self) -> int: ...
    @property
    def presence(self) -> str: ...
    @property
    def queue_ids(self) -> Sequence[str]: ...


A = TypeVar("A", bound=OfferedAgent)


def eligible_agents(agents: Iterable[A], loads: Mapping[str, AgentLoad], *,
                    conversation_id: str, queue_id: str | None, units: int,
                    allowed_presences: Collection[str], method: str) -> list[A]:
    """The agents of the conversation's queue, in an allowed presence, with ``units`` of free
    capacity (or holding the conversation's reservation already), in the order the assignment
    ``method`` prefers them:

    - ``highest_capacity``: most free capacity, ties to whoever was offered work longest ago;
    - ``round_robin``: whoever was offered work longest ago;
    - ``most_idle``: whoever was last assigned a conversation longest ago.

    An agent already holding a reservation for it (an offer interrupted before it was
    written) comes first, so a retry never strands capacity with another agent."""
    found: list[tuple[A, AgentLoad]] = []
    for agent in agents:
        load = loads.get(agent.id) or AgentLoad(agent_id=agent.id)
        holds = conversation_id in load.reservations
        if (queue_id in agent.queue_ids
                and agent.presence in allowed_presences
                and (holds or agent.capacity - load.used >= units)):
            found.append((agent, load))
    found.sort(key=_preference(method))
    found.sort(key=lambda pair: conversation_id not in pair[1].reservations)
    return [agent for agent, _ in found]


def push_order(candidates: Sequence[A], *, first_offer: bool, last_agent_id: str | None,
               previous: str | None) -> list[A]:
    """The order a push offer tries ``candidates`` (eligible, in preference order): on a first
    offer the customer's last agent (``last_agent_id``) first (keep-same-agent affinity);
    after an expired offer the next agent, back to the same one (``previous``) only when no
    other is eligible."""
    ordered = list(candidates)
    if first_offer:
        ordered.sort(key=lambda agent: agent.id != last_agent_id)
    if previous is not None:
        ordered.sort(key=lambda agent: agent.id == previous)
    return ordered


def _preference(method: str) -> Callable[[tuple[OfferedAgent, AgentLoad]], tuple[object, ...]]:
    def offered(load: AgentLoad) -> datetime:
        return load.last_offered_at or _EPOCH

    if method == "round_robin":
        return lambda pair: (offered(pair[1]),)
    if method == "most_idle":
        return lambda pair: (pair[1].last_assigned_at or _EPOCH, offered(pair[1]))
    return lambda pair: (-(pair[0].capacity - pair[1].used), offered(pair[1]))
