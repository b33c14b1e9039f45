"""The timers' work: auto-close after inactivity, the end of wrap-up, and the distribution
sweep (the safety net behind the wake-ups of accept, close and presence changes)."""

from __future__ import annotations

import logging
from datetime import timedelta

from messenger_channel.conversations.automated import send_automated
from messenger_channel.conversations.models import Conversation, ConversationTables
from messenger_channel.routing.distribution import Distributor
from messenger_channel.services import Services

log = logging.getLogger(__name__)

# Inactivity closes these (API.md names waiting and active; a survey the customer abandoned
# would otherwise stay open for ever).
INACTIVE_CLOSES = ("survey", "waiting", "active")


class _Moved(Exception):
    pass


def run_auto_close(services: Services) -> int:
    """Close what has been inactive too long and what has finished wrap-up; returns how many
    closed. Then offers the capacity freed."""
    tables = ConversationTables(services.tables)
    distributor = Distributor(services)
    now = services.clock.now()
    closed = 0
    for conversation in tables.open_conversations():
        workstream = distributor.workstream(conversation.workstream_id)
        if workstream is None:
            continue
        idle_until = conversation.last_activity_at + timedelta(
            minutes=workstream.auto_close_after_minutes)
        if conversation.state in INACTIVE_CLOSES and idle_until <= now:
            send_automated(services, conversation, workstream, "session_ended")
        elif not (conversation.state == "wrap_up" and conversation.wrap_up_ends_at is not None
                  and conversation.wrap_up_ends_at <= now):
            continue
        if close_conversation(services, distributor, conversation):
            closed += 1
    if closed:
        distributor.sweep()
    return closed


def close_conversation(services: Services, distributor: Distributor,
                       seen: Conversation) -> bool:
    """``seen`` → closed if it has not changed meanwhile; frees its capacity and the
    customer's claim. False when it moved on (a message arrived, an agent accepted)."""
    tables = distributor.tables
    now = services.clock.now()

    def mutate(current: Conversation) -> Conversation:
        if (current.state, current.updated_at) != (seen.state, seen.updated_at):
            raise _Moved
        return current.model_copy(update={"state": "closed", "closed_at": now,
                                          "offered_to": [], "offer_expires_at": None,
                                          "updated_at": now})

    try:
        tables.conversations.update(seen.id, "conversation", mutate)
    except _Moved:
        return False
    for agent_id in {*seen.offered_to, *([seen.agent_id] if seen.agent_id else [])}:
        distributor.release(agent_id, seen.id)
    tables.contacts.update(seen.page_id, seen.psid, lambda c: None if (
        c.open_conversation_id != seen.id) else c.model_copy(
            update={"open_conversation_id": None, "updated_at": now}))
    log.info("conversation closed", extra={"conversation_id": seen.id, "state": seen.state})
    return True


def run_distribute(services: Services) -> int:
    return Distributor(services).sweep()
