"""``POST /api/manage/backfill/conversations`` and ``/contacts``: build the indexes from data
stored before they existed (README, "Upgrading stored data"). Both are idempotent."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from messenger_channel.api.auth import ManagerDep, ServicesDep
from messenger_channel.api.errors import ApiError
from messenger_channel.conversations.agent_contacts import backfill_contact_words
from messenger_channel.conversations.backfill import BATCH, backfill_conversations
from messenger_channel.storage.errors import InvalidContinuation

router = APIRouter(prefix="/api/manage/backfill", tags=["maintenance"])


class BackfillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, description="the `next` of the previous answer; "
                                                 "omitted: start from the first")
    batch: int = Field(BATCH, ge=1, le=1000, description="conversations in this call")


class BackfillOut(BaseModel):
    conversations: int = Field(description="how many this call indexed")
    next: str | None = Field(description="pass it back for the next batch; null: done")


@router.post("/conversations", name="backfill_conversations", response_model=BackfillOut,
             summary="Index one batch of stored conversations (idempotent, resumable)")
def backfill(services: ServicesDep, _: ManagerDep,
             body: BackfillRequest | None = None) -> BackfillOut:
    request = body or BackfillRequest()
    try:
        done = backfill_conversations(services, request.cursor, request.batch)
    except InvalidContinuation:
        raise ApiError(400, "invalid_cursor", "cursor is not a cursor this API issued") from None
    return BackfillOut(conversations=done.conversations, next=done.next)


class ContactWordsOut(BaseModel):
    rows: int = Field(description="index rows added (search words, contacts' profile links); "
                                  "0 when nothing was missing")


@router.post("/contacts", response_model=ContactWordsOut,
             summary="Index every stored contact and customer profile for search, and "
                     "profiles' links to contacts (idempotent)")
def backfill_contacts(services: ServicesDep, _: ManagerDep) -> ContactWordsOut:
    return ContactWordsOut(rows=backfill_contact_words(services.tables, services.clock))
