"""Who takes part in a conversation, and what each part may do.

======================= ===================================================================
role                    may
======================= ===================================================================
``owner``               everything: reply, notes, labels, transfer, consult, close, retry
``consultant``          read it all, write notes, edit labels, leave the consultation
``offered``             read it before accepting (push or pick offer), accept
======================= ===================================================================

Anyone else gets ``Missing``, exactly as for an id that does not exist; a participant asking
for what their role does not allow gets ``Forbidden`` (they know the conversation exists).
"""

from __future__ import annotations

from typing import Literal

from messenger_channel.conversations.indexes import ConversationEntry
from messenger_channel.conversations.models import Conversation, ConversationTables
from messenger_channel.errors import Forbidden, Missing
from messenger_channel.storage.errors import InvalidKey
from messenger_channel.storage.tables import TableStore

Role = Literal["owner", "consultant", "offered"]
MANAGES: frozenset[Role] = frozenset({"owner"})
COLLABORATES: frozenset[Role] = frozenset({"owner", "consultant"})
SEES: frozenset[Role] = frozenset({"owner", "consultant", "offered"})
_AS: dict[Role, str] = {"owner": "the owner", "consultant": "a consultant",
                        "offered": "an agent it is offered to"}


def role_of(conversation: Conversation | ConversationEntry, agent_id: str) -> Role | None:
    if conversation.agent_id == agent_id:
        return "owner"
    if agent_id in conversation.consultants:
        return "consultant"
    if agent_id in conversation.offered_to:
        return "offered"
    return None


def participating(tables: TableStore, conversation_id: str, agent_id: str,
                  roles: frozenset[Role] = SEES, action: str = "do this") -> Conversation:
    """The conversation, when the agent's role in it is one of ``roles``."""
    try:
        conversation = ConversationTables(tables).conversation(conversation_id)
    except InvalidKey:
        conversation = None
    role = None if conversation is None else role_of(conversation, agent_id)
    if conversation is None or role is None:
        raise Missing.of(f"conversation {conversation_id}")
    if role not in roles:
        raise Forbidden(f"as {_AS[role]} of this conversation you may not {action}")
    return conversation
