"""The timers' work: auto-close after inactivity, the end of wrap-up, and the distribution
sweep (the safety net behind the wake-ups of accept, close and presence changes)."""

from __future__ import annotations

from messenger_channel.conversations.auto_close import auto_close_decision
from messenger_channel.conversations.automated import send_automated
from messenger_channel.conversations.closing import close_conversation
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.models import ConversationTables
from messenger_channel.services import Services


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
        decision = auto_close_decision(
            state=conversation.state, last_activity_at=conversation.last_activity_at,
            wrap_up_ends_at=conversation.wrap_up_ends_at,
            auto_close_after_minutes=workstream.auto_close_after_minutes, now=now)
        if decision is None:
            continue
        if decision == "inactive":
            send_automated(services, conversation, workstream, "session_ended")
        if close_conversation(services, distributor, conversation):
            closed += 1
    if closed:
        distributor.sweep()
    return closed


def run_distribute(services: Services) -> int:
    return Distributor(services).sweep()
