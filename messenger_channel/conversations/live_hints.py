"""Who hears about a change: the live hints the engine publishes after it stored something.

The one place the engine publishes from: ``ConversationStore`` calls ``conversation_written``
after a conversation and its list rows are written, and the ``Messages`` table it hands out
calls ``message_written`` after a message is (a table observer). So a hint never precedes
the state a client reads on receiving it, and no engine step publishes by hand.

=========================== ================================================================
change                      hints
=========================== ================================================================
offered (push or pick)      ``conversation.offered`` to each agent newly offered it
any conversation write      ``conversation.updated`` to its agent, its consultants, the
                            agents it is still offered to, and those who just lost it (the
                            previous holder, a consultant removed, an offer withdrawn), and to
                            the ``supervisors`` group
state or queue changed      ``queue.updated`` to ``supervisors`` (the queues' figures moved)
an agent's presence, queues ``queue.updated`` to ``supervisors`` (``agents_available`` and the
or capacity changed         agents' view moved; ``agents_changed``, called by those routes)
message stored              ``message.created`` / ``message.updated`` to the conversation's
                            agent, its consultants and ``supervisors``
=========================== ================================================================

Publishing never fails a step: errors are logged and swallowed (``live.guard``, and here).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from messenger_channel.clock import Clock
from messenger_channel.conversations.models import Conversation, Message
from messenger_channel.live.port import (
    SUPERVISORS,
    Audience,
    Hint,
    HintType,
    LivePublisher,
    agent_user,
)
from messenger_channel.storage.tables import Written

log = logging.getLogger(__name__)

# Bookkeeping of the sending pipeline, not what a client shows.
_UNSEEN_MESSAGE_FIELDS = frozenset({"enqueued", "send_id", "send_attempt", "send_attempt_at"})


@dataclass(frozen=True)
class Delivery:
    type: HintType
    conversation_id: str | None
    audience: Audience


def _agents(ids: Iterable[str | None]) -> set[str]:
    return {agent_user(i) for i in ids if i}


def _holders(conversation: Conversation) -> set[str]:
    """Whose lists show it: its agent, consultants and the agents it is offered to."""
    return _agents([conversation.agent_id, *conversation.consultants,
                    *conversation.offered_to])


def newly_offered(before: Conversation | None, after: Conversation) -> set[str]:
    """Agents to whom ``after`` is an offer they did not have: a first offer, a pick offer's
    new agent, a push offer that passed on or came back (a new ``offered_at``)."""
    if after.state != "offered":
        return set()
    if before is None or before.state != "offered" or before.offered_at != after.offered_at:
        return set(after.offered_to)
    return set(after.offered_to) - set(before.offered_to)


def conversation_deliveries(before: Conversation | None,
                            after: Conversation) -> list[Delivery]:
    offered = _agents(newly_offered(before, after))
    told = _holders(after) | (set() if before is None else _holders(before))
    deliveries = []
    if offered:
        deliveries.append(Delivery("conversation.offered", after.id, Audience.of(offered)))
    deliveries.append(Delivery("conversation.updated", after.id,
                               Audience.of(told - offered, [SUPERVISORS])))
    if before is None or (before.state, before.queue_id) != (after.state, after.queue_id):
        deliveries.append(Delivery("queue.updated", None, Audience.of(groups=[SUPERVISORS])))
    return deliveries


def message_deliveries(written: Written[Message],
                       conversation: Conversation | None) -> list[Delivery]:
    before, message = written.before, written.entity
    if before is not None and (before.model_dump(exclude=set(_UNSEEN_MESSAGE_FIELDS))
                               == message.model_dump(exclude=set(_UNSEEN_MESSAGE_FIELDS))):
        return []
    users = set() if conversation is None else _agents(
        [conversation.agent_id, *conversation.consultants])
    kind: HintType = "message.created" if written.created else "message.updated"
    return [Delivery(kind, message.conversation_id, Audience.of(users, [SUPERVISORS]))]


class ConversationReader(Protocol):
    """Where a message's conversation is read (``ConversationTables``)."""

    def conversation(self, conversation_id: str) -> Conversation | None: ...


class LiveHints:
    """Publishes the deliveries of each write; never raises into the engine."""

    def __init__(self, publisher: LivePublisher, tables: ConversationReader,
                 clock: Clock) -> None:
        self.publisher = publisher
        self.tables = tables
        self.clock = clock

    def conversation_written(self, before: Conversation | None, after: Conversation) -> None:
        try:
            self._publish(conversation_deliveries(before, after))
        except Exception as error:  # a hint must never fail the step that stored the state
            self._failed(error, after.id)

    def message_written(self, written: Written[Message]) -> None:
        conversation_id = written.entity.conversation_id
        try:
            conversation = self.tables.conversation(conversation_id)
            self._publish(message_deliveries(written, conversation))
        except Exception as error:
            self._failed(error, conversation_id)

    def _publish(self, deliveries: list[Delivery]) -> None:
        at = self.clock.now()
        for delivery in deliveries:
            self.publisher.publish(Hint(delivery.type, at, delivery.conversation_id),
                                   delivery.audience)

    @staticmethod
    def _failed(error: Exception, conversation_id: str) -> None:
        log.warning("live hints not published", extra={
            "conversation_id": conversation_id, "error": type(error).__name__})


def agents_changed(publisher: LivePublisher, clock: Clock) -> None:
    """An agent's presence, capacity or queues changed: the supervisors' queue figures
    (``agents_available``) and agents' view moved. Never raises."""
    try:
        publisher.publish(Hint("queue.updated", clock.now()), Audience.of(groups=[SUPERVISORS]))
    except Exception as error:
        log.warning("live hints not published", extra={"error": type(error).__name__})
