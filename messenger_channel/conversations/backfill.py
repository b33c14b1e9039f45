"""Build the conversation indexes from conversations stored before they existed: one-off,
idempotent and resumable. ``POST /api/manage/backfill`` runs one batch per call and answers
the cursor of the next (README, "Upgrading stored data").

For each stored conversation: the customer's name is copied onto it from the contact when it
lacks one (open conversations keep it; closed ones only in their rows), every index row is
written as a repair would (``ConversationIndexes.write`` with no known previous version), and
an open conversation gets its timer row. Rerunning rewrites the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from messenger_channel.conversations.auto_close import next_look
from messenger_channel.conversations.models import Conversation
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.services import Services
from messenger_channel.workforce.workstreams import Workstream, get_workstream

BATCH = 200


@dataclass(frozen=True)
class BackfillBatch:
    conversations: int
    next: str | None  # None: every stored conversation has been indexed


def backfill_conversations(services: Services, cursor: str | None = None,
                           batch: int = BATCH) -> BackfillBatch:
    """Index one batch of stored conversations, from ``cursor`` (None: the first)."""
    store = ConversationStore.of(services)
    page = store.tables.conversations.query("RowKey eq @row", {"row": "conversation"},
                                            page_size=batch, continuation=cursor)
    workstreams: dict[str, Workstream | None] = {}
    for conversation in page.items:
        named = _with_customer_name(services, store, conversation)
        store.write_rows(None, named)
        if named.state != "closed":
            workstream_id = named.workstream_id or ""
            if workstream_id not in workstreams:
                workstreams[workstream_id] = (get_workstream(services.tables, workstream_id)
                                              if workstream_id else None)
            workstream = workstreams[workstream_id]
            store.indexes.schedule(named.id, next_look(
                state=named.state, last_activity_at=named.last_activity_at,
                wrap_up_ends_at=named.wrap_up_ends_at,
                auto_close_after_minutes=None if workstream is None
                else workstream.auto_close_after_minutes,
                now=services.clock.now()))
    return BackfillBatch(len(page.items), page.next)


def _with_customer_name(services: Services, store: ConversationStore,
                        conversation: Conversation) -> Conversation:
    if conversation.customer_name is not None:
        return conversation
    contact = store.tables.contacts.get(conversation.page_id, conversation.psid)
    if contact is None:
        return conversation
    names = {"customer_name": contact.name, "name_missing_reason": contact.name_missing_reason}
    if conversation.state == "closed":
        return conversation.model_copy(update=names)
    # Without touching updated_at: copying a name is not news to the agent's ``since``.
    return store.tables.conversations.update(
        conversation.id, "conversation",
        lambda c: None if c.customer_name is not None else c.model_copy(update=names))
