"""Replies parked behind a retry (``conversations/sender.py``: ``ParkedMessage`` rows in
``SendCursors``) hold the reply's text and the customer's PSID until they are sent. Nothing
resumes them once their conversation is erased (its queued messages are purged, so the retry
that would resume them is gone) or its messages are past retention: they are deleted then."""

from __future__ import annotations

from messenger_channel.conversations.sender import (
    CURSORS_TABLE,
    PARKED_FILTER,
    ParkedMessage,
    parked_parameters,
)
from messenger_channel.services import Services
from messenger_channel.storage.tables import Table


def drop_parked_replies(services: Services, conversation_id: str) -> int:
    """Deletes the conversation's parked replies (idempotent); how many there were."""
    rows: Table[ParkedMessage] = services.tables.table(CURSORS_TABLE, ParkedMessage)
    parked = rows.query_all(PARKED_FILTER, parked_parameters(conversation_id))
    count = 0
    for row in list(parked):
        rows.delete(row.conversation_id, row.key)
        count += 1
    return count
