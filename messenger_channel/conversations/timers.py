"""The timers' work: auto-close after inactivity, the end of wrap-up, the repair of rows an
interrupted transition left, and the distribution sweep (the safety net behind the wake-ups
of accept, close and presence changes).

``run_auto_close`` reads only the rows due by now (``ConversationsDue``, see ``indexes``): a
conversation's row comes due when it would become inactive or its wrap-up ends; if it had
activity since, the row moves to its new time. The work per run is bounded by what is due,
never by how many conversations exist.
"""

from __future__ import annotations

from messenger_channel.conversations.auto_close import auto_close_decision, next_look
from messenger_channel.conversations.automated import send_automated
from messenger_channel.conversations.closing import close_conversation
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.indexes import DueEntry, due_key
from messenger_channel.conversations.models import Conversation
from messenger_channel.conversations.satisfaction import send_post_conversation_survey
from messenger_channel.services import Services

MAX_PER_RUN = 500  # the rest waits for the next run, a minute later


def run_auto_close(services: Services) -> int:
    """Close what has been inactive too long and what has finished wrap-up, repair what an
    interrupted transition left, reschedule the rest; returns how many closed. Then offers
    the capacity freed."""
    distributor = Distributor(services)
    store = distributor.store
    now = services.clock.now()
    closed = 0
    for row in store.indexes.due_rows(now, MAX_PER_RUN):
        conversation = (store.repair(row.conversation_id) if row.kind == "repair"
                        else store.get(row.conversation_id))
        if conversation is not None and conversation.state != "closed":
            if _close_if_due(services, distributor, conversation):
                closed += 1
            else:
                latest = store.get(conversation.id) or conversation
                if latest.state != "closed" and _reschedule(distributor, latest, row):
                    continue  # the row was rewritten in place: keep it
        store.indexes.unschedule(row)
    if closed:
        distributor.sweep()
    return closed


def _close_if_due(services: Services, distributor: Distributor,
                  conversation: Conversation) -> bool:
    workstream = distributor.workstream(conversation.workstream_id)
    if workstream is None:
        return False
    decision = auto_close_decision(
        state=conversation.state, last_activity_at=conversation.last_activity_at,
        wrap_up_ends_at=conversation.wrap_up_ends_at,
        auto_close_after_minutes=workstream.auto_close_after_minutes,
        now=services.clock.now())
    if decision is None:
        return False
    if decision == "inactive":
        send_automated(services, conversation, workstream, "session_ended")
        # An agent's conversation the customer left: surveyed while the window allows.
        send_post_conversation_survey(services, conversation, workstream)
    return close_conversation(services, distributor, conversation)


def _reschedule(distributor: Distributor, conversation: Conversation, row: DueEntry) -> bool:
    """The conversation's next due row; True if that is ``row`` itself."""
    workstream = distributor.workstream(conversation.workstream_id)
    at = next_look(state=conversation.state, last_activity_at=conversation.last_activity_at,
                   wrap_up_ends_at=conversation.wrap_up_ends_at,
                   auto_close_after_minutes=None if workstream is None
                   else workstream.auto_close_after_minutes,
                   now=distributor.services.clock.now())
    if due_key(conversation.id, at, "due") == row.key:
        return True
    distributor.store.indexes.schedule(conversation.id, at)
    return False


def run_distribute(services: Services) -> int:
    return Distributor(services).sweep()
