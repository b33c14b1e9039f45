"""The router's side of Messenger's handover protocol, for a page whose workstream has
``handover`` (``handover_decisions`` decides, this reads and writes):

- while another app controls a thread, the customer's events arrive as ``standby``: kept (in
  the open conversation, else in the customer's standby history), never routed;
- ``pass_thread_control`` to our app: the thread is ours. The router opens (or continues) the
  customer's conversation and routes it; what the customer wrote while the other app held the
  thread (the last week of the standby history, at most ``STANDBY_KEPT`` messages) is copied
  into it, so the agent reads what the bot heard, and its latest message opens the messaging
  window, as Facebook counts it for the page;
- ``take_thread_control`` from our app: the open conversation gets a line in its transcript;
  it closes if no agent has started on it, and stays with its agent otherwise (replies fail
  with ``thread_owned_by_another_app`` until the thread comes back);
- ``request_thread_control`` to us as primary receiver: passed at once when the customer has
  no open conversation; otherwise the agent sees the request and passes the thread when done
  (``POST /api/agent/conversations/{id}/pass-thread``).

Every step is idempotent (the event id is applied once; lines carry the event's identity).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

from messenger_channel.conversations.closing import close_conversation
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.handover_decisions import after_take
from messenger_channel.conversations.models import (
    APPLIED_EVENTS_KEPT,
    Contact,
    Conversation,
    ConversationTables,
    Message,
    MessageIndex,
    message_index_key,
)
from messenger_channel.conversations.send_rules import page_token
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.conversations.thread_control import our_app_id, system_line
from messenger_channel.facebook.graph_errors import GraphError
from messenger_channel.facebook.webhook_events import InboundEvent
from messenger_channel.services import Services
from messenger_channel.storage.errors import AlreadyExists
from messenger_channel.storage.tables import CreateOp, TransactionOp
from messenger_channel.workforce.handover import PAGE_INBOX_APP_ID, HandoverSettings
from messenger_channel.workforce.workstreams import Workstream

log = logging.getLogger(__name__)

STANDBY_KEPT = 50
# Facebook's longest messaging window (the HUMAN_AGENT tag): older standby messages open none.
STANDBY_LOOKBACK = timedelta(days=7)
_OPEN = ("bot", "survey", "waiting", "offered", "active", "wrap_up")


def standby_partition(contact: Contact) -> str:
    """Where a customer's standby events are kept while no conversation of theirs is open."""
    return f"standby-{contact.id}"


def recent_standby(tables: ConversationTables, contact: Contact, since: datetime) -> list[Message]:
    """The customer's standby history from ``since``, oldest first (one range read)."""
    low = f"m-{int(since.timestamp() * 1000):013d}"
    return tables.messages.query(
        "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
        {"pk": standby_partition(contact), "lo": low, "hi": "m."}, page_size=1000).items


def latest_standby_message_at(services: Services, contact: Contact) -> datetime | None:
    """When the customer last wrote while another app held the thread (within a week)."""
    since = services.clock.now() - STANDBY_LOOKBACK
    tables = ConversationTables(services.tables)
    times = [m.created_at for m in recent_standby(tables, contact, since) if m.direction == "in"]
    return max(times, default=None)


def note_thread_owner(services: Services, conversation: Conversation,
                      workstream: Workstream | None) -> Conversation:
    """A customer's event came as ``messaging``: Facebook gives those to the thread's owner,
    so the thread is ours (recorded once, for the pass back at the end)."""
    if workstream is None or workstream.handover is None or conversation.thread_owner_app_id:
        return conversation
    ours = our_app_id(services, conversation.page_id)
    if ours is None:
        return conversation
    return ConversationStore.of(services).touch(conversation.id, lambda c: None if (
        c.thread_owner_app_id is not None) else c.model_copy(update={"thread_owner_app_id": ours}))


