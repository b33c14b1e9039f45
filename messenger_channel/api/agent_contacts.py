"""``/api/agent``: contacts, linking a customer to one, and conversations agents start."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from messenger_channel.api.agent_conversations import (
    ConversationOut,
    conversation_answer,
    refusals,
)
from messenger_channel.api.auth import AgentIdDep, ServicesDep
from messenger_channel.api.errors import documented
from messenger_channel.api.lists import MAX_LIMIT, ListPage, cursor_offset, paginate
from messenger_channel.api.types import ApiTime
from messenger_channel.conversations.agent_contacts import (
    MAX_FOUND,
    AgentContact,
    create_contact,
    link_contact,
    search_contacts,
    start_conversation,
)
from messenger_channel.conversations.models import Contact

router = APIRouter(tags=["agent"])


class ContactBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(None, max_length=40, pattern=r"^\+?[0-9 ()./-]{3,}$")


class ContactOut(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
    created_at: ApiTime
    # ``contact``: an agent's contact; ``profile``: a customer's Messenger profile on a page
    # (start a conversation with ``{page_id, psid}``).
    kind: Literal["contact", "profile"] = "contact"
    page_id: str | None = None
    psid: str | None = None


class LinkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: str = Field(min_length=1, max_length=100)


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page_id: str = Field(min_length=1, max_length=64)
    psid: str | None = Field(None, min_length=1, max_length=64)
    contact_id: str | None = Field(None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_customer(self) -> StartBody:
        if (self.psid is None) == (self.contact_id is None):
            raise ValueError("give either psid or contact_id")
        return self


def _out(contact: AgentContact | Contact) -> ContactOut:
    if isinstance(contact, Contact):
        return ContactOut(id=contact.id, name=contact.name, email=None, phone=None,
                          created_at=contact.created_at, kind="profile",
                          page_id=contact.page_id, psid=contact.psid)
    return ContactOut.model_validate(contact.model_dump())


@router.get("/contacts", response_model=ListPage[ContactOut])
def find_contacts(
    agent_id: AgentIdDep, services: ServicesDep, query: str = "", cursor: str | None = None,
    since: str | None = None, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = MAX_FOUND,
) -> ListPage[ContactOut]:
    """Agents' contacts and customers' Messenger profiles with a word starting with each word
    of ``query`` (name, email or phone; any case, any accent), newest first, ``limit`` a page
    (50 unless told); ``since``: those added after it."""
    # The search reads in the list's order: the pages before, this one, and one more to know
    # whether another page follows.
    found = search_contacts(services, query, cursor_offset(cursor) + limit + 1)
    return paginate([_out(c) for c in found], changed_at=lambda c: c.created_at,
                    cursor=cursor, since=since, limit=limit)


@router.post("/contacts", name="create_contact", status_code=201, response_model=ContactOut)
def new_contact(body: ContactBody, agent_id: AgentIdDep, services: ServicesDep) -> ContactOut:
    return _out(create_contact(services, agent_id, body.name, body.email, body.phone))


@router.post("/conversations/{conversation_id}/contact",
             name="link_contact", response_model=ConversationOut)
def link(conversation_id: str, body: LinkBody, agent_id: AgentIdDep,
         services: ServicesDep) -> ConversationOut:
    """Link the customer to a contact: this conversation and every later one."""
    with refusals(conversation_id):
        conversation = link_contact(services, conversation_id, agent_id, body.contact_id)
    return conversation_answer(services, conversation, agent_id)


@router.post("/conversations",
             name="start_conversation", status_code=201, response_model=ConversationOut,
             responses=documented({
                 404: "a customer who never wrote to the page, or an unknown contact",
                 409: "conversation_open, customer_being_erased, no_capacity, "
                      "outside_messaging_window"}))
def start(body: StartBody, agent_id: AgentIdDep, services: ServicesDep) -> ConversationOut:
    """Start or reopen a conversation with a customer who wrote to the page before; 409
    ``outside_messaging_window`` when Facebook would refuse the agent's message."""
    with refusals("new"):
        conversation = start_conversation(services, agent_id, body.page_id, psid=body.psid,
                                          contact_id=body.contact_id)
    return conversation_answer(services, conversation, agent_id)
