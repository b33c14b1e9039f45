"""The agents' contacts (the customer records of the service desk), linking a customer's
Messenger profile to one, and conversations an agent starts or reopens.

============== ============ ============ =====================================================
table          PartitionKey RowKey       why
============== ============ ============ =====================================================
AgentContacts  ``contact``  contact id   a service desk has thousands of contacts, not
                                         millions; search reads the word index
                                         (``contact_search``), never this partition whole
============== ============ ============ =====================================================

Linking sets the profile's ``linked_contact_id`` (on ``Contacts``, keyed by page and PSID), so
every later conversation of that customer starts linked (the router reads it), and the
conversation at hand is linked at once; a ``ContactLinks`` row (``history``) written first finds
the contact's profiles.

An agent may start a conversation with a customer who wrote to the page before, or reopen
one, while Facebook would take the message: within 24 hours of the customer's last message,
or 7 days when the workstream's human agent tag is on. The new conversation takes the tag as it
is now, so a tag switched on during a conversation applies once it is closed and reopened.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from itertools import chain

from messenger_channel.clock import Clock, system_clock
from messenger_channel.conversations.auto_close import DEFAULT_AUTO_CLOSE_MINUTES
from messenger_channel.conversations.automated import send_automated
from messenger_channel.conversations.contact_search import (
    ContactIndex,
    Indexed,
    Loaded,
    Loader,
    Ref,
    contact_words,
    every_entity,
    indexed_profile,
)
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.erasure_hold import erasure_holds
from messenger_channel.conversations.handover_events import latest_standby_message_at
from messenger_channel.conversations.history import ContactLinks
from messenger_channel.conversations.models import (
    Contact,
    Conversation,
    ConversationTables,
    short_hash,
)
from messenger_channel.conversations.replies import held_conversation
from messenger_channel.conversations.send_rules import conversation_send_type, outside_window
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.conversations.thread_control import take_thread
from messenger_channel.errors import Conflict, Missing
from messenger_channel.services import Services
from messenger_channel.storage.errors import InvalidKey
from messenger_channel.storage.tables import Entity, Table, TableStore
from messenger_channel.workforce.agents import get_agent
from messenger_channel.workforce.workstreams import Workstream, workstream_for_page

MAX_FOUND = 50
OPEN_TEXT = ("the customer already has an open conversation (waiting, offered or with an "
             "agent): a supervisor can assign it to you")


class AgentContact(Entity):
    id: str
    name: str
    email: str | None = None
    phone: str | None = None
    created_by: str
    created_at: datetime

    def partition_key(self) -> str:
        return "contact"

    def row_key(self) -> str:
        return self.id


def indexed_contact(contact: AgentContact) -> Indexed:
    """What the search index holds of an agent's contact: the words of its name, email, phone."""
    return Indexed(Ref("contact", "contact", contact.id),
                   contact_words(contact.name, contact.email, contact.phone), contact.created_at)


def agent_contacts(services: Services) -> Table[AgentContact]:
    return services.tables.table("AgentContacts", AgentContact)


def create_contact(services: Services, agent_id: str, name: str, email: str | None,
                   phone: str | None) -> AgentContact:
    contact = AgentContact(id=f"pc_{uuid.uuid4().hex[:20]}", name=name, email=email,
                           phone=phone, created_by=agent_id, created_at=services.clock.now())
    # Its words first: interrupted here, the rows point to no contact and searches skip them.
    ContactIndex(services.tables, services.clock).add(indexed_contact(contact))
    agent_contacts(services).create(contact)
    return contact


def search_contacts(services: Services, query: str,
                    limit: int = MAX_FOUND) -> list[AgentContact | Contact]:
    """Agents' contacts and customers' Messenger profiles with a word starting with each word
    of ``query`` (in a name, an email or a phone; any case, any accent), newest first, the
    first ``limit``."""
    return ContactIndex(services.tables, services.clock).search(
        query, limit, _searchable_loader(services.tables))


def _searchable_loader(store: TableStore) -> Loader[AgentContact | Contact]:
    contacts, profiles = _agent_contacts_table(store), ConversationTables(store).contacts

    def load(ref: Ref) -> Loaded[AgentContact | Contact] | None:
        if ref.kind == "contact":
            contact = contacts.get(ref.partition, ref.row)
            return None if contact is None else Loaded(indexed_contact(contact), contact)
        profile = profiles.get(ref.partition, ref.row)
        return None if profile is None else Loaded(indexed_profile(profile), profile)

    return load


def backfill_contact_words(tables: TableStore, clock: Clock = system_clock) -> int:
    """Index every agent contact and customer profile stored before the search index (or whose
    rows were lost), and the ``ContactLinks`` rows of profiles linked before that table;
    returns the number of rows added, 0 when nothing was missing. Idempotent, safe beside live
    traffic; reads both tables and the indexes whole: a one-off."""
    contacts = _agent_contacts_table(tables).list_partition("contact")
    linked: list[Contact] = []  # noted as the profiles stream by: read once

    def noted(profile: Contact) -> Indexed:
        if profile.linked_contact_id is not None:
            linked.append(profile)
        return indexed_profile(profile)

    profiles = every_entity(ConversationTables(tables).contacts)
    targets = chain(map(indexed_contact, contacts), map(noted, profiles))
    words = ContactIndex(tables, clock).backfill(targets)
    return words + ContactLinks(tables, clock).backfill(linked)


def _agent_contacts_table(store: TableStore) -> Table[AgentContact]:
    return store.table("AgentContacts", AgentContact)


def _existing_contact(services: Services, contact_id: str) -> AgentContact:
    try:
        contact = agent_contacts(services).get("contact", contact_id)
    except InvalidKey:
        contact = None
    if contact is None:
        raise Missing(f"contact {contact_id} does not exist")
    return contact


