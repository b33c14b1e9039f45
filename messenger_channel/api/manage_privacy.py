"""``/api/manage`` privacy routes (management key): erasure of a customer and its status,
export, the files an export links to, and the audit log (read only: no route changes an
entry)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import AwareDatetime, BaseModel

from messenger_channel.api.auth import ManagerDep, ServicesDep
from messenger_channel.api.errors import ApiError
from messenger_channel.api.types import ApiTime
from messenger_channel.audit.log import Actor, AuditEntry, AuditLog
from messenger_channel.conversations.attachments import CONTAINER, download_headers
from messenger_channel.errors import Missing
from messenger_channel.privacy.erasure_records import ErasureRecords, ErasureState, request_erasure
from messenger_channel.privacy.export import attachment_blob, export_customer
from messenger_channel.privacy.subjects import customer_pseudonym
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.storage.errors import NotFound

router = APIRouter(prefix="/api/manage", tags=["privacy"])

Digits = Annotated[str, Path(pattern=r"^\d{1,64}$")]
MANAGEMENT = Actor(kind="management", id="management_key")
MAX_AUDIT_RANGE = timedelta(days=366)
_ACTOR = re.compile(r"(management|agent|supervisor|bot|system)(?::([\w.-]{1,100}))?")
_CURSOR = re.compile(r"([^~]{1,300})~(\d{13}\|au_[\w]{1,64})")


class ErasureStarted(BaseModel):
    erasure_id: str
    state: ErasureState


class ErasureOut(BaseModel):
    erasure_id: str
    state: ErasureState
    step: str
    counts: dict[str, int]
    requested_at: ApiTime
    finished_at: ApiTime | None


class AuditList(BaseModel):
    items: list[AuditEntry]
    next: str | None


def _known_page(services: Any, page_id: str) -> None:
    if ChannelTables(services.tables).page(page_id) is None:
        raise Missing.of(f"page {page_id}")


@router.delete("/customers/{page_id}/{psid}", status_code=202, response_model=ErasureStarted)
def erase_customer(page_id: Digits, psid: Digits, services: ServicesDep,
                   _: ManagerDep) -> ErasureStarted:
    """Erase everything held about the customer, in the background (see the status)."""
    _known_page(services, page_id)
    record = request_erasure(services, page_id, psid, MANAGEMENT,
                             customer_pseudonym(page_id, psid))
    return ErasureStarted(erasure_id=record.id, state=record.state)


@router.get("/erasures/{erasure_id}", response_model=ErasureOut)
def erasure_status(erasure_id: str, services: ServicesDep, _: ManagerDep) -> ErasureOut:
    record = ErasureRecords(services.tables).get(erasure_id) if re.fullmatch(
        r"er_[0-9a-f]{20}", erasure_id) else None
    if record is None:
        raise Missing.of(f"erasure {erasure_id}")
    return ErasureOut(erasure_id=record.id, state=record.state, step=record.step,
                      counts=record.counts, requested_at=record.requested_at,
                      finished_at=record.finished_at)


@router.get("/customers/{page_id}/{psid}/export", name="export_customer")
def export(page_id: Digits, psid: Digits, services: ServicesDep,
           _: ManagerDep) -> JSONResponse:
    """Everything held about the customer, as one JSON document."""
    _known_page(services, page_id)
    return JSONResponse(export_customer(services, page_id, psid), headers={
        "Content-Disposition": f'attachment; filename="customer-{page_id}-{psid}.json"'})


@router.get("/attachments/{conversation_id}/{attachment_id}",
            name="download_attachment", response_class=StreamingResponse)
def attachment(conversation_id: str, attachment_id: str, services: ServicesDep,
               _: ManagerDep) -> StreamingResponse:
    """A file an export links to."""
    name = attachment_blob(services, conversation_id, attachment_id) if re.fullmatch(
        r"[\w-]{1,100}", conversation_id + attachment_id) else None
    try:
        stream = None if name is None else services.blobs.open_stream(CONTAINER, name)
    except NotFound:
        stream = None
    if stream is None:
        raise Missing.of(f"attachment {attachment_id}")
    headers = download_headers(attachment_id, stream.properties.content_type,
                               stream.properties.size)
    return StreamingResponse(iter(stream), media_type=headers.pop("Content-Type"),
                             headers=headers)


@router.get("/audit", name="list_audit_entries", response_model=AuditList)
def audit(services: ServicesDep, _: ManagerDep,
          from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
          to: AwareDatetime | None = None,
          actor: Annotated[str | None, Query(description="kind or kind:id")] = None,
          action: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_.]{0,79}$")] = None,
          limit: Annotated[int, Query(ge=1, le=500)] = 100,
          cursor: str | None = None) -> AuditList:
    """Entries newest first, ``from`` ≤ at < ``to`` (default: the last 30 days)."""
    end: datetime = to or services.clock.now() + timedelta(seconds=1)
    start: datetime = from_ or end - timedelta(days=30)
    if not start < end or end - start > MAX_AUDIT_RANGE:
        raise ApiError(422, "validation_error", "from must be before to, at most 366 days")
    who = None
    if actor is not None:
        matched = _ACTOR.fullmatch(actor)
        if matched is None:
            raise ApiError(422, "validation_error", "actor: kind or kind:id")
        kind = matched.group(1)
        who = Actor.model_validate({"kind": kind, "id": matched.group(2) or (
            "management_key" if kind == "management" else "")})
    after = None
    if cursor is not None:
        parsed = _CURSOR.fullmatch(cursor)
        if parsed is None:
            raise ApiError(400, "invalid_cursor", "cursor is not a cursor this API issued")
        after = (parsed.group(1), parsed.group(2))
    page = AuditLog(services.tables, services.clock).query(
        start, end, actor=who, action=action, limit=limit, after=after)
    return AuditList(items=page.items,
                     next=None if page.next is None else f"{page.next[0]}~{page.next[1]}")
