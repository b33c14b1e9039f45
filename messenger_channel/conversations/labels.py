"""Labels on a conversation: short lowercase tags the owner and consultants set, which the
lists (and the supervisors' filters) carry on every index row."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from messenger_channel.conversations.models import Conversation
from messenger_channel.conversations.participants import COLLABORATES, participating
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.services import Services

MAX_LABELS = 20
Label = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
Labels = Annotated[list[Label], Field(max_length=MAX_LABELS)]


def set_labels(services: Services, conversation_id: str, agent_id: str,
               labels: list[str]) -> Conversation:
    """Replace the labels (validated by ``Labels`` at the edge; kept in order, once each)."""
    participating(services.tables, conversation_id, agent_id, COLLABORATES, "label it")
    wanted = list(dict.fromkeys(labels))
    now = services.clock.now()
    # A transition: the permanent rows carry labels too (supervisors filter on them).
    return ConversationStore.of(services).transition(
        conversation_id, lambda c: None if c.labels == wanted else c.model_copy(
            update={"labels": wanted, "updated_at": now}))
