"""What the ``auto_close`` timer decides for one conversation, pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

# Inactivity closes these (API.md names waiting and active; a survey the customer abandoned
# would otherwise stay open for ever).
INACTIVE_CLOSES = ("survey", "waiting", "active")

AutoClose = Literal["inactive", "wrap_up_over"]


def auto_close_decision(*, state: str, last_activity_at: datetime,
                        wrap_up_ends_at: datetime | None, auto_close_after_minutes: int,
                        now: datetime) -> AutoClose | None:
    """``inactive``: close it after sending the ``session_ended`` message (no activity for
    ``auto_close_after_minutes``); ``wrap_up_over``: close it, its wrap-up has ended; None:
    leave it."""
    idle_until = last_activity_at + timedelta(minutes=auto_close_after_minutes)
    if state in INACTIVE_CLOSES and idle_until <= now:
        return "inactive"
    if state == "wrap_up" and wrap_up_ends_at is not None and wrap_up_ends_at <= now:
        return "wrap_up_over"
    return None
