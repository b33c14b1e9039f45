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
