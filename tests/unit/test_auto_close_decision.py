"""What the auto-close timer decides for one conversation (``auto_close_decision``); pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from messenger_channel.conversations.auto_close import AutoClose, auto_close_decision

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
STATES = ("survey", "waiting", "offered", "active", "wrap_up", "closed")
SECOND = timedelta(seconds=1)


def decide(state: str, *, idle: timedelta = timedelta(0), wrap_up_left: timedelta | None = None,
           minutes: int = 60) -> AutoClose | None:
    return auto_close_decision(
        state=state, last_activity_at=NOW - idle,
        wrap_up_ends_at=None if wrap_up_left is None else NOW + wrap_up_left,
        auto_close_after_minutes=minutes, now=NOW)


def test_inactivity_closes_survey_waiting_offered_and_active_at_the_limit() -> None:
    for state in ("survey", "waiting", "offered", "active"):
        assert decide(state, idle=timedelta(minutes=60)) == "inactive"
        assert decide(state, idle=timedelta(minutes=60) - SECOND) is None
        assert decide(state, idle=timedelta(days=3)) == "inactive"


def test_inactivity_leaves_wrap_up_and_closed() -> None:
    for state in ("wrap_up", "closed"):
        assert decide(state, idle=timedelta(days=3)) is None


def test_wrap_up_closes_when_it_ends() -> None:
    assert decide("wrap_up", wrap_up_left=timedelta(0)) == "wrap_up_over"
    assert decide("wrap_up", wrap_up_left=-timedelta(hours=1)) == "wrap_up_over"
    assert decide("wrap_up", wrap_up_left=SECOND) is None


def test_a_wrap_up_end_outside_wrap_up_closes_nothing() -> None:
    for state in ("active", "waiting", "offered", "closed"):
        assert decide(state, wrap_up_left=-timedelta(hours=1)) is None


@given(st.sampled_from(STATES), st.timedeltas(timedelta(0), timedelta(days=10)),
       st.none() | st.timedeltas(-timedelta(days=1), timedelta(days=1)),
       st.integers(1, 10_080))
def test_closes_only_what_is_due(state: str, idle: timedelta, wrap_up_left: timedelta | None,
                                 minutes: int) -> None:
    decision = decide(state, idle=idle, wrap_up_left=wrap_up_left, minutes=minutes)
    if decision == "inactive":
        assert state in ("survey", "waiting", "offered", "active")
        assert idle >= timedelta(minutes=minutes)
    elif decision == "wrap_up_over":
        assert state == "wrap_up" and wrap_up_left is not None and wrap_up_left <= timedelta(0)
    else:
        assert (state not in ("survey", "waiting", "offered", "active")
                or idle < timedelta(minutes=minutes))
        assert state != "wrap_up" or wrap_up_left is None or wrap_up_left > timedelta(0)
