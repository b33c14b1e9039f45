"""A bot's messages to the customer: written to the conversation's history (author ``bot``) and
handed to the outbound queue, as automated messages are (``outgoing.send_in_conversation``).
The sender sends them inside the 24-hour window only, as it does automated ones (no
HUMAN_AGENT tag: that tag is for people).

A message with text and a file goes out as two Messenger messages, the file first, so that
the quick replies stay under the last one.
"""

from __future__ import annotations

from collections.abc import Sequence

from messenger_channel.conversations.bot_answers import BotMessage
from messenger_channel.conversations.models import AttachmentInfo, Conversation, Message, short_hash
from messenger_channel.conversations.outgoing import send_in_conversation
from messenger_channel.facebook.attachment_urls import attachment_type_of_url, file_name_of_url
from messenger_channel.queue_messages import OutboundMessage
from messenger_channel.services import Services


def bot_message_id(conversation_id: str, occasion: str, index: int, part: str) -> str:
    """Deterministic: the same answer to the same event is sent once, whatever redeliveries."""
    return f"bot-{short_hash(conversation_id, occasion, str(index), part)}"


def send_bot_messages(services: Services, conversation: Conversation,
                      messages: Sequence[BotMessage], occasion: str) -> list[Message]:
    """Send ``messages`` once per ``occasion`` (the event the bot answered, or the id of an
    API call); returns the history rows."""
    sent: list[Message] = []
    now = services.clock.now()
    for index, message in enumerate(messages):
        base = {"conversation_id": conversation.id, "page_id": conversation.page_id,
                "psid": conversation.psid, "author": "bot", "created_at": now}
        if message.attachment_url is not None:
            url = message.attachment_url
            outbound = OutboundMessage(
                message_id=bot_message_id(conversation.id, occasion, index, "file"),
                attachment_url=url, **base)
            # Not stored by the product: the transcript names the file and where it was.
            shown = AttachmentInfo(id=f"url-{short_hash(url)}", name=file_name_of_url(url),
                                   type=attachment_type_of_url(url), status="skipped",
                                   error=f"sent by link: {url}")
            sent.append(send_in_conversation(services, conversation, outbound, shown))
        if message.text is not None:
            outbound = OutboundMessage(
                message_id=bot_message_id(conversation.id, occasion, index, "text"),
                text=message.text, quick_replies=message.quick_replies, **base)
            sent.append(send_in_conversation(services, conversation, outbound))
    return sent
