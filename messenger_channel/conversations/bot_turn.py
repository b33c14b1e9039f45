"""The router's step for a customer's message in a conversation with the bot (state ``bot``).

    take_bot_turn(services, workstream, conversation, contact, event, at)

The event is already stored in the conversation's history and counted (``inbound``); then:

1. the ``greeting``, when this event opened the conversation and the workstream has one;
2. unless the bot's answer to this event was applied already (``bot_events``: a redelivered
   queue message does not ask the bot twice), the event is POSTed to the bot, signed, within
   ``timeout_seconds`` (``bot_client``)::

       {"conversation_id", "page_id", "psid",
        "customer": {"name", "locale", "timezone"},
        "event": {"id", "type": "message"|"postback", "mid", "text", "payload",
                  "attachments": [{"type", "url"}], "timestamp"}}

3. the answer's messages are sent (author ``bot``, ids derived from the event: sent once);
4. its attributes are merged and the event noted as answered, in one write; with
   ``escalate`` — or a failure (timeout, unreachable, 5xx, not JSON, wrong shape) while
   ``escalate_on_error`` holds — the conversation goes to ``waiting`` and is routed
   (``bot_escalation``). A failure is counted for the health route (``bot_health``).

The router's session (one customer's events one at a time, in order) keeps the bot's view
in order too. At least once: a crash between the bot's answer and step 4 asks again; the
event's ``id`` lets a bot notice.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from messenger_channel.conversations.automated import send_automated
from messenger_channel.conversations.bot_answers import BotAnswer, BotFailure
from messenger_channel.conversations.bot_client import ask_bot
from messenger_channel.conversations.bot_escalation import leave_bot, route_escalated
from messenger_channel.conversations.bot_health import record_bot_failure
from messenger_channel.conversations.bot_replies import send_bot_messages
from messenger_channel.conversations.models import Contact, Conversation
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.errors import Conflict
from messenger_channel.facebook.webhook_events import InboundEvent
from messenger_channel.secrets import SecretNotFound
from messenger_channel.services import Services
from messenger_channel.workforce.workstreams import Workstream

log = logging.getLogger(__name__)


def bot_request_body(conversation: Conversation, contact: Contact, event: InboundEvent,
                     at: datetime) -> bytes:
    """What the bot receives, as the exact bytes that are signed (ASCII JSON)."""
    message, postback = event.message, event.postback
    reply = None if message is None else message.quick_reply
    payload = (reply.payload if reply is not None
               else None if postback is None else postback.payload)
    body: dict[str, Any] = {
        "conversation_id": conversation.id, "page_id": conversation.page_id,
        "psid": conversation.psid,
        "customer": {"name": None if contact.name_missing_reason else contact.name,
                     "locale": contact.locale, "timezone": contact.timezone},
        "event": {
            "id": event.event_id, "type": "postback" if postback is not None else "message",
            "mid": message.mid if message is not None else (postback.mid if postback else None),
            "text": message.text if message is not None else (
                postback.title if postback else None),
            "payload": payload,
            "attachments": [] if message is None else [
                {"type": a.type, "url": a.url} for a in message.attachments],
            "timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        },
    }
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def take_bot_turn(services: Services, workstream: Workstream, conversation: Conversation,
                  contact: Contact, event: InboundEvent, at: datetime) -> Conversation:
    context = {"conversation_id": conversation.id, "page_id": conversation.page_id,
               "event_id": event.event_id, "workstream_id": workstream.id}
    if conversation.opened_by == event.event_id:
        send_automated(services, conversation, workstream, "greeting")
    if event.event_id in conversation.bot_events:
        return _routed(services, conversation, workstream, at)  # a redelivery: finish routing
    outcome = _ask(services, workstream, conversation, contact, event, at)
    if isinstance(outcome, BotFailure):
        record_bot_failure(services, workstream.id, outcome.reason)
        log.warning("bot failed: %s", outcome.detail, extra={**context,
                                                             "bot_failure": outcome.reason})
        bot = workstream.bot
        escalate = bot is None or bot.escalate_on_error
        answer, why = BotAnswer(escalate=escalate), f"the bot failed: {outcome.reason}"
    else:
        answer, why = outcome, "the bot asked for an agent"
        send_bot_messages(services, conversation, answer.messages, occasion=event.event_id)
    try:
        after, _ = leave_bot(services, conversation.id, answer.attributes,
                             escalate=answer.escalate, event_id=event.event_id, why=why)
    except Conflict:  # escalated or assigned meanwhile (the API, a supervisor): theirs now
        log.info("the bot answered a conversation no longer with it", extra=context)
        return ConversationStore.of(services).get(conversation.id) or conversation
    return _routed(services, after, workstream, at)


def _ask(services: Services, workstream: Workstream, conversation: Conversation,
         contact: Contact, event: InboundEvent, at: datetime) -> BotAnswer | BotFailure:
    bot = workstream.bot
    if bot is None:  # the workstream lost its bot: the customer goes to the agents
        return BotFailure("no_bot", "the workstream has no bot any more")
    try:
        secret = services.secrets.get(bot.secret_ref)
    except SecretNotFound:
        return BotFailure("no_secret", "the bot's secret is missing from the secret store")
    # Other secret store errors propagate: the queue redelivers when the store is back.
    body = bot_request_body(conversation, contact, event, at)
    return ask_bot(bot.url, secret, body, bot.timeout_seconds)


def _routed(services: Services, conversation: Conversation, workstream: Workstream,
            at: datetime) -> Conversation:
    if conversation.state == "waiting":
        return route_escalated(services, conversation, workstream, at)
    return conversation
