"""What a bot may do through ``/api/bot`` with its workstream's key: write to a customer whose
conversation is with it, and hand that conversation to the agents.

A conversation of another workstream is answered as if it did not exist (404): a bot learns
nothing about other workstreams' customers. One no longer with the bot (escalated, assigned,
closed) → 409 ``not_with_bot``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from messenger_channel.conversations.bot_answers import BotMessage
from messenger_channel.conversations.bot_escalation import leave_bot, not_with_bot, route_escalated
from messenger_channel.conversations.bot_replies import send_bot_messages
from messenger_channel.conversations.models import Conversation, Message
from messenger_channel.conversations.send_rules import check_can_send
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.errors import Conflict, Missing
from messenger_channel.routing.rules import Scalar
from messenger_channel.services import Services
from messenger_channel.storage.errors import InvalidKey
from messenger_channel.workforce.workstreams import Workstream, get_workstream


def bots_conversation(services: Services, workstream_id: str,
                      conversation_id: str) -> Conversation:
    """The conversation, if it belongs to the bot's workstream and is with the bot."""
    try:
        conversation = ConversationStore.of(services).get(conversation_id)
    except InvalidKey:  # an id we never issued
        conversation = None
    if conversation is None or conversation.workstream_id != workstream_id:
        raise Missing.of(f"conversation {conversation_id}")
    if conversation.state != "bot":
        raise not_with_bot(conversation)
    return conversation


def bot_writes(services: Services, workstream_id: str, conversation_id: str,
               message: BotMessage) -> list[Message]:
    """The bot's message, queued; 409 when Facebook would refuse it now (the window)."""
    conversation = bots_conversation(services, workstream_id, conversation_id)
    check_can_send(services, conversation, human=False)
    # Each call is its own occasion: a bot that repeats itself is heard twice.
    return send_bot_messages(services, conversation, [message],
                             occasion=f"api-{secrets.token_hex(12)}")


def bot_escalates(services: Services, workstream_id: str, conversation_id: str,
                  attributes: Mapping[str, Scalar]) -> Conversation:
    """To ``waiting`` with the bot's attributes, then routed as a new conversation."""
    conversation = bots_conversation(services, workstream_id, conversation_id)
    workstream = _workstream(services, workstream_id)
    after, _ = leave_bot(services, conversation.id, attributes, escalate=True,
                         why="the bot asked for an agent")
    return route_escalated(services, after, workstream, services.clock.now())


def _workstream(services: Services, workstream_id: str) -> Workstream:
    workstream = get_workstream(services.tables, workstream_id)
    if workstream is None:
        raise Conflict("no_bot", f"workstream {workstream_id} is gone")
    return workstream
