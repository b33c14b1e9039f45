"""Internal messages: agents' notes and the system's lines (a transfer, a consultation).

They are rows of the conversation's history with ``visibility = internal``: agents,
consultants and supervisors read them with the rest; nothing here touches the ``outbound``
queue, so they never reach Facebook.
"""

from __future__ import annotations

import uuid

from messenger_channel.conversations.models import (
    Author,
    Conversation,
    Message,
    message_key,
)
from messenger_channel.conversations.participants import COLLABORATES, participating
from messenger_channel.conversations.store import ConversationStore, conversation_tables
from messenger_channel.errors import Invalid
from messenger_channel.services import Services

MAX_NOTE_CHARS = 4000


def add_note(services: Services, conversation_id: str, agent_id: str, text: str) -> Message:
    """The owner's or a consultant's note."""
    conversation = participating(services.tables, conversation_id, agent_id, COLLABORATES,
                                 "write notes")
    text = text.strip()
    if not text:
        raise Invalid([("text", "a note needs text")])
    if len(text) > MAX_NOTE_CHARS:
        raise Invalid([("text", f"a note holds at most {MAX_NOTE_CHARS} characters")])
    note = internal_message(services, conversation, text, author="agent", agent_id=agent_id)
    # The conversation's change time moves, so the other participants' lists notice.
    ConversationStore.of(services).touch(
        conversation.id, lambda c: c.model_copy(update={"updated_at": note.created_at}))
    return note


def internal_message(services: Services, conversation: Conversation, text: str, *,
                     author: Author = "system", agent_id: str | None = None) -> Message:
    now = services.clock.now()
    message = Message(conversation_id=conversation.id,
                      id=message_key(now, f"note-{uuid.uuid4().hex}"), direction="out",
                      author=author, text=text[:MAX_NOTE_CHARS], status="received",
                      visibility="internal", agent_id=agent_id, created_at=now)
    conversation_tables(services).messages.create(message)
    return message
