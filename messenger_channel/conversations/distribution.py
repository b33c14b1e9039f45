"""Work distribution: offering conversations to agents within their capacity.

Push mode offers a conversation to one eligible agent at a time: a member of its queue, in one
of the workstream's allowed presences, with free capacity for ``capacity_per_conversation``.
The agent is chosen by the workstream's assignment method:

- ``highest_capacity``: most free capacity; ties to whoever was offered work longest ago
  (round robin among equals);
- ``round_robin``: whoever was offered work longest ago;
- ``most_idle``: whoever was last assigned a conversation longest ago.

A returning customer's last agent comes first when eligible (keep-same-agent affinity). An
offer not accepted in ``offer_timeout_seconds`` passes to the next eligible agent, or back to
the same one when no other is eligible. Pick mode offers to every eligible agent; the first
accept wins. With no eligible agent the conversation waits; waiting ones are retried oldest
first whenever capacity may have freed (accept, close, transfer, presence) and by the
``distribute`` timer; on each such pass the first customer still waiting in each queue is told
``next_in_line`` (once per conversation).

Capacity lives in one ``AgentLoad`` entity per agent, changed only under its ETag: a
reservation per conversation, made before an offer (push) or an accept (pick) and refused when
it would exceed the agent's capacity, so concurrent distributors can never overfill an agent.
Reservations are keyed by conversation, which makes reserving and releasing idempotent.

Who is eligible and in which order is decided, pure, in ``offer_choice``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from messenger_channel.conversations.automated import automated_sent, send_automated
from messenger_channel.conversations.indexes import (
    UNASSIGNED_STATES,
    ByQueue,
    ConversationEntry,
    queue_key,
)
from messenger_channel.conversations.models import (
    AgentLoad,
    Conversation,
    Reservation,
)
from messenger_channel.conversations.offer_choice import eligible_agents, push_order
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.errors import Conflict, Missing
from messenger_channel.services import Services
from messenger_channel.storage.errors import NotFound
from messenger_channel.telemetry import metrics
from messenger_channel.workforce.agents import Agent, list_agents
from messenger_channel.workforce.queue_management import Queues
from messenger_channel.workforce.queues import get_queue
from messenger_channel.workforce.workstreams import Workstream, get_workstream

log = logging.getLogger(__name__)

MAX_PER_SWEEP = 100  # Dynamics distributes at most 100 items per cycle
# A reservation younger than this may belong to an offer being written right now.
RESERVATION_GRACE = timedelta(minutes=2)


class NoCapacity(Exception):
    pass


class _Superseded(Exception):
    """The conversation changed since it was read; the offer being made no longer applies."""


class Distributor:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = ConversationStore.of(services)
        self.tables = self.store.tables
        self._workstreams: dict[str, Workstream | None] = {}

    # ------------------------------------------------------------------ capacity

    def reserve(self, agent: Agent, conversation_id: str, units: int) -> bool:
        now = self.services.clock.now()

        def mutate(load: AgentLoad) -> AgentLoad | None:
            if conversation_id in load.reservations:
                return None
            if agent.capacity - load.used < units:
                raise NoCapacity
            load.reservations[conversation_id] = Reservation(units=units, at=now)
            load.last_offered_at = now
            return load

        try:
            self.tables.loads.create_or_update("load", agent.id,
                                               lambda: AgentLoad(agent_id=agent.id), mutate)
        except NoCapacity:
            return False
        return True

    def release(self, agent_id: str, conversation_id: str) -> None:
        def mutate(load: AgentLoad) -> AgentLoad | None:
            if load.reservations.pop(conversation_id, None) is None:
                return None
            return load

        with contextlib.suppress(NotFound):
            self.tables.loads.update("load", agent_id, mutate)

    # ------------------------------------------------------------------ offering

    def workstream(self, workstream_id: str | None) -> Workstream | None:
        if workstream_id is None:
            return None
        if workstream_id not in self._workstreams:
            self._workstreams[workstream_id] = get_workstream(self.services.tables, workstream_id)
        return self._workstreams[workstream_id]

    def eligible(self, workstream: Workstream, conversation: Conversation) -> list[Agent]:
        """Eligible agents in the order the assignment method prefers them."""
        loads = {load.agent_id: load for load in self.tables.loads.list_partition("load")}
        return eligible_agents(
            list_agents(self.services.tables), loads, conversation_id=conversation.id,
            queue_id=conversation.queue_id, units=workstream.capacity_per_conversation,
            allowed_presences=workstream.allowed_presences,
            method=workstream.assignment_method)

    def offer(self, conversation_id: str) -> Conversation | None:
        """Offer a waiting conversation, or one whose push offer expired; refresh a pick
        offer's agents. Returns the conversation as it now is."""
        conversation = self.tables.conversation(conversation_id)
        if conversation is None or conversation.state not in ("waiting", "offered"):
            return conversation
        workstream = self.workstream(conversation.workstream_id)
        if workstream is None or conversation.queue_id is None:
            return conversation
        now = self.services.clock.now()
        if workstream.distribution_mode == "pick":
            return self._offer_to_all(conversation, workstream)
        if conversation.state == "offered" and (conversation.offer_expires_at or now) > now:
            return conversation
        eligible = self.eligible(workstream, conversation)
        previous = conversation.offered_to[0] if conversation.offered_to else None
        first_offer, affinity = conversation.offers_made == 0, None
        if first_offer:
            contact = self.tables.contacts.get(conversation.page_id, conversation.psid)
            affinity = None if contact is None else contact.last_agent_id
        for agent in push_order(eligible, first_offer=first_offer, last_agent_id=affinity,
                                previous=previous):
            if not self.reserve(agent, conversation.id, workstream.capacity_per_conversation):
                continue
            try:
                updated = self._transition(conversation, _offered_to(
                    agent.id, now, now + timedelta(seconds=workstream.offer_timeout_seconds)))
            except _Superseded:
                if agent.id != previous:
                    self.release(agent.id, conversation.id)
                return self.tables.conversation(conversation.id)
            if previous is not None and previous != agent.id:
                self.release(previous, conversation.id)
            log.info("conversation offered", extra={"conversation_id": conversation.id,
                                                    "agent_id": agent.id})
            return updated
        if conversation.state == "offered":  # expired, and nobody (not even its agent) is free
            updated = self._back_to_waiting(conversation, now)
            if previous is not None:
                self.release(previous, conversation.id)
            return updated
        return conversation

    def _offer_to_all(self, conversation: Conversation, workstream: Workstream) -> Conversation:
        agents = [agent.id for agent in self.eligible(workstream, conversation)]
        if agents == conversation.offered_to:
            return conversation
        now = self.services.clock.now()
        if not agents:
            return self._back_to_waiting(conversation, now)
        try:
            return self._transition(conversation, lambda c: c.model_copy(update={
                "state": "offered", "offered_to": agents, "offered_at": c.offered_at or now,
                "offer_expires_at": None, "offers_made": c.offers_made + 1,
                "offer_history": [*dict.fromkeys([*c.offer_history, *agents])],
                "updated_at": now}))
        except _Superseded:
            return self.tables.conversation(conversation.id) or conversation

    def _back_to_waiting(self, conversation: Conversation, now: datetime) -> Conversation:
        try:
            return self._transition(conversation, lambda c: c.model_copy(update={
                "state": "waiting", "offered_to": [], "offer_expires_at": None,
                "offers_made": c.offers_made + 1, "updated_at": now}))
        except _Superseded:
            return self.tables.conversation(conversation.id) or conversation

    def _transition(self, seen: Conversation,
                    change: Callable[[Conversation], Conversation]) -> Conversation:
        """Apply ``change`` under the ETag, only to the version that was decided on."""
        def mutate(current: Conversation) -> Conversation:
            if (current.state, current.offers_made) != (seen.state, seen.offers_made):
                raise _Superseded
            return change(current)

        return self.store.transition(seen.id, mutate)

    # ------------------------------------------------------------------ accepting

    def accept(self, conversation_id: str, agent_id: str, agent: Agent) -> Conversation:
        conversation = self.tables.conversation(conversation_id)
        if conversation is None or agent_id not in (
                *conversation.offer_history, conversation.agent_id):
            raise Missing(f"conversation {conversation_id} does not exist")
        if conversation.agent_id == agent_id:
            return conversation  # accepted already: the same answer again
        workstream = self.workstream(conversation.workstream_id)
        if workstream is None:
            raise Conflict("offer_expired", "the conversation's workstream is gone")
        self._check_offer(conversation, agent_id)
        if not self.reserve(agent, conversation.id, workstream.capacity_per_conversation):
            raise Conflict("capacity_exceeded",
                           "accepting would exceed your capacity; close a conversation first")
        now = self.services.clock.now()

        def mutate(current: Conversation) -> Conversation:
            self._check_offer(current, agent_id)
            return current.model_copy(update={
                "state": "active", "agent_id": agent_id, "assigned_at": now,
                "offered_to": [], "offer_expires_at": None, "updated_at": now})

        try:
            accepted = self.store.transition(conversation.id, mutate)
        except Conflict:
            # Unless it was offered to this agent again meanwhile (alone in the queue).
            latest = self.tables.conversation(conversation.id)
            if latest is None or not _holds_capacity(latest, agent_id):
                self.release(agent_id, conversation.id)
            raise
        self.tables.loads.update("load", agent_id, lambda load: load.model_copy(
            update={"last_assigned_at": now}))
        self.tables.contacts.update(accepted.page_id, accepted.psid, lambda contact: (
            contact.model_copy(update={"last_agent_id": agent_id, "updated_at": now})))
        if conversation.offered_at is not None and accepted.queue_id is not None:
            metrics.offer_wait(accepted.queue_id, (now - conversation.offered_at).total_seconds())
        return accepted

    def _check_offer(self, conversation: Conversation, agent_id: str) -> None:
        if conversation.agent_id is not None and conversation.agent_id != agent_id:
            raise Conflict("already_assigned", "another agent took this conversation")
        expires = conversation.offer_expires_at
        if (conversation.state != "offered" or agent_id not in conversation.offered_to
                or (expires is not None and expires <= self.services.clock.now())):
            raise Conflict("offer_expired", "the offer expired or moved to another agent")

    # ------------------------------------------------------------------ sweeping

    def sweep(self) -> int:
        """Offer what waits (oldest first), pass on expired offers, refresh pick offers, and
        free capacity stranded by interrupted work. Returns how many were looked at.

        Reads the queues' index (unassigned work only); a row whose conversation is no longer
        unassigned (an interrupted accept or close) is repaired on the way."""
        queues = [queue.id for queue in Queues(self.services.tables).all()]
        due = self.store.indexes.unassigned(queues, MAX_PER_SWEEP)
        first_waiting: dict[str, Conversation] = {}
        for row in due:
            conversation = self.offer(row.conversation_id)
            if conversation is None:
                self.store.indexes.tables[ByQueue].delete(row.partition, row.key)
            elif conversation.state not in UNASSIGNED_STATES or (
                    conversation.queue_id, queue_key(conversation)) != (row.queue_id, row.key):
                self.store.repair(conversation.id)
            elif conversation.state == "waiting" and conversation.queue_id is not None:
                first_waiting.setdefault(conversation.queue_id, conversation)
        for conversation in first_waiting.values():
            self._next_in_line(conversation)
        self._reconcile()
        return len(due)

    def _next_in_line(self, conversation: Conversation) -> None:
        """``next_in_line``, once, to the customer first in their queue's line (when the
        workstream has a text for it: otherwise nothing is read)."""
        workstream = self.workstream(conversation.workstream_id)
        if workstream is None or not workstream.automated_messages.get("next_in_line") or (
                automated_sent(self.tables, conversation.id, "next_in_line")):
            return
        queue = get_queue(self.services.tables, conversation.queue_id or "")
        send_automated(self.services, conversation, workstream, "next_in_line", values={
            "QueueName": "" if queue is None else queue.name, "QueuePosition": "1"})

    def _reconcile(self) -> None:
        """Release reservations that no offer or assignment holds any more. An agent's index
        partition says which conversations they hold (one range read per agent with old
        reservations); only a reservation it does not confirm costs a point read."""
        now = self.services.clock.now()
        for load in self.tables.loads.list_partition("load"):
            old = [conversation_id for conversation_id, reservation in load.reservations.items()
                   if now - reservation.at >= RESERVATION_GRACE]
            if not old:
                continue
            indexed = {row.conversation_id: row for row in self.store.indexes.of_agent(
                load.agent_id, [])}
            for conversation_id in old:
                row = indexed.get(conversation_id)
                if row is not None and _holds_capacity(row, load.agent_id):
                    continue
                conversation = self.tables.conversation(conversation_id)
                if conversation is None or not _holds_capacity(conversation, load.agent_id):
                    self.release(load.agent_id, conversation_id)


def _offered_to(agent_id: str, now: datetime,
                expires: datetime) -> Callable[[Conversation], Conversation]:
    def change(conversation: Conversation) -> Conversation:
        return conversation.model_copy(update={
            "state": "offered", "offered_to": [agent_id], "offered_at": now,
            "offer_expires_at": expires, "offers_made": conversation.offers_made + 1,
            "offer_history": [*dict.fromkeys([*conversation.offer_history, agent_id])],
            "updated_at": now})

    return change


def _holds_capacity(conversation: Conversation | ConversationEntry, agent_id: str) -> bool:
    if conversation.agent_id == agent_id:
        return conversation.state in ("active", "wrap_up")
    return conversation.state == "offered" and conversation.offer_expires_at is not None and (
        agent_id in conversation.offered_to)
