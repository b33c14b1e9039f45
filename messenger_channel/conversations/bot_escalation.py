"""A conversation leaves its bot for the agents: ``bot`` → ``waiting`` with the bot's attributes,
then routed as any new conversation — the routing rules (which read ``attributes.<name>``,
the bot's included), the distribution, and the ``agent_unavailable`` (or ``out_of_hours``) and
``position_in_queue`` messages when nobody can take it now.

The bot escalates inline (``escalate: true``), through ``POST /api/bot/.../escalate``, or the
product escalates for it when it fails and ``escalate_on_error`` holds. Each step is idempotent
(an ETag-guarded transition from ``bot``; classification only while no queue is set; offers
and automated messages once), so a redelivered event finishes what a crash interrupted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from messenger_channel.conversations.automated import automated_sent, send_automated
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.models import APPLIED_EVENTS_KEPT, Conversation
from messenger_channel.conversations.notes import internal_message
from messenger_channel.conversations.routing_facts import routing_facts
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.errors import Conflict
from messenger_channel.routing.rules import Scalar, classify
from messenger_channel.services import Services
from messenger_channel.workforce.operating_hours import is_open
from messenger_channel.workforce.queues import get_queue
from messenger_channel.workforce.workstreams import Trigger, Workstream, routing_time_zone

log = logging.getLogger(__name__)


def not_with_bot(conversation: Conversation) -> Conflict:
    return Conflict("not_with_bot", f"conversation {conversation.id} is {conversation.state}, "
                                    "no longer with the bot")


def leave_bot(services: Services, conversation_id: str, attributes: Mapping[str, Scalar], *,
              escalate: bool, event_id: str | None = None,
              why: str | None = None) -> tuple[Conversation, bool]:
    """The bot's attributes merged, ``event_id`` noted as answered, and with ``escalate`` the
    move to ``waiting``; (the conversation, whether this call moved it). Refused with
    ``not_with_bot`` when it is no longer with the bot (unless ``event_id`` was answered
    already: a redelivery)."""
    store = ConversationStore.of(services)
    now = services.clock.now()
    moved: list[bool] = []

    def change(current: Conversation) -> Conversation | None:
        moved.clear()
        if event_id is not None and event_id in current.bot_events:
            return None
        if current.state != "bot":
            raise not_with_bot(current)
        update: dict[str, object] = {"attributes": {**current.attributes, **attributes},
                                     "updated_at": now}
        if event_id is not None:
            update["bot_events"] = [*current.bot_events, event_id][-APPLIED_EVENTS_KEPT:]
        if escalate:
            update |= {"state": "waiting", "waiting_since": now, "last_activity_at": now}
            moved.append(True)
        return current.model_copy(update=update)

    if escalate:
        after = store.transition(conversation_id, change)  # it moves between lists
    else:
        before = store.get(conversation_id)
        after = store.touch(conversation_id, change)
        if before is not None and before.attributes != after.attributes:
            # The supervisors' lists show what the bot learned while it talks.
            store.repair(conversation_id)
    if moved:
        log.info("conversation escalated by its bot", extra={
            "conversation_id": conversation_id, "page_id": after.page_id, "reason": why})
        internal_message(services, after, "The bot handed the conversation to the agents"
                                          + (f" ({why})." if why else "."))
    return after, bool(moved)


def route_escalated(services: Services, conversation: Conversation, workstream: Workstream,
                    at: datetime) -> Conversation:
    """Classify (the rules see the bot's attributes), offer, and tell a customer nobody can
    take now; ``at``: the moment the rules' ``time.*`` fields read."""
    store = ConversationStore.of(services)
    if conversation.state != "waiting":
        return conversation
    if conversation.queue_id is None:
        contact = store.tables.contacts.get(conversation.page_id, conversation.psid)
        if contact is not None:
            facts = routing_facts(conversation, contact, at, workstream.operating_hours)
            result = classify(workstream.routing_rules, facts,
                              time_zone=routing_time_zone(workstream))
            queue_id, attributes = result.queue_id, result.attributes
        else:  # the profile went (an erasure): the fallback queue, as no rule can hold
            queue_id, attributes = None, conversation.attributes
        conversation = store.transition(conversation.id, lambda c: None if c.queue_id else (
            c.model_copy(update={"queue_id": queue_id or workstream.fallback_queue_id,
                                 "attributes": attributes, "updated_at": services.clock.now()})))
    offered = Distributor(services).offer(conversation.id) or conversation
    if offered.state != "waiting":
        return offered
    unavailable: Trigger = "agent_unavailable"
    if (workstream.automated_messages.get("out_of_hours")
            and not is_open(workstream.operating_hours, at)):
        unavailable = "out_of_hours"
    due = [trigger for trigger in (unavailable, "position_in_queue")
           if workstream.automated_messages.get(trigger)
           and not automated_sent(store.tables, offered.id, trigger)]
    if due:
        queue = get_queue(services.tables, offered.queue_id or "")
        values = {"QueueName": "" if queue is None else queue.name,
                  "QueuePosition": str(store.indexes.position_in_queue(offered))}
        for trigger in due:
            send_automated(services, offered, workstream, trigger, values=values)
    return offered