def thread_passed(services: Services, conversation: Conversation, contact: Contact,
                  event: InboundEvent, ours: str) -> Conversation:
    """The thread was passed to us: the conversation (just opened, or open) takes the standby
    history, the window it opened, the ownership and a line saying where it came from."""
    data = event.handover
    assert data is not None
    tables = ConversationTables(services.tables)
    now = services.clock.now()
    previous = (None if contact.last_conversation_id in (None, conversation.id)
                else tables.conversation(contact.last_conversation_id or ""))
    since = now - STANDBY_LOOKBACK
    if previous is not None:
        since = max(since, previous.closed_at or previous.created_at)
    copied = recent_standby(tables, contact, since)[-STANDBY_KEPT:]
    for message in copied:
        _copy(tables, conversation.id, message)
    customer = [m for m in copied if m.direction == "in"]
    origin = data.previous_owner_app_id
    line = "The Messenger thread was passed to this channel" + (
        f" by {_app_name(origin)}" if origin else "")
    system_line(services, conversation.id,
                line + (f": {data.metadata}" if data.metadata else "."), event.event_id)

    def mutate(c: Conversation) -> Conversation | None:
        if event.event_id in c.applied_events:
            return None
        update: dict[str, object] = {
            "applied_events": [*c.applied_events, event.event_id][-APPLIED_EVENTS_KEPT:],
            "thread_owner_app_id": ours, "last_activity_at": now, "updated_at": now}
        if customer:
            latest = max(m.created_at for m in customer)
            known = c.last_customer_message_at
            update |= {"last_customer_message_at": latest if known is None else max(known, latest),
                       "unread": c.unread + len(customer),
                       "last_message_preview": customer[-1].text or c.last_message_preview}
        return c.model_copy(update=update)

    log.info("thread passed to us", extra={"conversation_id": conversation.id,
                                            "page_id": conversation.page_id,
                                            "standby_copied": len(copied)})
    return ConversationStore.of(services).touch(conversation.id, mutate)


def thread_taken(services: Services, contact: Contact, event: InboundEvent) -> None:
    """Another app took the thread (or we passed it on): the open conversation learns it; it
    closes if nobody works on it yet (``handover_decisions.after_take``)."""
    data = event.handover
    conversation = (None if contact.open_conversation_id is None
                    else ConversationTables(services.tables).conversation(
                        contact.open_conversation_id))
    if data is None or conversation is None or conversation.state not in _OPEN:
        return
    decision = after_take(conversation.state)
    then = ("the conversation is closed: the customer is with that app now" if decision == "close"
            else "replies fail until the thread is passed back")
    system_line(services, conversation.id,
                f"{_app_name(data.new_owner_app_id) if data.new_owner_app_id else 'Another app'}"
                " took the customer's Messenger thread"
                + (f" ({data.metadata})" if data.metadata else "") + f"; {then}.",
                event.event_id)
    now = services.clock.now()
    updated = ConversationStore.of(services).touch(conversation.id, lambda c: None if (
        event.event_id in c.applied_events) else c.model_copy(update={
            "applied_events": [*c.applied_events, event.event_id][-APPLIED_EVENTS_KEPT:],
            "thread_owner_app_id": data.new_owner_app_id, "updated_at": now}))
    if decision == "close" and updated.state in _OPEN:
        distributor = Distributor(services)
        if close_conversation(services, distributor, updated):
            distributor.sweep()  # an offer it held goes to what waits


def thread_requested(services: Services, contact: Contact, event: InboundEvent,
                     handover: HandoverSettings) -> None:
    """Another app asks for the thread. As primary receiver: passed at once if the customer
    has no open conversation, else shown to the agent, who passes it when done."""
    data = event.handover
    requester = None if data is None else data.requested_owner_app_id
    if handover.role != "primary" or data is None or requester is None:
        return
    tables = ConversationTables(services.tables)
    conversation = (None if contact.open_conversation_id is None
                    else tables.conversation(contact.open_conversation_id))
    if conversation is not None and conversation.state in _OPEN:
        system_line(services, conversation.id,
                    f"{_app_name(requester)} asks for the customer's Messenger thread"
                    + (f" ({data.metadata})" if data.metadata else "")
                    + "; pass it when you are done.", event.event_id)
        return
    from_page = page_token(services, event.page_id)
    if from_page is None:
        log.warning("thread requested, but the page's token cannot be used",
                    extra={"page_id": event.page_id})
        return
    try:
        services.graph.pass_thread_control(event.page_id, from_page, contact.psid, requester,
                                           "requested")
    except GraphError as error:
        if error.retryable:
            raise  # the queue delivers the event again later
        log.warning("a requested thread could not be passed", extra={
            "page_id": event.page_id, "graph_code": error.code, "graph_subcode": error.subcode})


def _copy(tables: ConversationTables, conversation_id: str, message: Message) -> None:
    """A standby row into the conversation, under the same key (a second copy is refused)."""
    row = message.model_copy(update={"conversation_id": conversation_id})
    operations: list[TransactionOp] = [CreateOp(row)]
    if message.facebook_message_id is not None:
        operations.append(CreateOp(MessageIndex(
            conversation_id=conversation_id,
            mid_hash=message_index_key(message.facebook_message_id), message_id=row.id)))
    with contextlib.suppress(AlreadyExists):
        tables.messages.transaction(operations)


def _app_name(app_id: str | None) -> str:
    return "the Page Inbox" if app_id == PAGE_INBOX_APP_ID else f"app {app_id}"
