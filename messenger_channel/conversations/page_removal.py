"""Removing a page or an account from the channel, and settling what depends on the page.

The management API's deletes come here (provisioning sits below the conversations and the
workstreams, so it cannot settle them itself):

- a page that a workstream routes is not removed: 409 ``page_has_workstream`` naming each
  workstream (the operator moves it to another page or deletes it first), so no workstream is
  ever left pointing at a removed page;
- the page is deprovisioned (``ChannelSetup``: it always ends ``Deprovisioned``);
- each of its open conversations gets a system line saying the page was removed and is closed
  quietly (no goodbye or survey: the page can no longer send), its agent's capacity freed.

A repeated delete settles again whatever a failed one left open, and so does the token check
timer (``check_channels``) for every page still ``Deprovisioning``: Facebook keeps delivering to
a page while the app stays subscribed, so a customer may open a conversation meanwhile.
"""

from __future__ import annotations

import logging

from messenger_channel.conversations.closing import close_quietly
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.indexes import HELD_STATES, ByAgent, ConversationIndexes
from messenger_channel.conversations.models import ConversationTables
from messenger_channel.conversations.thread_control import system_line
from messenger_channel.errors import Conflict
from messenger_channel.provisioning.models import Account, Page, ProvisioningState
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.provisioning.service import ChannelSetup
from messenger_channel.provisioning.token_check import TokenCheckReport, run_token_check
from messenger_channel.services import Services
from messenger_channel.workforce.workstreams import workstream_for_page

log = logging.getLogger(__name__)

PAGE_REMOVED_LINE = ("The page was removed from the channel: the conversation is closed, and "
                     "nothing more can be sent to the customer from here.")


def remove_page(services: Services, account_id: str, page_id: str) -> Page:
    setup = ChannelSetup(services)
    page = setup.page(account_id, page_id)
    if page.connected:
        refuse_if_routed(services, [page_id])
    page = setup.delete_page(account_id, page_id)
    end_conversations(services, page_id)
    return page


def remove_account(services: Services, account_id: str) -> Account:
    setup = ChannelSetup(services)
    account = setup.account(account_id)
    page_ids = [page.page_id for page in setup.tables.pages_of(account.id) if page.connected]
    if not account.deleting:
        refuse_if_routed(services, page_ids)
    account = setup.delete_account(account_id)
    for page_id in page_ids:
        end_conversations(services, page_id)
    return account


def check_channels(services: Services) -> TokenCheckReport:
    """The token check timer's run: the conversations of the pages being removed are settled
    first, then ``run_token_check`` (which may release those pages: settled just before)."""
    settle_removed_pages(services)
    return run_token_check(services)


def settle_removed_pages(services: Services) -> int:
    """End the open conversations of every page still ``Deprovisioning``; how many. A page
    that fails is logged and tried again next run: it never stops the others or the check."""
    closed = 0
    for page in ChannelTables(services.tables).all_pages():
        if page.provisioning_state is not ProvisioningState.DEPROVISIONING:
            continue
        try:
            closed += end_conversations(services, page.page_id)
        except Exception:
            log.exception("conversations of a removed page not settled",
                          extra={"page_id": page.page_id})
    return closed


def refuse_if_routed(services: Services, page_ids: list[str]) -> None:
    uses = [(page_id, workstream) for page_id in page_ids
            if (workstream := workstream_for_page(services.tables, page_id)) is not None]
    if uses:
        named = ", ".join(f"workstream {workstream.id} ({workstream.name}) routes page {page_id}"
                          for page_id, workstream in uses)
        raise Conflict("page_has_workstream", f"{named}; point it at another page or delete "
                                              "it first")


def end_conversations(services: Services, page_id: str) -> int:
    """Close the page's open conversations with a system line; how many were closed."""
    distributor = Distributor(services)
    closed = 0
    for conversation_id in sorted(_open_conversations(services, page_id)):
        conversation = distributor.store.get(conversation_id)
        if conversation is None or conversation.state == "closed":
            continue
        # The line first: a crash after the close would leave nothing to find it by.
        system_line(services, conversation.id, PAGE_REMOVED_LINE, "page-removed")
        close_quietly(services, distributor, conversation)
        closed += 1
    if closed:
        distributor.sweep()  # the capacity freed goes to what waits on other pages
        log.info("conversations of a removed page closed",
                 extra={"page_id": page_id, "count": closed})
    return closed


def _open_conversations(services: Services, page_id: str) -> set[str]:
    """The customers' open conversations (their profiles' claims: one partition per page),
    and those in wrap-up, which no longer hold a claim (the agents' live rows)."""
    contacts = ConversationTables(services.tables).contacts
    found = {contact.open_conversation_id for contact in contacts.query_all(
        "PartitionKey eq @page and open_conversation_id gt @none", {"page": page_id, "none": ""})
        if contact.open_conversation_id}
    held = ConversationIndexes(services.tables).tables[ByAgent]
    found |= {row.conversation_id for row in held.query_all(
        "page_id eq @page", {"page": page_id}) if row.state in HELD_STATES}
    return found
