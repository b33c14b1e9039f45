"""An agent's reply: checked against Facebook's rules at once, then written and queued.

A reply that Facebook would refuse is refused here with the reason (409), so the agent knows
before anything is queued; the sender checks again when it sends, because time passes and the
page's token may break meanwhile.

Messenger takes text up to 2,000 characters and text or one attachment per message: a reply
becomes several messages, in order — its text split at paragraph, else sentence, else word
boundaries (a single word longer than the limit is cut), then one message per attachment.
Each is a row of the history with its own status; the answer gives the first one's id.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from messenger_channel.conversations.agent_files import AgentFile, agent_files, find_file
from messenger_channel.conversations.indexes import preview_of
from messenger_channel.conversations.models import Conversation, Message
from messenger_channel.conversations.outgoing import send_in_conversation
from messenger_channel.conversations.participants import MANAGES, participating
from messenger_channel.conversations.send_rules import check_can_send, refuse_if_page_removed
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.errors import Conflict, Invalid, Missing
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.queue_messages import OutboundMessage, QuickReply
from messenger_channel.services import Services
from messenger_channel.workforce.agents import get_agent
from messenger_channel.workforce.canned_responses import (
    canned_for_agent,
    fill_placeholders,
    first_name,
)
from messenger_channel.workforce.workstreams import Workstream, get_workstream

TEXT_LIMIT = 2000
MAX_ATTACHMENTS = 10

_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCES = re.compile(r"(?<=[.!?…。])\s+")
_WORDS = re.compile(r"\s+")


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at the coarsest boundary that
    fits: paragraphs, then sentences, then words, then anywhere."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    return _pack(text, limit, (_PARAGRAPHS, "\n\n"), (_SENTENCES, " "), (_WORDS, " "))


def _pack(text: str, limit: int, *levels: tuple[re.Pattern[str], str]) -> list[str]:
    if len(text) <= limit:
        return [text]
    if not levels:
        return [text[i:i + limit] for i in range(0, len(text), limit)]
    (pattern, joiner), finer = levels[0], levels[1:]
    pieces: list[str] = []
    current = ""
    for part in (p.strip() for p in pattern.split(text)):
        if not part:
            continue
        joined = f"{current}{joiner}{part}" if current else part
        if len(joined) <= limit:
            current = joined
            continue
        if current:
            pieces.append(current)
        if len(part) <= limit:
            current = part
        else:  # this part alone is too long: cut it at the next finer boundary
            *whole, current = _pack(part, limit, *finer)
            pieces.extend(whole)
    if current:
        pieces.append(current)
    return pieces


@dataclass(frozen=True)
class ReplyContext:
    conversation: Conversation
    workstream: Workstream | None


def held_conversation(services: Services, conversation_id: str, agent_id: str) -> ReplyContext:
    """The conversation the agent owns, with its workstream; ``Missing`` when the agent takes
    no part in it (an id that is not theirs reveals nothing), ``Forbidden`` for a consultant
    or an agent it is only offered to: they never write to the customer."""
    conversation = participating(services.tables, conversation_id, agent_id, MANAGES,
                                 "write to the customer")
    workstream = (None if conversation.workstream_id is None
                  else get_workstream(services.tables, conversation.workstream_id))
    return ReplyContext(conversation, workstream)


def agent_reply(services: Services, conversation_id: str, agent_id: str, text: str | None,
                attachment_ids: list[str], *, quick_replies: list[QuickReply] | None = None,
                canned_response_id: str | None = None) -> list[Message]:
    """Queue the agent's reply; the history rows made, in order. Raises a ``Refusal``.

    A canned response gives the text (unless ``text`` is given: the agent's edit of it) and
    its quick replies (unless ``quick_replies`` are); the placeholders are filled now, from
    the customer, the agent and the page. Quick replies go under the last piece of text."""
    context = held_conversation(services, conversation_id, agent_id)
    conversation = context.conversation
    buttons = list(quick_replies or [])
    if canned_response_id is not None:
        agent = get_agent(services.tables, agent_id)
        if agent is None:
            raise Missing.of(f"canned response {canned_response_id}")
        canned = canned_for_agent(services.tables, agent, canned_response_id)
        # The agent may have edited the canned text: its placeholders are filled all the same.
        text = fill_placeholders(text or canned.text,
                                 _placeholder_values(services, conversation, agent.name))
        if not buttons:
            buttons = [QuickReply(title=r.title, payload=r.payload)
                       for r in canned.quick_replies or []]
    parts = split_text(text or "")
    if buttons and not parts:
        raise Invalid([("quick_replies", "quick replies go with text")])
    if not parts and not attachment_ids:
        raise Invalid([("text", "a reply needs text or attachment_ids")])
    if len(attachment_ids) > MAX_ATTACHMENTS:
        raise Invalid(f"a reply carries at most {MAX_ATTACHMENTS} attachments")
    refuse_if_page_removed(services, conversation.page_id)  # which closed it: say why
    if conversation.state != "active":
        raise Conflict("conversation_closed",
                       f"the conversation is {conversation.state}; replies need it active")
    if attachment_ids and (context.workstream is None
                           or not context.workstream.agent_attachments):
        raise Conflict("attachments_disabled",
                       "the workstream does not allow agents to send attachments")
    files = [_own_file(services, attachment_id, agent_id, conversation.id)
             for attachment_id in attachment_ids]
    check_can_send(services, conversation, human=True)
    reply_id = f"ag_{uuid.uuid4().hex}"
    now = services.clock.now()
    made: list[Message] = []
    pieces: list[tuple[str | None, AgentFile | None]] = [(part, None) for part in parts]
    pieces += [(None, record) for record in files]
    for index, (part, record) in enumerate(pieces):
        if record is not None:
            agent_files(services).update(record.id, "file", lambda f: f.model_copy(
                update={"conversation_id": conversation.id}))
        outbound = OutboundMessage(
            message_id=reply_id if index == 0 else f"{reply_id}-{index + 1}",
            conversation_id=conversation.id, page_id=conversation.page_id,
            psid=conversation.psid, author="agent", agent_id=agent_id, text=part,
            attachment_id=None if record is None else record.id,
            quick_replies=buttons if index == len(parts) - 1 else [],
            # A millisecond apart: the history sorts by time, and the parts read in order.
            created_at=now + timedelta(milliseconds=index))
        made.append(send_in_conversation(services, conversation, outbound,
                                         None if record is None else record.info()))
    preview = preview_of(text, len(files))
    ConversationStore.of(services).touch(
        conversation.id, lambda c: c.model_copy(update={
            "last_message_preview": preview, "last_agent_message_at": now,
            "updated_at": now}))
    return made


def _placeholder_values(services: Services, conversation: Conversation,
                        agent_name: str) -> dict[str, str | None]:
    page = ChannelTables(services.tables).page(conversation.page_id)
    # Without a profile the stored name is made up ("Customer 1234"): better no name.
    name = None if conversation.name_missing_reason else conversation.customer_name
    return {"customer.name": name, "customer.first_name": first_name(name),
            "agent.name": agent_name, "page.name": None if page is None else page.name}


def _own_file(services: Services, attachment_id: str, agent_id: str,
              conversation_id: str) -> AgentFile:
    record = find_file(services, attachment_id)
    if record is None or record.uploaded_by != agent_id or record.conversation_id not in (
            None, conversation_id):
        raise Invalid(f"attachment {attachment_id} is not a file you uploaded")
    return record
