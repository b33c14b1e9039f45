"""What a conversation and its messages keep once a customer is erased or their retention is
over (pure): ids, times, states, statuses and counts, for the reports; no words, no names, no
files, no profile. The conversation's PSID becomes a pseudonym when the customer is erased."""

from __future__ import annotations

import hashlib

from messenger_channel.conversations.models import Conversation, Csat, Message

ERASED_NAME = "Erased customer"
ERASED_REASON = "erased"


def pseudonym(page_id: str, psid: str) -> str:
    """Stands for the PSID in what stays: one customer's conversations still group together."""
    return "erased-" + hashlib.sha256(f"{page_id}|{psid}".encode()).hexdigest()[:20]


def message_has_content(message: Message) -> bool:
    return bool(message.text or message.payload or message.edits or message.reaction
                or message.attachments or message.quick_replies)


def without_content(message: Message) -> Message:
    return message.model_copy(update={
        "text": None, "text_blob": None, "payload": None, "edits": [], "reaction": None,
        "attachments": [], "quick_replies": []})


def _csat_without_comment(csat: Csat | None) -> Csat | None:
    return None if csat is None else csat.model_copy(update={"comment": None})


def conversation_without_words(conversation: Conversation) -> Conversation:
    """Retention: what the customer wrote goes; who they are stays."""
    return conversation.model_copy(update={
        "attributes": {}, "survey_answers": {}, "first_text": None, "first_payload": None,
        "referral": None, "last_message_preview": None,
        "csat": _csat_without_comment(conversation.csat)})


def conversation_erased(conversation: Conversation) -> Conversation:
    """Erasure: the words and who they are both go."""
    return conversation_without_words(conversation).model_copy(update={
        "psid": pseudonym(conversation.page_id, conversation.psid)
        if not conversation.psid.startswith("erased-") else conversation.psid,
        "customer_name": ERASED_NAME, "name_missing_reason": ERASED_REASON})


def is_erased(conversation: Conversation) -> bool:
    return conversation.psid.startswith("erased-")
