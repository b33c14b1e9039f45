"""Automated messages of a workstream: the text for a trigger in the customer's language,
with its placeholders filled, sent once per occasion.

Locale: the contact's (from the profile), else a text in the same language (``fr`` for
``fr-CA``), else the workstream's language; no text for the trigger → nothing is sent.
Placeholders: ``{AgentName}``, ``{QueueName}``, ``{QueuePosition}``, and ``{$name$}`` for a
routing attribute or a survey answer of that name (empty when unknown).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from messenger_channel.conversations.models import Conversation, ConversationTables, Message
from messenger_channel.conversations.outgoing import automated_message_id, send_in_conversation
from messenger_channel.queue_messages import OutboundMessage, QuickReply, quick_replies_of
from messenger_channel.services import Services
from messenger_channel.workforce.workstreams import Workstream

_PLACEHOLDER = re.compile(r"\{(\$[^{}$\s]+\$|AgentName|QueueName|QueuePosition)\}")


def pick_text(texts: Mapping[str, str], locale: str, fallback: str) -> str | None:
    by_case = {key.lower(): text for key, text in texts.items()}
    for wanted in (locale.lower(), fallback.lower()):
        if wanted in by_case:
            return by_case[wanted]
        language = wanted.split("-")[0]
        for key, text in by_case.items():
            if key.split("-")[0] == language:
                return text
    return None


def fill(text: str, values: Mapping[str, str], variables: Mapping[str, object]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("$"):
            found = variables.get(name.strip("$"))
            return "" if found is None else str(found)
        return values.get(name, "")

    return _PLACEHOLDER.sub(value, text)


def send_automated(services: Services, conversation: Conversation, workstream: Workstream,
                   trigger: str, *, occasion: str | None = None,
                   values: Mapping[str, str] | None = None,
                   quick_replies: Sequence[str | QuickReply] | None = None,
                   text: str | None = None) -> Message | None:
    """Send the workstream's text for ``trigger`` (or ``text``) once per ``occasion``
    (default: once per conversation). None when the workstream has no text for it."""
    if text is None:
        texts = workstream.automated_messages.get(trigger)  # type: ignore[call-overload]
        chosen = pick_text(texts, conversation.locale, workstream.language) if texts else None
        if chosen is None:
            return None
        variables = {**conversation.survey_answers, **conversation.attributes}
        text = fill(chosen, values or {}, variables)
    outbound = OutboundMessage(
        message_id=automated_message_id(conversation.id, occasion or trigger),
        conversation_id=conversation.id, page_id=conversation.page_id, psid=conversation.psid,
        author="automated", trigger=trigger, text=text[:2000],
        quick_replies=quick_replies_of(list(quick_replies or [])), created_at=services.clock.now())
    return send_in_conversation(services, conversation, outbound)


def automated_sent(tables: ConversationTables, conversation_id: str,
                   occasion: str) -> bool:
    """Whether the automated message of ``occasion`` is stored and handed to the queue (then
    ``send_automated`` would do nothing for it)."""
    row = tables.find_message(conversation_id, automated_message_id(conversation_id, occasion))
    return row is not None and row.enqueued
