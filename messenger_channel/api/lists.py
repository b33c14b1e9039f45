"""List answers: ``{"items", "next", "since"}`` with opaque page and change cursors.

``next`` pages through the current answer; ``since`` is a change cursor: passing it back
returns only what changed after it (an empty list when nothing did).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel

from messenger_channel.api.errors import ApiError

T = TypeVar("T")
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


class ListPage(BaseModel, Generic[T]):
    items: list[T]
    next: str | None
    since: str


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, name: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_cursor", f"{name} is not a cursor this API issued") from None


def change_cursor(moment: datetime | None) -> str:
    return _encode((moment or datetime(1970, 1, 1, tzinfo=UTC)).isoformat())


def parse_change_cursor(since: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_decode(since, "since"))
    except ValueError:
        raise ApiError(400, "invalid_cursor", "since is not a cursor this API issued") from None
    if moment.tzinfo is None:
        raise ApiError(400, "invalid_cursor", "since is not a cursor this API issued")
    return moment


def cursor_offset(cursor: str | None) -> int:
    """How many items the pages before ``cursor`` held (0 for the first page): a source that
    reads in order reads that many plus a page."""
    if cursor is None:
        return 0
    raw = _decode(cursor, "cursor")
    if not raw.isdigit():
        raise ApiError(400, "invalid_cursor", "cursor is not a cursor this API issued")
    return int(raw)


def paginate(items: Sequence[T], *, changed_at: Callable[[T], datetime],
             cursor: str | None = None, since: str | None = None,
             limit: int = DEFAULT_LIMIT, oldest_first: bool = False) -> ListPage[T]:
    """Newest activity first (or oldest first, for messages); ``limit`` items per page."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(422, "validation_error", f"limit: must be between 1 and {MAX_LIMIT}",
                       [{"field": "limit", "message": f"must be between 1 and {MAX_LIMIT}"}])
    latest = max((changed_at(item) for item in items), default=None)
    selected = list(items)
    if since is not None:
        after = parse_change_cursor(since)
        selected = [item for item in selected if changed_at(item) > after]
        latest = max(latest, after) if latest is not None else after
    selected.sort(key=changed_at, reverse=not oldest_first)
    start = cursor_offset(cursor)
    page = selected[start:start + limit]
    more = start + limit < len(selected)
    return ListPage[T](items=page, next=_encode(str(start + limit)) if more else None,
                       since=change_cursor(latest))