def link_contact(services: Services, conversation_id: str, agent_id: str,
                 contact_id: str) -> Conversation:
    """Link the conversation's customer to ``contact_id``, now and for later conversations."""
    conversation = held_conversation(services, conversation_id, agent_id).conversation
    _existing_contact(services, contact_id)
    tables = ConversationTables(services.tables)
    now = services.clock.now()
    # The by-contact row first: interrupted here, it points to a profile readers see unlinked.
    ContactLinks(services.tables, services.clock).add(contact_id, conversation.page_id,
                                                      conversation.psid)
    tables.contacts.update(conversation.page_id, conversation.psid, lambda c: c.model_copy(
        update={"linked_contact_id": contact_id, "updated_at": now}))
    # A transition: the permanent rows (by customer, by day) carry the contact too.
    return ConversationStore.of(services).transition(
        conversation.id, lambda c: c.model_copy(update={"contact_id": contact_id,
                                                         "updated_at": now}))


def _profile(services: Services, page_id: str, psid: str | None,
             contact_id: str | None) -> Contact:
    """The customer's Messenger profile on the page: by PSID, or by the contact it is linked
    to (or its own id, which a conversation shows until it is linked)."""
    tables = ConversationTables(services.tables)
    try:
        if psid is not None:
            found = tables.contacts.get(page_id, psid)
        else:
            page = tables.contacts.query(
                "PartitionKey eq @page and (linked_contact_id eq @id or id eq @id )",
                {"page": page_id, "id": contact_id}, page_size=1)
            found = page.items[0] if page.items else None
    except InvalidKey:
        found = None
    if found is None:
        raise Missing("this customer has never written to the page: Facebook only lets a "
                      "page answer customers who wrote first")
    return found


def start_conversation(services: Services, agent_id: str, page_id: str, *,
                       psid: str | None = None, contact_id: str | None = None) -> Conversation:
    """A new conversation held by the agent with a customer who wrote before. Raises
    ``Missing`` (unknown customer) or ``Conflict``: ``conversation_open`` (the customer has
    one), ``customer_being_erased``, ``outside_messaging_window``, ``no_capacity``."""
    agent = get_agent(services.tables, agent_id)
    if agent is None:
        raise Missing("agent not found")
    profile = _profile(services, page_id, psid, contact_id)
    tables = ConversationTables(services.tables)
    if erasure_holds(services.tables).get(page_id, profile.psid) is not None:
        # What it opened would be erased under the agent, and greet someone being forgotten.
        raise Conflict("customer_being_erased", "this customer's data is being erased")
    if profile.open_conversation_id is not None:
        # Not its id: it may be another agent's, which this agent must not learn of.
        raise Conflict("conversation_open", OPEN_TEXT)
    previous = (None if profile.last_conversation_id is None
                else tables.conversation(profile.last_conversation_id))
    workstream = workstream_for_page(services.tables, page_id)
    now = services.clock.now()
    conversation = Conversation(
        id=f"cv_{short_hash(page_id, profile.psid, 'agent', agent_id, now.isoformat())}",
        page_id=page_id, psid=profile.psid,
        contact_id=profile.linked_contact_id or profile.id,
        workstream_id=None if workstream is None else workstream.id, state="active",
        locale=profile.locale or (workstream.language if workstream else "en-US"),
        queue_id=(previous.queue_id if previous is not None and previous.queue_id
                  else None if workstream is None else workstream.fallback_queue_id),
        agent_id=agent_id, opened_by=f"agent:{agent_id}", assigned_at=now,
        customer_name=profile.name,
        name_missing_reason=profile.name_missing_reason,
        last_customer_message_at=_last_customer_message_at(services, profile, previous, workstream),
        human_agent_tag=workstream is not None and workstream.human_agent_tag,
        last_activity_at=now, created_at=now, updated_at=now)
    if conversation_send_type(services, conversation, human=True) is None:
        raise outside_window(services, conversation, human=True)
    distributor = Distributor(services)
    units = 0 if workstream is None else workstream.capacity_per_conversation
    if not distributor.reserve(agent, conversation.id, units):
        raise Conflict("no_capacity", "you have no capacity left for another conversation")

    def claim(c: Contact) -> Contact:
        if c.open_conversation_id is not None:
            raise Conflict("conversation_open", OPEN_TEXT)
        return c.model_copy(update={"open_conversation_id": conversation.id,
                                    "last_conversation_id": conversation.id,
                                    "last_agent_id": agent_id, "updated_at": now})

    try:
        tables.contacts.update(page_id, profile.psid, claim)
    except Conflict:
        distributor.release(agent_id, conversation.id)
        raise
    minutes = DEFAULT_AUTO_CLOSE_MINUTES if workstream is None else (
        workstream.auto_close_after_minutes)
    created = ConversationStore.of(services).create(
        conversation, due_at=now + timedelta(minutes=minutes))
    # On a page shared with other apps, the thread is taken before the first message is sent.
    take_thread(services, created)
    if workstream is not None:
        send_automated(services, created, workstream, "agent_joined",
                       values={"AgentName": agent.name})
    return created


def _last_customer_message_at(services: Services, profile: Contact,
                              previous: Conversation | None,
                              workstream: Workstream | None) -> datetime | None:
    """What opens the messaging window: the customer's last message in their last
    conversation, or, on a page shared with other apps, one they wrote while another app held
    the thread (their standby history), whichever is later."""
    last = None if previous is None else previous.last_customer_message_at
    if workstream is None or workstream.handover is None:
        return last
    standby = latest_standby_message_at(services, profile)
    return standby if last is None or (standby is not None and standby > last) else last
