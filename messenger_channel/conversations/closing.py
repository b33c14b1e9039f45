"""Ending conversations: the agent's close (to wrap-up, then closed) and the final close.

An agent's first close sends the workstream's ``agent_ended`` message and the post-conversation
survey (``satisfaction.send_post_conversation_survey``, which every close calls: inside the
messaging window), and moves the conversation to ``wrap_up`` for ``wrap_up.minutes`` (0: closed
at once); a second close, or the ``auto_close`` timer when wrap-up is over, closes it. Capacity is
released when it closes, or at wrap-up already when the workstream's wrap-up does not block
capacity. Every transition starts from the version that was read (ETag), so a close racing an
accept or a customer's message never overwrites it.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from messenger_channel.conversations.automated import send_automated
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.models import Conversation
from messenger_channel.conversations.participants import MANAGES, participating
from messenger_channel.conversations.satisfaction import send_post_conversation_survey
from messenger_channel.conversations.send_rules import check_can_send
from messenger_channel.conversations.thread_control import pass_thread_back
from messenger_channel.errors import Conflict
from messenger_channel.services import Services
from messenger_channel.storage.errors import NotFound
from messenger_channel.workforce.workstreams import Workstream

log = logging.getLogger(__name__)


class _Moved(Exception):
    pass


def close_conversation(services: Services, distributor: Distributor,
                       seen: Conversation) -> bool:
    """``seen`` → closed if it has not changed meanwhile; frees its capacity and the
    customer's claim. False when it moved on (a message arrived, an agent accepted)."""
    now = services.clock.now()

    def mutate(current: Conversation) -> Conversation:
        if (current.state, current.updated_at) != (seen.state, seen.updated_at):
            raise _Moved
        return current.model_copy(update={"state": "closed", "closed_at": now,
                                          "offered_to": [], "offer_expires_at": None,
                                          "consultants": {}, "updated_at": now})

    try:
        distributor.store.transition(seen.id, mutate)
    except _Moved:
        return False
    for agent_id in {*seen.offered_to, *([seen.agent_id] if seen.agent_id else [])}:
        distributor.release(agent_id, seen.id)
    _release_claim(distributor, seen, now)
    log.info("conversation closed", extra={"conversation_id": seen.id, "state": seen.state})
    return True


def close_quietly(services: Services, distributor: Distributor, conversation: Conversation,
                  *, tries: int = 5) -> Conversation:
    """Closed without a goodbye or a survey (nothing may or can reach the customer: an
    erasure, a removed page), trying again while it moves on under us (a message, an
    accept). Raises ``Conflict`` when it kept changing ``tries`` times."""
    for _ in range(tries):
        if conversation.state == "closed":
            return conversation
        # NotFound: the customer's profile is gone already (an erasure's rerun), and the
        # claim with it.
        with contextlib.suppress(NotFound):
            close_conversation(services, distributor, conversation)
        latest = distributor.store.get(conversation.id)
        assert latest is not None
        conversation = latest
    if conversation.state == "closed":
        return conversation
    raise Conflict("conversation_changed", "the conversation kept changing while being closed")


@dataclass(frozen=True)
class NotSent:
    """A message the close sends that Facebook refuses now: ``reason`` (a failure reason) and
    ``message`` (why, in words)."""

    trigger: str  # ``agent_ended`` or ``post_conversation_survey``
    reason: str
    message: str


@dataclass(frozen=True)
class Closed:
    """What a close (an agent's or a supervisor's) answers: the conversation, and the closing
    messages Facebook refused."""

    conversation: Conversation
    not_sent: list[NotSent] = field(default_factory=list)


def refused_closing_messages(services: Services, conversation: Conversation,
                             workstream: Workstream, *, goodbye: bool) -> list[NotSent]:
    """The closing messages the workstream has that Facebook would refuse now (after the
    messaging window, a broken token, a removed page): whoever closes hears it instead of a
    silent failure. ``goodbye``: the close sends the ``agent_ended`` message too (an agent's
    does; a supervisor's sends only the survey)."""
    triggers = ["agent_ended"] if (goodbye and "agent_ended" in
                                   workstream.automated_messages) else []
    if workstream.post_conversation_survey is not None:
        triggers.append("post_conversation_survey")
    if not triggers:
        return []
    try:
        check_can_send(services, conversation, human=False)
    except Conflict as refusal:
        return [NotSent(trigger, refusal.code, refusal.message) for trigger in triggers]
    return []


def agent_closes(services: Services, conversation_id: str, agent_id: str) -> Closed:
    """The agent's close: ``active`` → ``wrap_up`` (or ``closed``), ``wrap_up`` → ``closed``,
    with the closing messages Facebook refused (``not_sent``). Raises ``Missing`` when the
    agent takes no part in it, ``Forbidden`` for a consultant."""
    distributor = Distributor(services)
    conversation = participating(services.tables, conversation_id, agent_id, MANAGES,
                                 "close it")
    workstream = distributor.workstream(conversation.workstream_id)
    not_sent: list[NotSent] = []
    if conversation.state == "active":
        if workstream is not None:
            not_sent = refused_closing_messages(services, conversation, workstream,
                                                goodbye=True)
            occasion = f"ended-{conversation.assigned_at}"
            send_automated(services, conversation, workstream, "agent_ended",
                           occasion=f"agent_ended-{occasion}")
            send_post_conversation_survey(services, conversation, workstream)
        minutes = 0 if workstream is None else workstream.wrap_up.minutes
        if minutes:
            conversation = _to_wrap_up(services, distributor, conversation, minutes)
            if workstream is not None and not workstream.wrap_up.block_capacity:
                distributor.release(agent_id, conversation.id)
                distributor.sweep()
            return Closed(conversation, not_sent)
    if conversation.state in ("active", "wrap_up"):
        if not close_conversation(services, distributor, conversation):
            raise Conflict("conversation_changed", "the conversation changed; try again")
        distributor.sweep()  # the capacity freed goes to what waits
    found = distributor.tables.conversation(conversation_id)
    assert found is not None
    return Closed(found, not_sent)


def _to_wrap_up(services: Services, distributor: Distributor, seen: Conversation,
                minutes: int) -> Conversation:
    now = services.clock.now()
    ends = now + timedelta(minutes=minutes)

    def mutate(current: Conversation) -> Conversation:
        if (current.state, current.updated_at) != (seen.state, seen.updated_at):
            raise Conflict("conversation_changed", "the conversation changed; try again")
        return current.model_copy(update={"state": "wrap_up", "updated_at": now,
                                          "wrap_up_ends_at": ends})

    # The timer's row for the end of wrap-up comes first: a crash after it leaves an early
    # look, never a conversation that nothing will close.
    distributor.store.indexes.schedule(seen.id, ends)
    wrapped = distributor.store.transition(seen.id, mutate)
    _release_claim(distributor, seen, now)
    return wrapped


def _release_claim(distributor: Distributor, seen: Conversation, now: datetime) -> None:
    """The customer's next message opens a new conversation; on a page shared with other
    apps, the Messenger thread goes back to the app it came from (``thread_control``: queued
    after the conversation's last messages)."""
    distributor.tables.contacts.update(seen.page_id, seen.psid, lambda c: None if (
        c.open_conversation_id != seen.id) else c.model_copy(
            update={"open_conversation_id": None, "updated_at": now}))
    pass_thread_back(distributor.services, seen)
