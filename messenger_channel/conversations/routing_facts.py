"""What the routing rules read about a conversation, gathered from it and its contact."""

from __future__ import annotations

from datetime import datetime

from messenger_channel.conversations.models import Contact, Conversation
from messenger_channel.routing.rules import RoutingFacts
from messenger_channel.workforce.operating_hours import OperatingHours, is_open


def routing_facts(conversation: Conversation, contact: Contact, at: datetime,
                  hours: OperatingHours | None = None) -> RoutingFacts:
    """``at``: the customer's message's time; ``hours``: the workstream's operating hours."""
    referral = conversation.referral or {}
    ref, ad_id = referral.get("ref"), referral.get("ad_id")
    return RoutingFacts(
        at=at,
        # A name made up from the PSID says nothing about the customer.
        customer_name=None if contact.name_missing_reason else contact.name,
        customer_locale=contact.locale, customer_timezone=contact.timezone,
        message_text=conversation.first_text, message_payload=conversation.first_payload,
        referral_ref=None if ref is None else str(ref),
        referral_ad_id=None if ad_id is None else str(ad_id),
        survey=conversation.survey_answers, attributes=conversation.attributes,
        open=is_open(hours, at))
