"""A supervisor's hand on a conversation: assign it to an agent, or close it.

**Assign** takes a live conversation (waiting, offered or active) from whoever has it and
makes it the named agent's, active at once. The agent's capacity is reserved first (409
``no_capacity``; an ``offline`` agent: 409 ``agent_unavailable``); the change is made under
the conversation's ETag; then every reservation of the version it replaced (its owner, the
agent a push offer held) is released. A race with an accept, a close or a transfer is
decided by the ETag: whichever wrote first stands, the other sees the new version — an
assign that finds it closed meanwhile releases what it reserved and answers 409.

**Close** ends any conversation not closed yet, at once (no wrap-up): capacity released, the
customer's next message opens a new conversation, and the rating survey is sent as for an
agent's close; the answer names it when Facebook refuses it now (``not_sent``, as an agent's).
"""

from __future__ import annotations

import logging

from messenger_channel.conversations.closing import (
    Closed,
    NotSent,
    close_conversation,
    refused_closing_messages,
)
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.models import Conversation
from messenger_channel.conversations.notes import internal_message
from messenger_channel.conversations.satisfaction import send_post_conversation_survey
from messenger_channel.errors import Conflict, Missing
from messenger_channel.services import Services
from messenger_channel.storage.errors import InvalidKey
from messenger_channel.workforce.agents import get_agent

log = logging.getLogger(__name__)

# ``bot``: a supervisor may take a customer from the bot and give them to an agent.
ASSIGNABLE = ("bot", "waiting", "offered", "active")


def any_conversation(services: Services, conversation_id: str) -> Conversation:
    try:
        conversation = Distributor(services).tables.conversation(conversation_id)
    except InvalidKey:
        conversation = None
    if conversation is None:
        raise Missing.of(f"conversation {conversation_id}")
    return conversation


def assign(services: Services, conversation_id: str, supervisor_id: str,
           agent_id: str) -> Conversation:
    conversation = any_conversation(services, conversation_id)
    agent = get_agent(services.tables, agent_id)
    if agent is None:
        raise Missing.of(f"agent {agent_id}")
    if conversation.agent_id == agent_id and conversation.state == "active":
        return conversation
    if conversation.state not in ASSIGNABLE:
        raise Conflict("conversation_closed", f"the conversation is {conversation.state}")
    if agent.presence == "offline":
        raise Conflict("agent_unavailable", f"{agent.name} is offline")
    distributor = Distributor(services)
    workstream = distributor.workstream(conversation.workstream_id)
    units = 0 if workstream is None else workstream.capacity_per_conversation
    if not distributor.reserve(agent, conversation.id, units):
        raise Conflict("no_capacity", f"{agent.name} has no capacity for another conversation")
    now = services.clock.now()
    replaced: list[Conversation] = []

    def change(current: Conversation) -> Conversation:
        if current.state not in ASSIGNABLE:
            raise Conflict("conversation_closed", f"the conversation is {current.state}")
        replaced.append(current)
        previous = [] if current.agent_id in (None, agent_id) else [current.agent_id]
        return current.model_copy(update={
            "state": "active", "agent_id": agent_id, "assigned_at": now, "offered_to": [],
            "offer_expires_at": None, "consultants": {}, "offers_made": current.offers_made + 1,
            "agent_history": [*dict.fromkeys([*current.agent_history, *previous])],
            "transfers": current.transfers + (1 if previous else 0), "updated_at": now})

    try:
        assigned = distributor.store.transition(conversation.id, change)
    except BaseException:
        latest = distributor.tables.conversation(conversation.id)
        if latest is None or latest.agent_id != agent_id:
            distributor.release(agent_id, conversation.id)
        raise
    before = replaced[-1]
    for holder in {*before.offered_to, *([before.agent_id] if before.agent_id else [])}:
        if holder != agent_id:
            distributor.release(holder, conversation.id)
    distributor.tables.contacts.update(assigned.page_id, assigned.psid, lambda contact: (
        contact.model_copy(update={"last_agent_id": agent_id, "updated_at": now})))
    supervisor = get_agent(services.tables, supervisor_id)
    internal_message(services, assigned, f"{supervisor.name if supervisor else 'A supervisor'} "
                                         f"assigned the conversation to {agent.name}.")
    log.info("conversation assigned", extra={"conversation_id": assigned.id,
                                             "agent_id": agent_id})
    distributor.sweep()  # what the previous holder freed goes to what waits
    return assigned


def supervisor_close(services: Services, conversation_id: str, supervisor_id: str,
                     *, tries: int = 3) -> Closed:
    """Close it now, whatever its state, with the survey (no goodbye) and what Facebook
    refused of it. Closed meanwhile by someone else (the auto-close timer, its agent): the
    same answer as closed already. Raises ``Conflict`` when it keeps changing."""
    distributor = Distributor(services)
    for _ in range(tries):
        conversation = any_conversation(services, conversation_id)
        if conversation.state == "closed":
            return Closed(conversation)
        workstream = distributor.workstream(conversation.workstream_id)
        not_sent: list[NotSent] = []
        if workstream is not None:
            not_sent = refused_closing_messages(services, conversation, workstream,
                                                goodbye=False)
            send_post_conversation_survey(services, conversation, workstream)
        if close_conversation(services, distributor, conversation):
            break
    else:
        raise Conflict("conversation_changed", "the conversation changed; try again")
    supervisor = get_agent(services.tables, supervisor_id)
    closed = any_conversation(services, conversation_id)
    internal_message(services, closed, f"{supervisor.name if supervisor else 'A supervisor'} "
                                       "closed the conversation.")
    distributor.sweep()
    return Closed(closed, not_sent)
