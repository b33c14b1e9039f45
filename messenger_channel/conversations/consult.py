"""Consultation: the owner asks colleagues to help on an active conversation.

A consultant reads the whole conversation (the customer's messages, replies, notes), writes
notes and edits labels, and never writes to the customer: nothing a consultant does reaches
the ``outbound`` queue. The owner ends a consultation, or the consultant leaves it; a
transfer or the close ends them all.

Capacity: a consultation reserves none, for the owner (it is still one conversation) nor for
the consultant (helping is brief and does not take the consultant's customers' time the way
a conversation does). A consultant must not be ``offline``; at most ``MAX_CONSULTANTS`` at
once.
"""

from __future__ import annotations

from messenger_channel.conversations.models import Conversation
from messenger_channel.conversations.notes import internal_message
from messenger_channel.conversations.participants import MANAGES, participating
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.errors import Conflict, Forbidden, Invalid, Missing
from messenger_channel.services import Services
from messenger_channel.workforce.agents import get_agent

MAX_CONSULTANTS = 5


def start_consult(services: Services, conversation_id: str, agent_id: str,
                  consultant_id: str) -> Conversation:
    conversation = participating(services.tables, conversation_id, agent_id, MANAGES,
                                 "invite consultants")
    if consultant_id == agent_id:
        raise Invalid([("agent_id", "you own the conversation already")])
    consultant = get_agent(services.tables, consultant_id)
    if consultant is None:
        raise Missing.of(f"agent {consultant_id}")
    if consultant_id in conversation.consultants:
        return conversation  # asked again: the same answer
    if conversation.state != "active":
        raise Conflict("conversation_closed",
                       f"the conversation is {conversation.state}; consult on active ones")
    if consultant.presence == "offline":
        raise Conflict("agent_unavailable", f"{consultant.name} is offline")
    now = services.clock.now()

    def change(current: Conversation) -> Conversation | None:
        if current.agent_id != agent_id or current.state != "active":
            raise Conflict("conversation_changed",
                           "the conversation changed meanwhile (closed or moved); reload it")
        if consultant_id in current.consultants:
            return None
        if len(current.consultants) >= MAX_CONSULTANTS:
            raise Invalid([("agent_id",
                            f"at most {MAX_CONSULTANTS} consultants at once")])
        return current.model_copy(update={
            "consultants": {**current.consultants, consultant_id: now},
            "consult_history": [*dict.fromkeys([*current.consult_history, consultant_id])],
            "updated_at": now})

    updated = ConversationStore.of(services).transition(
        conversation.id, change)
    owner = get_agent(services.tables, agent_id)
    internal_message(services, updated, f"{owner.name if owner else 'The owner'} asked "
                                         f"{consultant.name} to consult.")
    return updated


def end_consult(services: Services, conversation_id: str, agent_id: str,
                consultant_id: str) -> Conversation:
    """The owner ends ``consultant_id``'s consultation, or the consultant leaves."""
    conversation = participating(services.tables, conversation_id, agent_id)
    if agent_id not in (consultant_id, conversation.agent_id):
        raise Forbidden("only the owner ends another agent's consultation")
    if consultant_id not in conversation.consultants:
        raise Missing.of(f"consultation of {consultant_id}")
    now = services.clock.now()

    def change(current: Conversation) -> Conversation | None:
        if consultant_id not in current.consultants:
            return None
        return current.model_copy(update={
            "consultants": {k: v for k, v in current.consultants.items() if k != consultant_id},
            "updated_at": now})

    updated = ConversationStore.of(services).transition(
        conversation.id, change)
    consultant = get_agent(services.tables, consultant_id)
    name = consultant.name if consultant else "A consultant"
    internal_message(services, updated, f"{name}'s consultation ended.")
    return updated
