"""The Messenger messaging window of a conversation, as agents see it and the sender obeys it:
24 hours after the customer's last message (standard), or 7 days with the HUMAN_AGENT tag
when the workstream had it on when the conversation opened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

STANDARD = timedelta(hours=24)
HUMAN_AGENT = timedelta(days=7)

WindowKind = Literal["standard", "human_agent", "closed"]


@dataclass(frozen=True)
class MessagingWindow:
    kind: WindowKind
    ends_at: datetime | None  # when it closes (closed: when it closed; None: never opened)


def messaging_window(last_customer_message_at: datetime | None, human_agent_tag: bool,
                     now: datetime) -> MessagingWindow:
    if last_customer_message_at is None:
        return MessagingWindow("closed", None)
    standard_end = last_customer_message_at + STANDARD
    if now < standard_end:
        return MessagingWindow("standard", standard_end)
    if human_agent_tag:
        tagged_end = last_customer_message_at + HUMAN_AGENT
        return MessagingWindow("human_agent" if now < tagged_end else "closed", tagged_end)
    return MessagingWindow("closed", standard_end)


@dataclass(frozen=True)
class SendType:
    """How the Send API may carry a message now: ``messaging_type`` and, for a tag, ``tag``."""

    messaging_type: Literal["RESPONSE", "MESSAGE_TAG"]
    tag: Literal["HUMAN_AGENT"] | None = None


def send_type(last_customer_message_at: datetime | None, tag_at_opening: bool,
              tag_now: bool, *, human: bool, now: datetime) -> SendType | None:
    """RESPONSE within 24 hours; after that HUMAN_AGENT for a human agent's message within 7
    days when the workstream's tag is on and was on when the conversation opened (switching
    it on mid-conversation takes effect after a close and reopen, as in Dynamics); None:
    Facebook would refuse it (``outside_messaging_window``). Automated messages never use the
    tag: Meta forbids it for automation."""
    window = messaging_window(last_customer_message_at, tag_at_opening and tag_now, now)
    if window.kind == "standard":
        return SendType("RESPONSE")
    if window.kind == "human_agent" and human:
        return SendType("MESSAGE_TAG", "HUMAN_AGENT")
    return None
