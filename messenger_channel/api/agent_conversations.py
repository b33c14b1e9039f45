"""``/api/agent/conversations``: what an agent is offered, holds or consults on, accepting,
the messages.

An agent sees only conversations offered to them, held by them or that they were asked to
consult on (``participants``); anything else is a 404, exactly as a conversation that does
not exist, so ids reveal nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from pydantic import BaseModel

from messenger_channel.api.auth import AgentIdDep, ServicesDep
from messenger_channel.api.errors import documented
from messenger_channel.api.lists import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ListPage,
    change_cursor,
    paginate,
    parse_change_cursor,
)
from messenger_channel.api.names import Names
from messenger_channel.api.types import ApiTime
from messenger_channel.conversations.automated import send_automated
from messenger_channel.conversations.closing import Closed, agent_closes
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.indexes import (
    DEPARTURES_KEPT,
    ConversationEntry,
    ConversationIndexes,
)
from messenger_channel.conversations.long_texts import full_text
from messenger_channel.conversations.models import (
    AttachmentInfo,
    AttachmentStatus,
    Author,
    Contact,
    Conversation,
    ConversationTables,
    Direction,
    Message,
    MessageStatus,
    State,
    ThreadControl,
    Visibility,
)
from messenger_channel.conversations.participants import Role, participating, role_of
from messenger_channel.conversations.sender import send_action
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.conversations.transfer import accepted_trigger
from messenger_channel.conversations.window import WindowKind, messaging_window
from messenger_channel.errors import Missing
from messenger_channel.services import Services
from messenger_channel.storage.errors import InvalidKey
from messenger_channel.workforce.agents import get_agent

router = APIRouter(prefix="/conversations", tags=["agent"])


class Customer(BaseModel):
    name: str | None
    name_missing_reason: str | None
    contact_id: str
    profile_pic: str | None = None  # on one conversation's answer; lists leave it out
    locale: str | None = None


class Participant(BaseModel):
    agent_id: str
    name: str | None
    role: Literal["owner", "consultant"]
    since: ApiTime | None


class Window(BaseModel):
    kind: WindowKind
    ends_at: ApiTime | None


class ConversationOut(BaseModel):
    id: str
    page_id: str
    page_name: str | None
    psid: str
    customer: Customer
    queue_id: str | None
    queue_name: str | None
    state: State
    role: Role | None  # the caller's part in it
    participants: list[Participant]
    labels: list[str]
    offered_at: ApiTime | None
    offer_expires_at: ApiTime | None
    assigned_at: ApiTime | None
    last_customer_message_at: ApiTime | None
    window: Window
    unread: int
    last_message_preview: str | None = None
    last_agent_message_at: ApiTime | None = None
    # Messenger's handover protocol: the app that controls the customer's thread as last
    # known, and the channel's last take/pass/request (a workstream with ``handover``).
    thread_owner_app_id: str | None = None
    thread_control: ThreadControl | None = None
    attributes: dict[str, str | int | float | bool]
    survey_answers: dict[str, str]
    referral: dict[str, object] | None
    created_at: ApiTime
    updated_at: ApiTime


class EditOut(BaseModel):
    text: str | None
    at: ApiTime


class AttachmentOut(BaseModel):
    id: str
    name: str
    content_type: str | None
    size: int | None
    status: AttachmentStatus
    error: str | None
    # Where a stored file downloads with the agent's key (None: nothing stored to download).
    url: str | None


class QuickReplyOut(BaseModel):
    title: str
    payload: str


class MessageOut(BaseModel):
    id: str
    direction: Direction
    author: Author
    author_id: str | None
    author_name: str | None
    visibility: Visibility
    text: str | None
    payload: str | None
    quick_replies: list[QuickReplyOut]
    edits: list[EditOut]
    reaction: str | None
    attachments: list[AttachmentOut]
    status: MessageStatus
    failure_reason: str | None
    facebook_message_id: str | None
    created_at: ApiTime


def conversation_out(services: Services, conversation: Conversation | ConversationEntry,
                     agent_id: str | None = None,
                     contact: Contact | None = None) -> ConversationOut:
    """A conversation, or its index row: both carry what the answer shows. ``agent_id``: who
    asks (their ``role``); ``contact``: the customer's profile, for the picture and locale."""
    window = messaging_window(conversation.last_customer_message_at,
                              conversation.human_agent_tag, services.clock.now())
    names = Names(services.tables)
    participants = [] if conversation.agent_id is None else [Participant(
        agent_id=conversation.agent_id, name=names.agent(conversation.agent_id),
        role="owner", since=conversation.assigned_at)]
    participants += [Participant(agent_id=consultant, name=names.agent(consultant),
                                 role="consultant", since=since)
                     for consultant, since in conversation.consultants.items()]
    return ConversationOut(
        **conversation.model_dump(include=set(ConversationOut.model_fields) - {
            "id", "customer", "window", "participants", "role", "page_name", "queue_name"}),
        id=conversation.id, role=None if agent_id is None else role_of(conversation, agent_id),
        participants=participants, page_name=names.page(conversation.page_id),
        queue_name=names.queue(conversation.queue_id),
        customer=Customer(name=conversation.customer_name,
                          name_missing_reason=conversation.name_missing_reason,
                          contact_id=conversation.contact_id,
                          profile_pic=None if contact is None else contact.profile_pic,
                          locale=None if contact is None else contact.locale),
        window=Window(kind=window.kind, ends_at=window.ends_at))


