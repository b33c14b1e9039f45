"""Customers by (page, PSID): found, or made once with their Messenger profile.

The profile needs Business Asset User Profile Access; without it Graph answers an empty object
or error 2018218 (phone-only accounts). The contact is made all the same, with a name built
from the PSID and the reason the real one is missing, so the customer still reaches an agent.
"""

from __future__ import annotations

import logging
from typing import Any

from messenger_channel.conversations.contact_search import ContactIndex, indexed_profile
from messenger_channel.conversations.models import Contact, ConversationTables, short_hash
from messenger_channel.facebook.graph_errors import GraphError
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.provisioning.service import ChannelSetup
from messenger_channel.secrets import SecretStoreError
from messenger_channel.services import Services
from messenger_channel.storage.errors import AlreadyExists

log = logging.getLogger(__name__)

PROFILE_FIELDS = ("first_name", "last_name", "profile_pic", "locale", "timezone")
NO_PROFILE_SUBCODE = 2018218


def contact_id(page_id: str, psid: str) -> str:
    return f"ct_{short_hash(page_id, psid)}"


def find_or_create_contact(services: Services, page_id: str, psid: str) -> Contact:
    tables = ConversationTables(services.tables)
    found = tables.contacts.get(page_id, psid)
    if found is not None:
        return found
    profile, missing = _profile(services, page_id, psid)
    name = " ".join(p for p in (profile.get("first_name"), profile.get("last_name")) if p)
    now = services.clock.now()
    timezone = profile.get("timezone")
    contact = Contact(
        id=contact_id(page_id, psid), page_id=page_id, psid=psid,
        name=name or f"Customer {psid[-4:]}",
        name_missing_reason=None if name else missing or "no_profile_access",
        profile_pic=profile.get("profile_pic"),
        locale=_locale(profile.get("locale")),
        timezone=float(timezone) if isinstance(timezone, int | float) else None,
        created_at=now, updated_at=now)
    # The name's words first (contact_search): interrupted before the contact is stored, the
    # rows point to nobody and searches skip them; the redelivered event writes both again.
    ContactIndex(services.tables, services.clock).add(indexed_profile(contact))
    try:
        tables.contacts.create(contact)
    except AlreadyExists:  # a concurrent event of the same customer made it first
        # Words of ours it does not have (another profile answer) stay until a search drops
        # them: removing them now could race with the winner's own rows.
        existing = tables.contacts.get(page_id, psid)
        assert existing is not None  # contacts are never deleted
        return existing
    return contact


def rename_contact(services: Services, page_id: str, psid: str, name: str | None,
                   missing_reason: str = "no_profile_access") -> Contact:
    """Set a customer's name (a refreshed profile; ``None``: the name is gone, ``Customer 1234``
    is shown). The one way to change it: contacts search follows (``contact_search``: the new
    words' rows, the contact, then the old words' rows gone)."""
    now = services.clock.now()

    def rename(contact: Contact) -> Contact | None:
        wanted = (name, None) if name else (f"Customer {psid[-4:]}", missing_reason)
        if (contact.name, contact.name_missing_reason) == wanted:
            return None
        return contact.model_copy(update={"name": wanted[0], "name_missing_reason": wanted[1],
                                          "updated_at": now})

    return ContactIndex(services.tables, services.clock).update(
        ConversationTables(services.tables).contacts, page_id, psid, rename, indexed_profile)


def _locale(value: Any) -> str | None:
    # Facebook writes en_US; workstreams and API.md write en-US.
    return value.replace("_", "-") if isinstance(value, str) and value else None


def _profile(services: Services, page_id: str, psid: str) -> tuple[dict[str, Any], str | None]:
    """The profile Graph gives, or {} and why not. Never raises: a contact without a name
    still reaches an agent."""
    page = ChannelTables(services.tables).page(page_id)
    if page is None or page.token_ref is None:
        return {}, "page_token_missing"
    try:
        token = services.secrets.get(page.token_ref)
        return services.graph.user_profile(psid, token, PROFILE_FIELDS), None
    except GraphError as error:
        if error.token_invalid:  # a 190 puts the page in Error at once (issue 7)
            ChannelSetup(services).token_refused(page_id, error)
        reason = ("no_profile_access" if error.subcode == NO_PROFILE_SUBCODE
                  else f"profile_error_{error.kind.value}")
        log.warning("user profile unavailable",
                    extra={"page_id": page_id, "reason": reason, "code": error.code})
        return {}, reason
    except SecretStoreError:
        log.warning("page token unreadable", extra={"page_id": page_id})
        return {}, "page_token_missing"
