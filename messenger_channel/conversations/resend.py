"""An agent's retry of a message that failed: the same history row queued again.

Before anything is queued, the rules are checked again (the conversation active, the page's
token, the messaging window, attachments allowed): a failure that still holds is refused
with its reason (409) and the row stays ``failed``. The row goes from ``failed`` to
``queued`` under its ETag, so two retries at once queue it once; the queue message is a new
one (``resend`` in its id: the first one's id may still be in the duplicate-detection
window) carrying the row's own content, and the sender sends it as any other.
"""

from __future__ import annotations

from messenger_channel.bus.port import QueueUnavailable
from messenger_channel.conversations.models import Message
from messenger_channel.conversations.participants import MANAGES, participating
from messenger_channel.conversations.send_rules import check_can_send, refuse_if_page_removed
from messenger_channel.conversations.store import conversation_tables
from messenger_channel.errors import Conflict, Missing
from messenger_channel.queue_messages import OutboundMessage, enqueue_outbound
from messenger_channel.services import Services
from messenger_channel.storage.errors import InvalidKey
from messenger_channel.workforce.workstreams import get_workstream


def resend(services: Services, conversation_id: str, agent_id: str,
           message_id: str) -> Message:
    conversation = participating(services.tables, conversation_id, agent_id, MANAGES,
                                 "send to the customer")
    tables = conversation_tables(services)
    try:
        row = tables.messages.get(conversation.id, message_id)
    except InvalidKey:
        row = None
    if row is None or row.visibility != "customer" or row.direction != "out" or (
            row.author not in ("agent", "automated")):
        raise Missing.of(f"message {message_id}")
    if row.status != "failed" or row.send_id is None:
        raise Conflict("not_failed", f"the message is {row.status}; only failed ones are "
                                     "sent again")
    refuse_if_page_removed(services, conversation.page_id)  # which closed it: say why
    if conversation.state != "active":
        raise Conflict("conversation_closed",
                       f"the conversation is {conversation.state}; replies need it active")
    if row.attachments:
        workstream = (None if conversation.workstream_id is None
                      else get_workstream(services.tables, conversation.workstream_id))
        if workstream is None or not workstream.agent_attachments:
            raise Conflict("attachments_disabled",
                           "the workstream does not allow agents to send attachments")
    check_can_send(services, conversation, human=row.author == "agent")
    now = services.clock.now()
    failed_with = row.failure_reason

    def requeue(current: Message) -> Message:
        if current.status != "failed":
            raise Conflict("not_failed", f"the message is {current.status} already")
        return current.model_copy(update={
            "status": "queued", "failure_reason": None, "enqueued": False,
            "resends": current.resends + 1, "updated_at": now})

    queued = tables.messages.update(conversation.id, row.id, requeue)
    outbound = OutboundMessage(
        message_id=queued.send_id or "", conversation_id=conversation.id,
        page_id=conversation.page_id, psid=conversation.psid,
        author="agent" if queued.author == "agent" else "automated",
        agent_id=queued.agent_id, trigger=queued.trigger, text=queued.text,
        attachment_id=queued.attachments[0].id if queued.attachments else None,
        quick_replies=queued.quick_replies, created_at=queued.created_at,
        resend=queued.resends)
    try:
        enqueue_outbound(services.queue, outbound)
    except QueueUnavailable:
        tables.messages.update(conversation.id, row.id, lambda m: m.model_copy(update={
            "status": "failed", "failure_reason": failed_with, "updated_at": now})
            if m.status == "queued" and not m.enqueued else None)
        raise
    return tables.messages.update(conversation.id, row.id,
                                  lambda m: m.model_copy(update={"enqueued": True}))
