"""Removing a page or an account from the channel, and settling what depends on the page.

The management API's deletes come here (provisioning sits below the conversations and the
workstreams, so it cannot settle them itself):

- a page that a workstream routes is not removed: 409 ``page_has_workstream`` naming each
  workstream (the operator moves it to another page or deletes it first), so no workstream is
  ever left pointing at a removed page;
- the page is deprovisioned (``ChannelSetup``: it always ends ``Deprovisioned``);
- each of its open conversations gets a system line saying the page was removed and is closed
  quietly (no goodbye or survey: the page can no longer send), its agent's capacity freed.

**Bounded.** Closing one conversation takes about 0.05 to 0.2 s of storage calls, so a busy
page's thousand open conversations could outlast the HTTP front end's 230 s. The delete closes
what it can in ``IN_REQUEST`` (1 s, shared by an account's pages; ``CLOSERS`` at a time) and
answers; what is left is noted in the backlog (``removal_backlog``: the answer's
``conversations_to_close``) and closed by the ``page_removals`` timer (every 15 s, ``PER_RUN``
at a time) until nothing of the page is open. Meanwhile its agents can send nothing
(``send_rules``: ``page_removed``), and its customers' new messages are not routed (the
webhook drops them).

**Safe to repeat and to race.** Every close starts from the conversation as read (ETag,
``closing.close_quietly``) and its system line is written once per conversation, so two
deletes, a delete and the timer, or two timer runs closing the same page each close a
conversation at most once. A repeated delete settles again whatever a failed one left open.
The token check timer (``check_channels``) looks at every removed page, ``Deprovisioning`` or
already ``Deprovisioned``, and puts back in the backlog any with conversations still open (a
request that died before it noted them, a customer's event routed just before the removal).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from messenger_channel.conversations.closing import close_quietly
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.indexes import HELD_STATES, ByAgent, ConversationIndexes
from messenger_channel.conversations.models import ConversationTables
from messenger_channel.conversations.removal_backlog import RemovalBacklog
from messenger_channel.conversations.thread_control import system_line
from messenger_channel.errors import Conflict
from messenger_channel.provisioning.models import Account, Page
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.provisioning.service import ChannelSetup
from messenger_channel.provisioning.token_check import TokenCheckReport, run_token_check
from messenger_channel.services import Services
from messenger_channel.workforce.workstreams import workstream_for_page

log = logging.getLogger(__name__)

PAGE_REMOVED_LINE = ("The page was removed from the channel: the conversation is closed, and "
                     "nothing more can be sent to the customer from here.")


# What a DELETE spends closing conversations before it answers (an account's pages share it),
# and what a timer run spends: well under the host's functionTimeout (5 minutes).
IN_REQUEST = timedelta(seconds=1)
PER_RUN = timedelta(seconds=45)
# Conversations closed at once: a close waits on a dozen storage round trips, not on the CPU.
# Closes of one agent's conversations meet on its capacity row (ETag retries).
CLOSERS = 4


@dataclass(frozen=True)
class Budget:
    """Wall time a caller may spend closing conversations. Monotonic: the app's clock may be
    shifted (the devhost's offset), the time actually spent may not."""

    deadline: float

    @classmethod
    def of(cls, spend: timedelta) -> Budget:
        return cls(time.monotonic() + spend.total_seconds())

    def spent(self) -> bool:
        return time.monotonic() >= self.deadline


def remove_page(services: Services, account_id: str, page_id: str) -> Page:
    """Deprovision the page and close its open conversations within ``IN_REQUEST``; the rest
    stays in the backlog for the ``page_removals`` timer."""
    setup = ChannelSetup(services)
    page = setup.page(account_id, page_id)
    if page.connected:
        refuse_if_routed(services, [page_id])
    page = setup.delete_page(account_id, page_id)
    settle_page(services, page_id, account_id, Budget.of(IN_REQUEST))
    return page


def remove_account(services: Services, account_id: str) -> Account:
    """Deprovision every page of the account; their conversations as ``remove_page``'s, one
    ``IN_REQUEST`` for all of them."""
    setup = ChannelSetup(services)
    account = setup.account(account_id)
    page_ids = [page.page_id for page in setup.tables.pages_of(account.id) if page.connected]
    if not account.deleting:
        refuse_if_routed(services, page_ids)
    account = setup.delete_account(account_id)
    budget = Budget.of(IN_REQUEST)
    for page_id in page_ids:
        settle_page(services, page_id, account.id, budget)
    return account


def settle_removals(services: Services, budget: Budget | None = None) -> int:
    """The ``page_removals`` timer's run: close what the backlog's pages left open, least
    recently worked on first, within ``budget`` (``PER_RUN``); how many are left open. A page
    that fails is logged and tried again next run: it never stops the others."""
    budget = budget or Budget.of(PER_RUN)
    left = 0
    for row in sorted(RemovalBacklog(services.tables).pending(), key=lambda r: r.updated_at):
        if budget.spent():
            left += row.to_close
            continue
        try:
            left += settle_page(services, row.page_id, row.account_id, budget)
        except Exception:
            log.exception("conversations of a removed page not settled",
                          extra={"page_id": row.page_id})
            left += row.to_close
    return left


def check_channels(services: Services) -> TokenCheckReport:
    """The token check timer's run: every removed page with conversations still open goes
    back in the backlog, which is then settled for ``PER_RUN``, then ``run_token_check``
    (which may release those pages: settled just before, or as far as the run got)."""
    find_unsettled_pages(services)
    settle_removals(services)
    return run_token_check(services)


def find_unsettled_pages(services: Services) -> int:
    """Note in the backlog every removed page (``Deprovisioning`` or ``Deprovisioned``) that
    still has open conversations and is not there already; how many were noted. Reads: the
    pages, the agents' live rows once, a partition of profiles per removed page."""
    backlog = RemovalBacklog(services.tables)
    noted = {row.page_id for row in backlog.pending()}
    held = _held_by_page(services)
    found = 0
    for page in ChannelTables(services.tables).all_pages():
        if not page.removed or page.page_id in noted:
            continue
        try:
            open_ids = _open_conversations(services, page.page_id, held)
            if open_ids:
                backlog.note(page.page_id, page.account_id, len(open_ids), services.clock.now())
                found += 1
        except Exception:
            log.exception("open conversations of a removed page not counted",
                          extra={"page_id": page.page_id})
    return found


def refuse_if_routed(services: Services, page_ids: list[str]) -> None:
    uses = [(page_id, workstream) for page_id in page_ids
            if (workstream := workstream_for_page(services.tables, page_id)) is not None]
    if uses:
        named = ", ".join(f"workstream {workstream.id} ({workstream.name}) routes page {page_id}"
                          for page_id, workstream in uses)
        raise Conflict("page_has_workstream", f"{named}; point it at another page or delete "
                                              "it first")


def settle_page(services: Services, page_id: str, account_id: str, budget: Budget) -> int:
    """Close the open conversations of a removed page, each with a system line, until
    ``budget`` is spent; how many are left open (noted in the backlog; 0: the page leaves
    it). A page that is not removed (its delete failed before it got there) is left alone.
    The count is noted before the first close, so a pass cut off midway is found again."""
    backlog = RemovalBacklog(services.tables)
    page = ChannelTables(services.tables).page(page_id)
    open_ids = [] if page is not None and not page.removed else sorted(
        _open_conversations(services, page_id, None))
    if not open_ids:
        backlog.settled(page_id)
        return 0
    backlog.note(page_id, account_id, len(open_ids), services.clock.now())
    outcomes = _close_within(services, page_id, open_ids, budget)
    closed, left = outcomes.count(True), outcomes.count(None)
    if closed:
        Distributor(services).sweep()  # the capacity freed goes to what waits on other pages
        log.info("conversations of a removed page closed",
                 extra={"page_id": page_id, "count": closed, "left": left})
    if left:
        backlog.note(page_id, account_id, left, services.clock.now())
    else:
        backlog.settled(page_id)
    return left


def _close_within(services: Services, page_id: str, conversation_ids: list[str],
                  budget: Budget) -> list[bool | None]:
    """Close each conversation, ``CLOSERS`` at a time, none started once ``budget`` is spent.
    Each: True closed here, False closed already (by a concurrent pass), None left open."""
    def close(conversation_id: str) -> bool | None:
        if budget.spent():
            return None
        try:
            return _end_conversation(services, Distributor(services), conversation_id)
        except Exception:  # one conversation that keeps changing never stops the others
            log.exception("conversation of a removed page not closed",
                          extra={"page_id": page_id, "conversation_id": conversation_id})
            return None

    with ThreadPoolExecutor(CLOSERS) as pool:
        return list(pool.map(close, conversation_ids))


def _end_conversation(services: Services, distributor: Distributor,
                      conversation_id: str) -> bool:
    """True when this call closed it, False when it was closed already."""
    conversation = distributor.store.get(conversation_id)
    if conversation is None or conversation.state == "closed":
        return False
    # The line first: a crash after the close would leave nothing to find it by.
    system_line(services, conversation.id, PAGE_REMOVED_LINE, "page-removed")
    close_quietly(services, distributor, conversation)
    return True


def _held_by_page(services: Services) -> dict[str, set[str]]:
    """The conversations agents hold (``active``, ``wrap_up``), by page: the agents' live
    rows, read once."""
    held: dict[str, set[str]] = {}
    table = ConversationIndexes(services.tables).tables[ByAgent]
    for row in table.query_all("PartitionKey ne @none", {"none": ""}):
        if row.state in HELD_STATES:
            held.setdefault(row.page_id, set()).add(row.conversation_id)
    return held


def _open_conversations(services: Services, page_id: str,
                        held: dict[str, set[str]] | None) -> set[str]:
    """The customers' open conversations (their profiles' claims: one partition per page),
    and those in wrap-up, which no longer hold a claim (the agents' live rows; ``held``:
    already read for every page)."""
    contacts = ConversationTables(services.tables).contacts
    found = {contact.open_conversation_id for contact in contacts.query_all(
        "PartitionKey eq @page and open_conversation_id gt @none", {"page": page_id, "none": ""})
        if contact.open_conversation_id}
    if held is not None:
        return found | held.get(page_id, set())
    table = ConversationIndexes(services.tables).tables[ByAgent]
    found |= {row.conversation_id for row in table.query_all(
        "page_id eq @page", {"page": page_id}) if row.state in HELD_STATES}
    return found