def attachment_url(message: Message, attachment: AttachmentInfo) -> str | None:
    """An agent's file is found by its id; a customer's through its conversation."""
    if attachment.status != "stored":
        return None
    path = f"/api/agent/attachments/{quote(attachment.id, safe='')}"
    if message.direction == "out":
        return path
    return f"{path}?conversation_id={quote(message.conversation_id, safe='')}"


def message_out(services: Services, message: Message) -> MessageOut:
    author_name = (Names(services.tables).agent(message.agent_id)
                   if message.author == "agent" else None)
    return MessageOut.model_validate(message.model_dump(exclude={"attachments", "edits"}) | {
        "text": full_text(services.blobs, message),
        "attachments": [a.model_dump() | {"url": attachment_url(message, a)}
                        for a in message.attachments],
        "edits": [e.model_dump() for e in message.edits],
        "author_id": message.agent_id, "author_name": author_name})


def visible_to(conversation: Conversation, agent_id: str) -> bool:
    return role_of(conversation, agent_id) is not None


def visible_conversation(services: Services, conversation_id: str, agent_id: str) -> Conversation:
    return participating(services.tables, conversation_id, agent_id)


@contextmanager
def refusals(conversation_id: str) -> Iterator[None]:
    """An id the storage refuses as a key (a control character, too long) was never issued:
    404, like an unknown one. Other refusals reach the API's handler as they are."""
    try:
        yield
    except InvalidKey:
        raise Missing.of(f"conversation {conversation_id}") from None


def conversation_answer(services: Services, conversation: Conversation,
                        agent_id: str | None = None) -> ConversationOut:
    """One conversation, with its customer's profile (picture, locale)."""
    contact = ConversationTables(services.tables).contacts.get(conversation.page_id,
                                                              conversation.psid)
    if contact is not None and conversation.customer_name is None:
        # Stored before names were copied onto it.
        conversation = conversation.model_copy(update={
            "customer_name": contact.name, "name_missing_reason": contact.name_missing_reason})
    return conversation_out(services, conversation, agent_id, contact)


