"""The conversation engine's table entities and where they live.

============== ===================== ============================ ==============================
table          PartitionKey          RowKey                       why
============== ===================== ============================ ==============================
Contacts       page id               PSID                         find-or-create is a point read;
                                                                  ``open_conversation_id`` is the
                                                                  claim: one open conversation
                                                                  per (page, PSID), under ETag
Conversations  conversation id       ``conversation``             every transition a point
                                                                  read-modify-write under ETag
Messages       conversation id       ``m-<ms:013>-<hash>``        a conversation's history is one
                                     ``mid-<hash>``               small range, oldest first; the
                                                                  mid index row finds a message
                                                                  for reads, reactions, edits
AgentLoads     ``load``              agent id                     used capacity and who holds it,
                                                                  reserved/released under ETag
============== ===================== ============================ ==============================

A message's RowKey derives from the event (Facebook's timestamp and the event id), so storing
the same event twice meets ``AlreadyExists``: idempotent for ever, not only inside the queue's
duplicate-detection window.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from messenger_channel.queue_messages import QuickReply, quick_replies_of
from messenger_channel.routing.rules import Scalar
from messenger_channel.storage.tables import Entity, Table, TableStore

# ``bot``: a workstream's bot answers the customer (``bot_turn``) until it escalates.
State = Literal["bot", "survey", "waiting", "offered", "active", "wrap_up", "closed"]
Direction = Literal["in", "out"]
Author = Literal["customer", "agent", "automated", "outside", "bot", "system"]
# ``internal``: a note or a system line, for agents, consultants and supervisors; never sent.
Visibility = Literal["customer", "internal"]
MessageStatus = Literal["received", "queued", "sent", "delivered", "read", "failed"]
AttachmentStatus = Literal["stored", "failed", "skipped"]
# Event ids remembered on a conversation, so a redelivered event never counts twice.
APPLIED_EVENTS_KEPT = 50


def short_hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


class Contact(Entity):
    id: str
    page_id: str
    psid: str
    name: str
    name_missing_reason: str | None = None
    profile_pic: str | None = None
    locale: str | None = None
    timezone: float | None = None
    open_conversation_id: str | None = None
    last_conversation_id: str | None = None
    last_agent_id: str | None = None  # keep-same-agent affinity
    linked_contact_id: str | None = None  # the agents' contact this profile belongs to
    pending_referral: dict[str, Any] | None = None  # a referral before any message
    created_at: datetime
    updated_at: datetime

    def partition_key(self) -> str:
        return self.page_id

    def row_key(self) -> str:
        return self.psid


class Csat(BaseModel):
    score: int | None = None  # on the survey's scale; None: only a comment came
    comment: str | None = None
    at: datetime


class ThreadControl(BaseModel):
    """The channel's last handover call for a conversation (``conversations/thread_control``):
    ``take`` when an agent starts it, ``pass`` back when it closes or on request, ``request``
    when a take was refused."""

    action: Literal["take", "pass", "request"]
    status: Literal["pending", "done", "failed"]
    target_app_id: str | None = None
    attempts: int = 0
    error: str | None = None  # Graph's refusal, for the agents and operators
    at: datetime


class Conversation(Entity):
    id: str
    page_id: str
    psid: str
    contact_id: str
    workstream_id: str | None = None
    state: State
    locale: str
    queue_id: str | None = None  # None until classified
    attributes: dict[str, Scalar] = Field(default_factory=dict)
    survey_answers: dict[str, str] = Field(default_factory=dict)
    survey_next: int = 0  # index of the question awaiting an answer
    first_text: str | None = None
    first_payload: str | None = None
    referral: dict[str, Any] | None = None
    agent_id: str | None = None
    offered_to: list[str] = Field(default_factory=list)
    offer_history: list[str] = Field(default_factory=list)  # every agent ever offered it
    opened_by: str  # the event that opened it
    offers_made: int = 0
    offered_at: datetime | None = None
    offer_expires_at: datetime | None = None
    assigned_at: datetime | None = None
    waiting_since: datetime | None = None
    last_customer_message_at: datetime | None = None
    last_activity_at: datetime
    human_agent_tag: bool = False
    unread: int = 0
    wrap_up_ends_at: datetime | None = None
    closed_at: datetime | None = None
    applied_events: list[str] = Field(default_factory=list)
    # Events whose bot answer was applied: a redelivery does not ask the bot again.
    bot_events: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    consultants: dict[str, datetime] = Field(default_factory=dict)  # agent id → since
    # Everyone who ever held or consulted on it: the lists they may still have a row in.
    agent_history: list[str] = Field(default_factory=list)
    consult_history: list[str] = Field(default_factory=list)
    transfers: int = 0  # an accept after a transfer sends ``transfer_accepted``
    last_agent_message_at: datetime | None = None  # the last reply the customer could see
    # What the reports measure, recorded as the conversation moves (``reports``):
    first_waiting_at: datetime | None = None  # it first waited for an agent
    first_assigned_at: datetime | None = None  # an agent first took it
    first_response_at: datetime | None = None  # the first agent message after that
    csat: Csat | None = None  # the customer's answer to the rating survey
    # Copied here so the lists (``indexes``) show them without reading the contact or history.
    customer_name: str | None = None
    name_missing_reason: str | None = None
    last_message_preview: str | None = None
    # Messenger's handover protocol (a workstream with ``handover``): the app that controls
    # the customer's thread as last known, and the channel's last call about it.
    thread_owner_app_id: str | None = None
    thread_control: ThreadControl | None = None
    created_at: datetime
    updated_at: datetime

    def partition_key(self) -> str:
        return self.id

    def row_key(self) -> str:
        return "conversation"


class AttachmentInfo(BaseModel):
    id: str
    name: str
    content_type: str | None = None
    size: int | None = None
    type: str | None = None
    status: AttachmentStatus
    error: str | None = None


class Edit(BaseModel):
    text: str | None
    at: datetime
    num_edit: int | None = None


class Message(Entity):
    conversation_id: str
    id: str
    direction: Direction
    author: Author
    text: str | None = None
    # A text too long for the row: all of it in Blob (``long_texts``); ``text`` holds its start.
    text_blob: str | None = None
    payload: str | None = None
    edits: list[Edit] = Field(default_factory=list)
    reaction: str | None = None
    attachments: list[AttachmentInfo] = Field(default_factory=list)
    status: MessageStatus
    failure_reason: str | None = None
    facebook_message_id: str | None = None
    source: Literal["messaging", "standby"] = "messaging"
    agent_id: str | None = None
    trigger: str | None = None
    quick_replies: list[QuickReply] = Field(default_factory=list)
    visibility: Visibility = "customer"
    enqueued: bool = False  # outgoing: handed to the outbound queue
    send_id: str | None = None  # outgoing: the product's message id (the queue's, the sender's)
    resends: int = 0  # times an agent asked to retry it after it failed
    # outgoing: the send under way (``send_claim``): the attempt's id and start, set under the
    # row's ETag before Graph is called, cleared when the outcome is known
    send_attempt: str | None = None
    send_attempt_at: datetime | None = None
    created_at: datetime
    # When the channel stored it, for a message made earlier (a customer's, at their event's
    # time): a reader's ``since`` must see it even after later changes were read.
    stored_at: datetime | None = None
    updated_at: datetime | None = None  # a status, reaction or edit since it was made

    @field_validator("quick_replies", mode="before")
    @classmethod
    def _titles_become_replies(cls, items: Any) -> list[QuickReply]:
        return quick_replies_of(items or [])

    @property
    def changed_at(self) -> datetime:
        return max(self.updated_at or self.created_at, self.stored_at or self.created_at)

    def partition_key(self) -> str:
        return self.conversation_id

    def row_key(self) -> str:
        return self.id


class MessageIndex(Entity):
    """Finds a message within its conversation by an id it is known by: Facebook's ``mid``
    (customers' messages, reactions, edits) or the product's own message id (what we send).
    The field keeps its first name, ``mid_hash``: it is stored."""

    conversation_id: str
    mid_hash: str
    message_id: str

    def partition_key(self) -> str:
        return self.conversation_id

    def row_key(self) -> str:
        return self.mid_hash


def message_index_key(known_id: str) -> str:
    return f"mid-{short_hash(known_id)}"


def message_key(moment: datetime, identity: str) -> str:
    """Sorts by time, then by identity: the history reads oldest first."""
    return f"m-{int(moment.timestamp() * 1000):013d}-{short_hash(identity)}"


class Reservation(BaseModel):
    units: int
    at: datetime


class AgentLoad(Entity):
    agent_id: str
    reservations: dict[str, Reservation] = Field(default_factory=dict)  # by conversation id
    last_offered_at: datetime | None = None
    last_assigned_at: datetime | None = None

    def partition_key(self) -> str:
        return "load"

    def row_key(self) -> str:
        return self.agent_id

    @property
    def used(self) -> int:
        return sum(reservation.units for reservation in self.reservations.values())


class ConversationTables:
    def __init__(self, store: TableStore) -> None:
        self.contacts: Table[Contact] = store.table("Contacts", Contact)
        self.conversations: Table[Conversation] = store.table("Conversations", Conversation)
        self.messages: Table[Message] = store.table("Messages", Message)
        self.message_index: Table[MessageIndex] = store.table("Messages", MessageIndex)
        self.loads: Table[AgentLoad] = store.table("AgentLoads", AgentLoad)

    def conversation(self, conversation_id: str) -> Conversation | None:
        return self.conversations.get(conversation_id, "conversation")

    def history(self, conversation_id: str) -> list[Message]:
        """The conversation's messages, oldest first (RowKeys ``m-...`` sort by time)."""
        return list(self.messages.query_all(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            {"pk": conversation_id, "lo": "m-", "hi": "m."}))

    def find_message(self, conversation_id: str, known_id: str) -> Message | None:
        """The message Facebook knows as ``known_id`` (a mid), or we do (our message id)."""
        index = self.message_index.get(conversation_id, message_index_key(known_id))
        return None if index is None else self.messages.get(conversation_id, index.message_id)
