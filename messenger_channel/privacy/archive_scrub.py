"""An archived body without one customer's events (pure).

The router archives one event per blob, as its ``inbound`` envelope: an envelope of the
customer's is deleted whole. A whole webhook body (``{"object": "page", "entry": [...]}``, as
older archives and the quarantine keep them) is rewritten without the customer's events, or
deleted when none is left.
"""

from __future__ import annotations

import json
from typing import Any

Outcome = bytes | None  # the rewritten body, or None: delete it


def _involves(event: Any, psid: str) -> bool:
    if not isinstance(event, dict):
        return False
    ids = {str((event.get(side) or {}).get("id")) for side in ("sender", "recipient")
           if isinstance(event.get(side), dict)}
    return psid in ids


def customer_events(body: bytes, psid: str) -> list[Any]:
    """The events of a whole webhook body (as the quarantine keeps it) that involve the
    customer, for their export."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        return []
    found: list[Any] = []
    for entry in data["entry"]:
        if not isinstance(entry, dict):
            continue
        for field in ("messaging", "standby"):
            events = entry.get(field)
            if isinstance(events, list):
                found += [event for event in events if _involves(event, psid)]
    return found


def without_customer(body: bytes, page_id: str, psid: str) -> tuple[Outcome, bool]:
    """(what to keep, whether anything changed)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body, False
    if not isinstance(data, dict):
        return body, False
    if "entry" not in data:  # an envelope: one event
        ours = data.get("customer_psid") == psid and data.get("page_id") == page_id
        return (None, True) if ours or _involves(data.get("raw"), psid) else (body, False)
    changed = False
    entries = []
    for entry in data.get("entry") or []:
        if not isinstance(entry, dict):
            entries.append(entry)
            continue
        kept = dict(entry)
        for field in ("messaging", "standby"):
            events = entry.get(field)
            if isinstance(events, list):
                remaining = [event for event in events if not _involves(event, psid)]
                changed |= len(remaining) != len(events)
                kept[field] = remaining
        if any(kept.get(field) for field in ("messaging", "standby", "changes")):
            entries.append(kept)
        else:
            changed = True
    if not changed:
        return body, False
    if not entries:
        return None, True
    return json.dumps({**data, "entry": entries}, separators=(",", ":")).encode(), True