@router.get("", response_model=ListPage[ConversationOut])
def list_conversations(
    agent_id: AgentIdDep, services: ServicesDep, state: State | None = None,
    since: str | None = None, cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ListPage[ConversationOut]:
    """Newest activity first. Answered from the agent's index rows (their partition and the
    pick offers of their queues: live work only); with ``since``, the storage query itself
    filters on the change time, so nothing is read when nothing changed, and what left the
    agent since (transferred, reassigned, a consultation ended) comes too, once, with
    ``role: null``."""
    agent = get_agent(services.tables, agent_id)
    changed_after = None if since is None else parse_change_cursor(since)
    indexes = ConversationIndexes(services.tables)
    rows = indexes.of_agent(agent_id, [] if agent is None else agent.queue_ids, changed_after)
    if changed_after is None:
        indexes.forget_departures(agent_id, services.clock.now() - DEPARTURES_KEPT)
    else:  # what left the agent since (``role`` null: the console drops it)
        held = {row.conversation_id for row in rows}
        rows += [row for row in indexes.left_agent(agent_id, changed_after)
                 if row.conversation_id not in held]
    mine = [row for row in rows if state is None or row.state == state]
    page = paginate(mine, changed_at=lambda row: row.updated_at, cursor=cursor, since=since,
                    limit=limit)
    return ListPage[ConversationOut](
        items=[conversation_out(services, row, agent_id) for row in page.items],
        next=page.next, since=page.since)


@router.get("/{conversation_id}", response_model=ConversationOut)
def get_conversation(conversation_id: str, agent_id: AgentIdDep,
                     services: ServicesDep) -> ConversationOut:
    """One conversation the agent is offered, holds or consults on, with the customer's
    picture and locale."""
    conversation = visible_conversation(services, conversation_id, agent_id)
    return conversation_answer(services, conversation, agent_id)


@router.post("/{conversation_id}/accept",
             name="accept_conversation", response_model=ConversationOut,
             responses=documented({409: "already_assigned, offer_expired, capacity_exceeded"}))
def accept(conversation_id: str, agent_id: AgentIdDep,
           services: ServicesDep) -> ConversationOut:
    agent = get_agent(services.tables, agent_id)
    if agent is None:
        raise Missing.of(f"conversation {conversation_id}")
    distributor = Distributor(services)
    with refusals(conversation_id):
        conversation = distributor.accept(conversation_id, agent_id, agent)
    workstream = distributor.workstream(conversation.workstream_id)
    if workstream is not None:
        trigger = accepted_trigger(conversation)
        send_automated(services, conversation, workstream, trigger,
                       occasion=f"{trigger}-{agent_id}-{conversation.offers_made}",
                       values={"AgentName": agent.name})
    return conversation_answer(services, conversation, agent_id)


class NotSentOut(BaseModel):
    trigger: str
    reason: str
    message: str


class ClosedOut(ConversationOut):
    # The closing messages (goodbye, survey) Facebook refuses now, and why.
    not_sent: list[NotSentOut]


@router.post("/{conversation_id}/close", name="close_conversation", response_model=ClosedOut,
             responses=documented({409: "conversation_changed: try again"}))
def close(conversation_id: str, agent_id: AgentIdDep, services: ServicesDep) -> ClosedOut:
    """To ``wrap_up`` (for the workstream's ``wrap_up.minutes``; 0: closed at once); a second
    close ends wrap-up. Only the agent who holds the conversation may close it. ``not_sent``
    names the closing messages Facebook refuses (after the messaging window: the goodbye and
    the survey), with the reason."""
    with refusals(conversation_id):
        closed = agent_closes(services, conversation_id, agent_id)
    return closed_answer(services, closed, agent_id)


def closed_answer(services: Services, closed: Closed, agent_id: str | None = None
                  ) -> ClosedOut:
    """A close's answer (an agent's or a supervisor's): the conversation and ``not_sent``."""
    answer = conversation_answer(services, closed.conversation, agent_id)
    return ClosedOut(**answer.model_dump(), not_sent=[
        NotSentOut(trigger=n.trigger, reason=n.reason, message=n.message)
        for n in closed.not_sent])


@router.get("/{conversation_id}/messages", response_model=ListPage[MessageOut])
def list_messages(
    conversation_id: str, agent_id: AgentIdDep, services: ServicesDep,
    since: str | None = None, cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ListPage[MessageOut]:
    """Oldest first; with ``since``, the messages new or changed (status, reaction, edit)
    after it. Reading them clears the conversation's unread count for its agent."""
    conversation = visible_conversation(services, conversation_id, agent_id)
    answer = messages_page(services, conversation, since=since, cursor=cursor, limit=limit)
    if conversation.agent_id == agent_id and conversation.unread:
        ConversationStore.of(services).touch(
            conversation.id, lambda c: c.model_copy(
                update={"unread": 0, "updated_at": services.clock.now()}))
        # The customer sees "seen" once their agent has read what they wrote, not on each poll.
        send_action(services, conversation, "mark_seen")
    return answer


def messages_page(services: Services, conversation: Conversation, *, since: str | None,
                  cursor: str | None, limit: int) -> ListPage[MessageOut]:
    """The conversation's messages, notes included, oldest first; with ``since``, those new
    or changed after it."""
    history = ConversationTables(services.tables).history(conversation.id)
    changed = history
    latest = max((m.changed_at for m in history), default=None)
    if since is not None:
        after = parse_change_cursor(since)
        changed = [m for m in history if m.changed_at > after]
        latest = after if latest is None else max(latest, after)
    # Ordered by creation even when a change brings an old message back.
    page = paginate(changed, changed_at=lambda m: m.created_at, cursor=cursor, limit=limit,
                    oldest_first=True)
    return ListPage[MessageOut](items=[message_out(services, m) for m in page.items],
                                next=page.next, since=change_cursor(latest))

