"""``GET /api/manage/quarantine``: what the webhook or the router accepted from Meta but could
not use, newest first, with the reason and a redacted excerpt (never a customer's words or a
token: see ``ingress/quarantine.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from messenger_channel.api.auth import ManagerDep, ServicesDep
from messenger_channel.api.errors import ApiError
from messenger_channel.api.lists import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    ListPage,
    change_cursor,
    parse_change_cursor,
)
from messenger_channel.api.types import ApiTime
from messenger_channel.ingress.quarantine import QuarantineEntry
from messenger_channel.ingress.webhook import build_quarantine
from messenger_channel.storage.errors import InvalidContinuation

router = APIRouter(prefix="/api/manage", tags=["health"])


class QuarantinedOut(BaseModel):
    id: str
    at: ApiTime
    account_id: str
    page_id: str | None  # null when the event named none that is a Messenger id
    reason: str
    excerpt: str  # the event's shape: keys, numbers and ids; other strings as "<N chars>"
    blob: str | None  # "<container>/<name>" of the bytes as they arrived


@router.get("/quarantine", response_model=ListPage[QuarantinedOut])
def list_quarantine(
    services: ServicesDep, _: ManagerDep, since: str | None = None, cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ListPage[QuarantinedOut]:
    """Newest first; ``cursor`` is the previous answer's ``next``; ``since`` (a ``since`` of an
    earlier answer) gives only what was quarantined after it."""
    after = None if since is None else parse_change_cursor(since)
    try:
        page = build_quarantine(services).page(limit=limit, continuation=cursor, after=after)
    except InvalidContinuation:
        raise ApiError(400, "invalid_cursor", "cursor is not a cursor this API issued") from None
    latest: datetime | None = max((entry.at for entry in page.items), default=after)
    return ListPage[QuarantinedOut](items=[_out(entry) for entry in page.items],
                                    next=page.next, since=change_cursor(latest))


def _out(entry: QuarantineEntry) -> QuarantinedOut:
    return QuarantinedOut(id=f"{entry.day_key}.{entry.row_id}", at=entry.at,
                          account_id=entry.account_id, page_id=entry.page_id,
                          reason=entry.reason, excerpt=entry.excerpt, blob=entry.blob)
