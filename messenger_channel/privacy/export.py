"""Everything held about one customer, as one JSON document
(``GET /api/manage/customers/{page_id}/{psid}/export``).

Read from the same places an erasure clears: the profile, its contact link and pending survey,
each conversation of the customer's range (``ConversationsByCustomer``) with its messages (a
long text whole, read from its blob), the archived events (``ArchivedByCustomer``) and the
customer's events in quarantined bodies (``QuarantinedByCustomer``). Files are links the
operator fetches with the management key (``attachment_link``); none is inlined.
"""

from __future__ import annotations

import json
from typing import Any

from messenger_channel.clock import isoformat
from messenger_channel.conversations.agent_files import agent_files
from messenger_channel.conversations.attachments import blob_name
from messenger_channel.conversations.history import ContactLinks
from messenger_channel.conversations.indexes import ConversationIndexes
from messenger_channel.conversations.long_texts import full_text
from messenger_channel.conversations.models import ConversationTables, Message
from messenger_channel.conversations.satisfaction import pending_surveys
from messenger_channel.ingress.archive import ARCHIVE_CONTAINER, QUARANTINE_CONTAINER
from messenger_channel.ingress.archive_index import ArchiveIndex
from messenger_channel.ingress.quarantine_index import QuarantineIndex
from messenger_channel.privacy.archive_scrub import customer_events
from messenger_channel.services import Services
from messenger_channel.storage.errors import NotFound

FORMAT = "messenger-channel.customer-export.v1"


def attachment_link(conversation_id: str, attachment_id: str) -> str:
    return f"/api/manage/attachments/{conversation_id}/{attachment_id}"


def _message(services: Services, message: Message) -> dict[str, Any]:
    data = message.model_dump(mode="json", exclude={"send_id", "enqueued", "text_blob"})
    data["text"] = full_text(services.blobs, message)  # a long text whole, not its start
    for info in data["attachments"]:
        if info.get("status") == "stored":
            info["url"] = attachment_link(message.conversation_id, info["id"])
    return data


def export_customer(services: Services, page_id: str, psid: str) -> dict[str, Any]:
    tables = ConversationTables(services.tables)
    contact = tables.contacts.get(page_id, psid)
    conversations = []
    for row in ConversationIndexes(services.tables).of_customer(page_id, psid):
        conversation = tables.conversation(row.conversation_id)
        if conversation is None:
            continue
        conversations.append({
            **conversation.model_dump(mode="json", exclude={"applied_events"}),
            "messages": [_message(services, m) for m in tables.history(conversation.id)]})
    archived = []
    for event in ArchiveIndex(services.tables).of_customer(page_id, psid):
        try:
            body = json.loads(services.blobs.download(ARCHIVE_CONTAINER, event.blob))
        except (NotFound, ValueError):
            continue
        archived.append({"received_at": isoformat(event.received_at),
                         "event": body.get("raw") if isinstance(body, dict) else body})
    quarantined = []
    for noted in QuarantineIndex(services.tables).of_customer(page_id, psid):
        container, _, name = noted.blob.partition("/")
        if container != QUARANTINE_CONTAINER:
            continue  # an event of the archive: among archived_events
        try:
            body = services.blobs.download(QUARANTINE_CONTAINER, name)
        except NotFound:
            continue
        quarantined += [{"quarantined_at": isoformat(noted.at), "event": event}
                        for event in customer_events(body, psid)]
    survey = pending_surveys(services.tables).get(page_id, psid)
    link = None
    if contact is not None and contact.linked_contact_id is not None:
        linked = ContactLinks(services.tables, services.clock).rows.get(
            contact.linked_contact_id, f"{page_id}|{psid}")
        link = None if linked is None else {"contact_id": linked.contact_id,
                                            "linked_at": isoformat(linked.written_at)}
    return {
        "format": FORMAT,
        "exported_at": isoformat(services.clock.now()),
        "customer": {"page_id": page_id, "psid": psid},
        "profile": None if contact is None else contact.model_dump(mode="json"),
        "contact_link": link,
        "pending_survey": None if survey is None else survey.model_dump(mode="json"),
        "conversations": conversations,
        "archived_events": archived,
        "quarantined_events": quarantined,
    }


def attachment_blob(services: Services, conversation_id: str,
                    attachment_id: str) -> str | None:
    """The blob of an agent's file sent in the conversation, else of a customer's file (both
    kinds of id start with ``att_``: the agent's record is the one that can be looked up)."""
    found = agent_files(services).get(attachment_id, "file")
    if found is not None:
        return found.blob_name if found.conversation_id == conversation_id else None
    return blob_name(conversation_id, attachment_id)
