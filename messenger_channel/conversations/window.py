"""The Messenger messaging window of a conversation, as agents see it and the sender obeys it:
24 hours after the customer's last message (standard), or 7 days with the HUMAN_AGENT tag
when the workstream had it on when the conversation opened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from messenger_channel.clock import isoformat

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


def closed_window_explanation(last_customer_message_at: datetime | None, tag_at_opening: bool,
                              tag_now: bool, *, human: bool, now: datetime) -> str:
    """Why ``send_type`` found no way to send, and what would open one, in words for the agent:
    the 24-hour rule, the workstream's HUMAN_AGENT setting (7 days, a person's replies only,
    applied from the next conversation when switched on mid-conversation) and the customer's
    next message, which reopens the window."""
    reopen = "A new message from the customer reopens the window."
    if last_customer_message_at is None:
        return ("The customer has not written in this conversation: Facebook lets a page "
                f"answer only within 24 hours of a customer's message. {reopen}")
    closed = (f"The messaging window closed at {isoformat(last_customer_message_at + STANDARD)},"
              " 24 hours after the customer's last message.")
    tagged_end = isoformat(last_customer_message_at + HUMAN_AGENT)
    if not human:
        return (f"{closed} Automated messages never use the HUMAN_AGENT tag: Meta allows it "
                f"for a person's replies only. {reopen}")
    if now >= last_customer_message_at + HUMAN_AGENT:
        return (f"{closed} It is also more than 7 days since that message, so even the "
                f"HUMAN_AGENT tag no longer allows a reply. {reopen}")
    if not tag_now:
        return (f"{closed} With the workstream's human_agent_tag on (Messenger's HUMAN_AGENT "
                f"tag, which needs Meta's approval of the app), an agent may reply for 7 days "
                f"after that message, until {tagged_end}; switched on now, it applies to "
                f"conversations opened after it, "
                f"so close this one and start a new one. {reopen}")
    if not tag_at_opening:
        return (f"{closed} The workstream's human_agent_tag was switched on after this "
                f"conversation opened: it applies once the conversation is closed and "
                f"reopened (POST /api/agent/conversations), until {tagged_end}. {reopen}")
    return f"{closed} {reopen}"
