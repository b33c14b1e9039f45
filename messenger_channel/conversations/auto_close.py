"""What the ``auto_close`` timer decides for one conversation, pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

# Inactivity closes these (API.md names waiting and active; a survey the customer abandoned
# would otherwise stay open for ever, and so would a conversation with a bot that never
# escalates, or an offer nobody accepts: passed from agent to agent long after the customer
# left).
INACTIVE_CLOSES = ("bot", "survey", "waiting", "offered", "active")

AutoClose = Literal["inactive", "wrap_up_over"]
# A conversation of a page without a workstream never closes by itself; the timer still looks
# at it once a day (its rows are checked, and a workstream may have come).
DEFAULT_AUTO_CLOSE_MINUTES = 1440
RELOOK = timedelta(minutes=30)


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


def next_look(*, state: str, last_activity_at: datetime, wrap_up_ends_at: datetime | None,
              auto_close_after_minutes: int | None, now: datetime) -> datetime:
    """When the timer should look at an open conversation again: the end of its wrap-up, or
    when it would become inactive; always after ``now``."""
    if auto_close_after_minutes is None:
        return now + timedelta(minutes=DEFAULT_AUTO_CLOSE_MINUTES)
    if state == "wrap_up" and wrap_up_ends_at is not None:
        target = wrap_up_ends_at
    else:
        target = last_activity_at + timedelta(minutes=auto_close_after_minutes)
    # Due but not closed (it changed as the timer looked): look again a little later.
    return target if target > now else now + RELOOK
