"""Transfer: the owner hands an active conversation to a queue or to a named agent.

To a queue, it waits there like a new conversation (at the back of the line) and is offered
by the queue's distribution; to an agent, it is offered to that agent alone, for the
workstream's offer timeout, after which it goes to the eligible agents of its queue like any
expired offer. Either way it leaves the owner at once: capacity released, consultations
ended, and the conversation keeps its id, so its history follows it. The optional note is
an internal message; a system line says who transferred it where. The next accept sends
``transfer_accepted`` (``accepted_trigger``).

Races. The named agent's capacity is reserved before the conversation changes and released
again if the change is refused; the change itself is made under the conversation's ETag
only while the caller still owns it and it is active, so two transfers, a transfer and a
close, or a transfer and the customer's message never both apply to the same version.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.models import Conversation
from messenger_channel.conversations.notes import internal_message
from messenger_channel.conversations.participants import MANAGES, participating
from messenger_channel.errors import Conflict, Invalid, Missing
from messenger_channel.services import Services
from messenger_channel.workforce.agents import Agent, get_agent
from messenger_channel.workforce.queues import get_queue
from messenger_channel.workforce.workstreams import Workstream

log = logging.getLogger(__name__)


def accepted_trigger(conversation: Conversation) -> str:
    """The automated message of an accept: every accept after a transfer accepts it."""
    return "transfer_accepted" if conversation.transfers else "agent_assigned"


def transfer(services: Services, conversation_id: str, agent_id: str, *,
             queue_id: str | None = None, to_agent_id: str | None = None,
             note: str | None = None) -> Conversation:
    """Raises ``Missing`` (not the caller's; unknown queue or agent), ``Forbidden`` (a
    consultant), ``Invalid``, ``Conflict``: ``conversation_closed``, ``agent_unavailable``,
    ``no_capacity``, ``conversation_changed``."""
    if (queue_id is None) == (to_agent_id is None):
        raise Invalid("give queue_id or agent_id")
    conversation = participating(services.tables, conversation_id, agent_id, MANAGES,
                                 "transfer it")
    if conversation.state != "active":
        raise Conflict("conversation_closed",
                       f"the conversation is {conversation.state}; only active ones move")
    distributor = Distributor(services)
    workstream = distributor.workstream(conversation.workstream_id)
    if workstream is None:
        raise Conflict("no_workstream", "the page has no workstream to route it with")
    owner = get_agent(services.tables, agent_id)
    if queue_id is not None:
        queue = get_queue(services.tables, queue_id)
        if queue is None:
            raise Missing.of(f"queue {queue_id}")
        moved = _move(services, distributor, conversation, agent_id, queue_id=queue_id)
        where = f"queue {queue.name}"
    else:
        assert to_agent_id is not None
        target = _target(services, distributor, workstream, conversation, agent_id,
                         to_agent_id)
        try:
            moved = _move(services, distributor, conversation, agent_id, to_agent=target,
                          timeout=workstream.offer_timeout_seconds)
        except BaseException:
            distributor.release(target.id, conversation.id)
            raise
        where = target.name
    distributor.release(agent_id, conversation.id)
    by = owner.name if owner is not None else "An agent"
    internal_message(services, moved, f"{by} transferred the conversation to {where}.")
    if note and note.strip():
        internal_message(services, moved, note.strip(), author="agent", agent_id=agent_id)
    log.info("conversation transferred", extra={"conversation_id": moved.id,
                                                "agent_id": agent_id})
    if queue_id is not None:
        moved = distributor.offer(moved.id) or moved
    distributor.sweep()  # the owner's freed capacity goes to what waits
    return moved


def _target(services: Services, distributor: Distributor, workstream: Workstream,
            conversation: Conversation, agent_id: str, to_agent_id: str) -> Agent:
    """The named agent, with capacity reserved for the conversation."""
    if to_agent_id == agent_id:
        raise Invalid([("agent_id", "the conversation is yours already")])
    target = get_agent(services.tables, to_agent_id)
    if target is None:
        raise Missing.of(f"agent {to_agent_id}")
    if target.presence not in workstream.allowed_presences:
        raise Conflict("agent_unavailable",
                       f"{target.name} is {target.presence} and cannot take conversations now")
    if not distributor.reserve(target, conversation.id, workstream.capacity_per_conversation):
        raise Conflict("no_capacity", f"{target.name} has no capacity for another conversation")
    return target


def _move(services: Services, distributor: Distributor, seen: Conversation, agent_id: str, *,
          queue_id: str | None = None, to_agent: Agent | None = None,
          timeout: int = 0) -> Conversation:
    now = services.clock.now()

    def change(current: Conversation) -> Conversation:
        if current.agent_id != agent_id or current.state != "active":
            raise Conflict("conversation_changed",
                           "the conversation changed meanwhile (closed or moved); reload it")
        update: dict[str, object] = {
            "agent_id": None, "assigned_at": None, "consultants": {},
            "agent_history": [*dict.fromkeys([*current.agent_history, agent_id])],
            "transfers": current.transfers + 1, "offers_made": current.offers_made + 1,
            "offer_expires_at": None, "offered_to": [], "updated_at": now}
        if to_agent is None:
            update |= {"state": "waiting", "queue_id": queue_id, "waiting_since": now}
        else:
            update |= {"state": "offered", "offered_to": [to_agent.id], "offered_at": now,
                       "offer_expires_at": now + timedelta(seconds=timeout),
                       "waiting_since": now,
                       "offer_history": [*dict.fromkeys([*current.offer_history, to_agent.id])]}
        return current.model_copy(update=update)

    return distributor.store.transition(seen.id, change)
