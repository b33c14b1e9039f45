"""Whether the product may send to a customer now, by Facebook's rules: the page's token and
the messaging window. The agent API asks before it queues a reply (so the agent hears why at
once, as a 409); the sender asks again when it sends, because time passes and tokens break."""

from __future__ import annotations

import logging

from messenger_channel.conversations.models import Conversation
from messenger_channel.conversations.window import (
    SendType,
    closed_window_explanation,
    send_type,
)
from messenger_channel.errors import Conflict
from messenger_channel.provisioning.models import Page
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.provisioning.token_health import UNHEALTHY
from messenger_channel.secrets import SecretStoreError
from messenger_channel.services import Services
from messenger_channel.workforce.workstreams import get_workstream

log = logging.getLogger(__name__)


def outside_window(services: Services, conversation: Conversation, *, human: bool) -> Conflict:
    """The refusal, saying why the window is closed and what would open it."""
    return Conflict("outside_messaging_window", closed_window_explanation(
        conversation.last_customer_message_at, conversation.human_agent_tag,
        _tag_now(services, conversation), human=human, now=services.clock.now()))


def page_removed() -> Conflict:
    return Conflict("page_removed", "the page was removed from the channel: nothing more can "
                                    "be sent to its customers from here")


def refuse_if_page_removed(services: Services, page_id: str) -> None:
    """Raise ``page_removed`` for a page being deprovisioned or gone: said before anything
    else about its conversations (which that removal closed)."""
    page = ChannelTables(services.tables).page(page_id)
    if page is None or page.removed:
        raise page_removed()


def usable_page(services: Services, page_id: str) -> Page | None:
    """The page, when it is connected and its token can send (not known broken)."""
    page = ChannelTables(services.tables).page(page_id)
    if (page is None or page.removed or page.token_ref is None
            or page.token_health.status in UNHEALTHY):
        return None
    return page


def _tag_now(services: Services, conversation: Conversation) -> bool:
    """Whether the conversation's workstream has the HUMAN_AGENT tag on now."""
    workstream = (None if conversation.workstream_id is None
                  else get_workstream(services.tables, conversation.workstream_id))
    return workstream is not None and workstream.human_agent_tag


def conversation_send_type(services: Services, conversation: Conversation, *,
                           human: bool) -> SendType | None:
    return send_type(conversation.last_customer_message_at, conversation.human_agent_tag,
                     _tag_now(services, conversation), human=human, now=services.clock.now())


def check_can_send(services: Services, conversation: Conversation, *, human: bool) -> None:
    """Raise ``Conflict(reason)`` when Facebook would refuse a message now."""
    refuse_if_page_removed(services, conversation.page_id)
    if usable_page(services, conversation.page_id) is None:
        raise Conflict("page_token_invalid",
                       "the page's access token is not valid; an operator must renew it")
    if conversation_send_type(services, conversation, human=human) is None:
        raise outside_window(services, conversation, human=human)


def page_token(services: Services, page_id: str) -> str | None:
    """The page's access token, unless the page cannot send (token known broken, unreadable)."""
    page = usable_page(services, page_id)
    if page is None or page.token_ref is None:
        return None
    try:
        return services.secrets.get(page.token_ref)
    except SecretStoreError:
        log.warning("page token unreadable", extra={"page_id": page_id})
        return None
