"""The body of an ``outbound`` queue message: one message to send to a customer.

The same schema carries an agent's reply (the agent API writes it) and an automated message
(the router and the timers write them); the sender consumes both alike.

=================== ==========================================================================
field               meaning
=================== ==========================================================================
``message_id``      the product's id of the message: the row in the conversation's history
                    that the sender updates (status, facebook id), and the queue's MessageId,
                    deterministic for automated messages so a redelivery never sends twice
``conversation_id`` the queue session: one conversation's messages go out in order
``page_id, psid``   who sends, to whom
``author``          ``agent`` (``agent_id`` set) or ``automated`` (``trigger`` set)
``text``            at most 2000 characters (the Send API's limit); may be absent with
                    attachments
``attachment_id``   an agent's file in the product's attachment store (``agent_files``); a
                    message carries text or one attachment, as the Send API takes them
``quick_replies``   titles (≤ 13, ≤ 20 characters) offered under the text; the payload of
                    each is its title (pre-conversation survey questions use them)
``created_at``      when the product made the message (ISO 8601 UTC)
``attempt``         1, then 2, 3... on the scheduled copies the sender makes to retry it
=================== ==========================================================================
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from messenger_channel.bus.port import OutgoingMessage, QueueSender

OUTBOUND_QUEUE = "outbound"


class OutboundMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str = Field(min_length=1, max_length=128)
    conversation_id: str
    page_id: str
    psid: str
    author: Literal["agent", "automated"]
    agent_id: str | None = None
    trigger: str | None = None  # for automated messages: greeting, agent_assigned...
    text: str | None = Field(None, max_length=2000)
    attachment_id: str | None = None
    quick_replies: list[str] = Field(default_factory=list, max_length=13)
    created_at: datetime
    attempt: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _text_or_attachment(self) -> OutboundMessage:
        if (self.text is None) == (self.attachment_id is None):
            raise ValueError("a message carries text or one attachment")
        return self

    def queue_message(self, scheduled_at: datetime | None = None) -> OutgoingMessage:
        # A retry is a new queue message: the first one's id would be dropped as a duplicate.
        queue_id = (self.message_id if self.attempt == 1
                    else f"{self.message_id[:100]}~{self.attempt}")
        return OutgoingMessage(body=self.model_dump_json().encode(),
                               session_id=self.conversation_id, message_id=queue_id,
                               scheduled_at=scheduled_at)


def enqueue_outbound(queue: QueueSender, message: OutboundMessage) -> None:
    queue.send(OUTBOUND_QUEUE, [message.queue_message()])
