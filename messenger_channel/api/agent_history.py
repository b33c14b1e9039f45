"""``GET /api/agent/conversations/{id}/history``: the customer's earlier conversations."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from messenger_channel.api.agent_conversations import (
    ConversationOut,
    MessageOut,
    conversation_out,
    message_out,
    visible_conversation,
)
from messenger_channel.api.auth import AgentIdDep, ServicesDep
from messenger_channel.api.errors import ApiError
from messenger_channel.api.lists import ListPage, change_cursor
from messenger_channel.conversations.history import (
    MAX_HISTORY_PAGE,
    BadCursor,
    customer_history,
)

router = APIRouter(prefix="/conversations", tags=["agent"])


class PastConversationOut(BaseModel):
    conversation: ConversationOut
    messages: list[MessageOut]


@router.get("/{conversation_id}/history",
            name="customer_history", response_model=ListPage[PastConversationOut])
def history(
    conversation_id: str, agent_id: AgentIdDep, services: ServicesDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_PAGE)] = 5,
) -> ListPage[PastConversationOut]:
    """The customer's other conversations, newest first (by creation), ``limit`` per page:
    those of the same Messenger profile (page and PSID) and of every profile linked to the
    same contact, without this one. Each comes with its messages, oldest first: the latest
    200 of it at most. Whoever may see the conversation may read its history; anyone else
    gets a 404, as for an unknown id."""
    conversation = visible_conversation(services, conversation_id, agent_id)
    try:
        page = customer_history(services.tables, services.clock, conversation, limit=limit,
                                after=None if cursor is None else _decode(cursor))
    except BadCursor:
        raise _bad_cursor() from None
    items = [PastConversationOut(
        conversation=conversation_out(services, item.conversation, agent_id),
        messages=[message_out(services, m) for m in item.messages]) for item in page.items]
    latest = max((item.conversation.updated_at for item in page.items), default=None)
    return ListPage[PastConversationOut](
        items=items, next=None if page.next is None else _encode(page.next),
        since=change_cursor(latest))


def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_cursor() from None


def _bad_cursor() -> ApiError:
    return ApiError(400, "invalid_cursor", "cursor is not a cursor this API issued")
