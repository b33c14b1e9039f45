"""Messages the product sends in a conversation: written to its history, then enqueued.

Both steps are idempotent: the message's id is deterministic (an automated message's comes from
its conversation, trigger and occasion), the history row is created in one transaction with an
index row keyed by that id, and ``enqueued`` is set once the queue took it. A redelivery finds
the row and enqueues only if the queue never took it; the queue drops a second copy anyway.
"""

from __future__ import annotations

from messenger_channel.conversations.models import (
    AttachmentInfo,
    Conversation,
    Message,
    MessageIndex,
    message_index_key,
    message_key,
    short_hash,
)
from messenger_channel.conversations.store import conversation_tables
from messenger_channel.queue_messages import OutboundMessage, enqueue_outbound
from messenger_channel.services import Services
from messenger_channel.storage.errors import AlreadyExists
from messenger_channel.storage.tables import CreateOp


def automated_message_id(conversation_id: str, occasion: str) -> str:
    return f"auto-{short_hash(conversation_id, occasion)}"


def send_in_conversation(services: Services, conversation: Conversation,
                         outbound: OutboundMessage,
                         attachment: AttachmentInfo | None = None) -> Message:
    tables = conversation_tables(services)
    index_key = message_index_key(outbound.message_id)
    row = Message(conversation_id=conversation.id,
                  id=message_key(outbound.created_at, outbound.message_id),
                  direction="out", author=outbound.author, text=outbound.text,
                  attachments=[] if attachment is None else [attachment],
                  status="queued", agent_id=outbound.agent_id, trigger=outbound.trigger,
                  quick_replies=list(outbound.quick_replies), send_id=outbound.message_id,
                  created_at=outbound.created_at)
    try:
        tables.messages.transaction([
            CreateOp(row),
            CreateOp(MessageIndex(conversation_id=conversation.id, mid_hash=index_key,
                              message_id=row.id)),
        ])
    except AlreadyExists:
        index = tables.message_index.get(conversation.id, index_key)
        assert index is not None  # written with the row, never deleted
        existing = tables.messages.get(conversation.id, index.message_id)
        assert existing is not None
        row = existing
        if row.enqueued:
            return row
        # The queue message carries the first attempt's text and time, as the row does.
        outbound = outbound.model_copy(update={"text": row.text, "created_at": row.created_at})
    enqueue_outbound(services.queue, outbound)
    return tables.messages.update(conversation.id, row.id,
                                  lambda m: m.model_copy(update={"enqueued": True}))
