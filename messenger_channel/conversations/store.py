"""Writing conversations with their index rows (``indexes``), in the order that keeps the
indexes repairable. Every change of a conversation goes through here:

- ``create``: a repair row, the conversation, its rows, its first due row, the repair row gone;
- ``transition``: a change that may move it between lists (state, agent, queue, offer) —
  bracketed by a repair row;
- ``touch``: a change within the same lists (a message: unread, preview, times) — the
  conversation, then its live rows (and its permanent ones when what they carry changed: the
  first response, a rating);
- ``repair``: every row rewritten from the conversation, stale ones deleted (the timer's
  answer to a repair row; also the backfill's, for each stored conversation).

Whenever the by-day row of a conversation created on an earlier day changes, the report
digest of that day is invalidated after it (``report_days.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from messenger_channel.clock import Clock
from messenger_channel.conversations.indexes import (
    REPAIR_AFTER,
    ConversationIndexes,
    permanent_change,
)
from messenger_channel.conversations.live_hints import LiveHints
from messenger_channel.conversations.milestones import with_milestones
from messenger_channel.conversations.models import Conversation, ConversationTables
from messenger_channel.conversations.report_days import ReportDays
from messenger_channel.live.port import LivePublisher
from messenger_channel.services import Services
from messenger_channel.storage.errors import AlreadyExists
from messenger_channel.storage.tables import TableStore

Change = Callable[[Conversation], Conversation | None]


class ConversationStore:
    def __init__(self, store: TableStore, clock: Clock, live: LivePublisher | None = None) -> None:
        self.tables = ConversationTables(store)
        self.indexes = ConversationIndexes(store)
        self.report_days = ReportDays(store, clock)
        self.clock = clock
        # Hints go out after each write (``live_hints``): conversations from here, messages
        # from the table's observer.
        self.hints = None if live is None else LiveHints(live, self.tables, clock)
        if self.hints is not None:
            self.tables.messages = self.tables.messages.observed(self.hints.message_written)

    @classmethod
    def of(cls, services: Services) -> ConversationStore:
        """The engine's store: its writes publish live hints."""
        return cls(services.tables, services.clock, services.live)

    def get(self, conversation_id: str) -> Conversation | None:
        return self.tables.conversation(conversation_id)

    def create(self, conversation: Conversation, due_at: datetime) -> Conversation:
        """Store a new conversation (or return the one stored under its id already, its rows
        made sure of: a redelivery completes an interrupted creation)."""
        conversation = with_milestones(conversation)
        repair = self.indexes.schedule(conversation.id, self.clock.now() + REPAIR_AFTER,
                                       "repair")
        try:
            self.tables.conversations.create(conversation)
            stored = conversation
        except AlreadyExists:
            existing = self.tables.conversation(conversation.id)
            assert existing is not None  # conversations are never deleted
            stored = existing
        self.write_rows(None, stored)
        self.indexes.schedule(stored.id, due_at)
        self.indexes.unschedule(repair)
        self._written(None, stored)
        return stored

    def transition(self, conversation_id: str, change: Change) -> Conversation:
        """Apply ``change`` under the ETag (``Table.update``'s contract: pure, may run again;
        None: no change), then move the conversation's rows."""
        repair = self.indexes.schedule(conversation_id, self.clock.now() + REPAIR_AFTER,
                                       "repair")
        refused: list[BaseException] = []
        try:
            before, after = self._update(conversation_id, change, refused)
        except BaseException as error:
            if error in refused:  # ``change`` said no: nothing was written
                self.indexes.unschedule(repair)
            # Otherwise the write may have happened (a timeout after the service applied
            # it): the repair row stays and the timer rewrites the rows from what is stored.
            raise
        if before is not None:
            self.write_rows(before, after)
        self.indexes.unschedule(repair)
        if before is not None:
            self._written(before, after)
        return after

    def touch(self, conversation_id: str, change: Change) -> Conversation:
        before, after = self._update(conversation_id, change)
        if before is not None:
            if before.state != after.state or permanent_change(before, after):
                self.write_rows(before, after)
            else:
                self.indexes.touch(after)
            self._written(before, after)
        return after

    def repair(self, conversation_id: str) -> Conversation | None:
        conversation = self.tables.conversation(conversation_id)
        if conversation is not None:
            self.write_rows(None, conversation)
        return conversation

    def write_rows(self, before: Conversation | None, after: Conversation) -> None:
        """``after``'s index rows (``ConversationIndexes.write``), then its day's report
        digest invalidated if what the reports read changed."""
        if self.indexes.write(before, after):
            self.report_days.invalidate(after)

    def _written(self, before: Conversation | None, after: Conversation) -> None:
        if self.hints is not None:
            self.hints.conversation_written(before, after)

    def _update(self, conversation_id: str, change: Change,
                refused: list[BaseException] | None = None,
                ) -> tuple[Conversation | None, Conversation]:
        """(the version replaced — None when nothing changed —, the version stored). What
        ``change`` raises is noted in ``refused``."""
        seen: list[Conversation] = []
        changed: list[bool] = []

        def mutate(current: Conversation) -> Conversation | None:
            seen.append(current)
            try:
                result = change(current)
            except BaseException as error:
                if refused is not None:
                    refused.append(error)
                raise
            changed.append(result is not None)
            return None if result is None else with_milestones(result)

        after = self.tables.conversations.update(conversation_id, "conversation", mutate)
        return (seen[-1] if changed and changed[-1] else None), after


def conversation_tables(services: Services) -> ConversationTables:
    """The engine's tables for writing messages: each write publishes its live hint."""
    return ConversationStore.of(services).tables
