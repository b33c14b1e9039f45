"""The bodies of the two queues' messages: ``inbound`` (one webhook event, for the router) and
``outbound`` (one message to send, for the sender). Producers and consumers import them from
here; the queues' names and properties come from ``bus/queues.py``.

**inbound** — :class:`InboundEnvelope`: the webhook writes it (``envelope_json``, no model on
the hot path); the router reads it. SessionId = ``page:psid``, MessageId = the event id.

**outbound** — :class:`OutboundMessage`, SessionId = the conversation. The same schema carries
an agent's reply (the agent API writes it) and an automated message (the router and the timers
write them); the sender consumes both alike.

=================== ==========================================================================
field               meaning
=================== ==========================================================================
``message_id``      the product's id of the message: the row in the conversation's history
                    that the sender updates (status, facebook id), and the queue's MessageId,
                    deterministic for automated messages so a redelivery never sends twice
``conversation_id`` the queue session: one conversation's messages go out in order
``page_id, psid``   who sends, to whom
``author``          ``agent`` (``agent_id`` set), ``automated`` (``trigger`` set) or ``bot``
                    (the workstream's bot; sent by the 24-hour window like ``automated``)
``text``            at most 2000 characters (the Send API's limit); may be absent with
                    attachments
``attachment_id``   an agent's file in the product's attachment store (``agent_files``); a
                    message carries text or one attachment, as the Send API takes them
``attachment_url``  a file a bot links to, sent by URL (Facebook fetches it)
``quick_replies``   buttons offered under the text, ≤ 13 ``{title ≤ 20, payload ≤ 1000}``; a
                    bare title (bodies queued before payloads) is its own payload
``created_at``      when the product made the message (ISO 8601 UTC)
``attempt``         1, then 2, 3... on the scheduled copies the sender makes to retry it
``resend``          0, then 1, 2... each time an agent retries it after it failed
=================== ==========================================================================
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from messenger_channel.bus.port import QueueMessage, QueueSender
from messenger_channel.bus.queues import INBOUND, OUTBOUND
from messenger_channel.facebook.webhook_event_ids import session_id
from messenger_channel.facebook.webhook_events import (
    EventKind,
    EventSource,
    InboundEvent,
    RawEvent,
    parse_event,
)

__all__ = ["INBOUND", "OUTBOUND", "InboundEnvelope", "OutboundMessage", "QuickReply",
           "enqueue_outbound", "envelope_json", "quick_replies_of"]


class InboundEnvelope(BaseModel):
    """The body of an ``inbound`` queue message: one event as Meta sent it, with what routing
    needs already read from it. The webhook writes it with :func:`envelope_json` (no model per
    event: it is the hot path); the router reads it with ``model_validate_json`` and gets the
    validated event from :meth:`event`."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    app_id: str
    received_at: datetime
    own_echo: bool  # an echo of a message this product sent: the router drops it
    kind: EventKind
    event_id: str  # also the queue message's id
    page_id: str
    customer_psid: str | None = None
    customer_user_ref: str | None = None  # a Chat Plugin guest's, instead of a PSID
    source: EventSource
    raw: dict[str, Any]

    def event(self) -> InboundEvent:
        """The validated event: the full parse, which gives the kind and id carried here."""
        return parse_event(self.raw, self.source, self.page_id)

    @property
    def session_id(self) -> str:
        return session_id(self.page_id, self.customer_psid, self.customer_user_ref)


def envelope_json(account_id: str, app_id: str, received_at: str, event: RawEvent) -> bytes:
    """An :class:`InboundEnvelope` of the event (``received_at`` in ISO 8601), serialised with
    orjson, the event's JSON embedded as the split wrote it: a tenth of the cost of building
    and dumping the model."""
    return orjson.dumps({
        "account_id": account_id, "app_id": app_id, "received_at": received_at,
        "own_echo": event.kind == "echo" and event.echo_app_id == app_id,
        "kind": event.kind, "event_id": event.event_id, "page_id": event.page_id,
        "customer_psid": event.customer_psid, "customer_user_ref": event.customer_user_ref,
        "source": event.source, "raw": orjson.Fragment(event.raw_json)})


class QuickReply(BaseModel):
    title: str = Field(min_length=1, max_length=20)
    payload: str = Field(min_length=1, max_length=1000)


def quick_replies_of(items: list[Any]) -> list[QuickReply]:
    """Stored and queued quick replies: objects, or titles alone (before payloads were
    distinct: the payload was the title)."""
    return [QuickReply(title=item[:20], payload=item) if isinstance(item, str)
            else QuickReply.model_validate(item) for item in items]


class OutboundMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str = Field(min_length=1, max_length=128)
    conversation_id: str
    page_id: str
    psid: str
    author: Literal["agent", "automated", "bot"]
    agent_id: str | None = None
    trigger: str | None = None  # for automated messages: greeting, agent_assigned...
    text: str | None = Field(None, max_length=2000)
    attachment_id: str | None = None
    attachment_url: str | None = Field(None, max_length=2000)
    quick_replies: list[QuickReply] = Field(default_factory=list, max_length=13)
    created_at: datetime
    attempt: int = Field(1, ge=1)
    resend: int = Field(0, ge=0)

    @field_validator("quick_replies", mode="before")
    @classmethod
    def _titles_become_replies(cls, items: Any) -> list[QuickReply]:
        return quick_replies_of(items or [])

    @model_validator(mode="after")
    def _text_or_attachment(self) -> OutboundMessage:
        carried = [self.text, self.attachment_id, self.attachment_url]
        if sum(part is not None for part in carried) != 1:
            raise ValueError("a message carries text or one attachment")
        return self

    def queue_message(self, scheduled_at: datetime | None = None) -> QueueMessage:
        # A retry is a new queue message: the first one's id would be dropped as a duplicate.
        queue_id = self.message_id
        if self.resend:
            queue_id = f"{queue_id[:100]}~r{self.resend}"
        if self.attempt > 1:
            queue_id = f"{queue_id[:110]}~{self.attempt}"
        return QueueMessage(body=self.model_dump_json().encode(),
                               session_id=self.conversation_id, message_id=queue_id,
                               scheduled_at=scheduled_at)


def enqueue_outbound(queue: QueueSender, message: OutboundMessage) -> None:
    queue.send(OUTBOUND.name, [message.queue_message()])
