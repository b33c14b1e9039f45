"""The pure parts of the send claim: how long an attempt of unknown outcome holds off a new
one, and what a delivery does with a message already settled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from messenger_channel.conversations.send_decisions import attempt_pending_until, start

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=60)


def test_no_attempt_holds_nothing_off() -> None:
    assert attempt_pending_until(None, T0, GRACE) is None


@pytest.mark.parametrize(("elapsed", "pending"), [
    (timedelta(0), True),
    (timedelta(seconds=59.999), True),
    (timedelta(seconds=60), False),
    (timedelta(hours=2), False),
])
def test_an_attempt_holds_a_new_one_off_until_its_grace_is_over(elapsed: timedelta,
                                                               pending: bool) -> None:
    until = attempt_pending_until(T0, T0 + elapsed, GRACE)
    assert until == (T0 + GRACE if pending else None)


def test_a_settled_copy_behind_a_retry_is_skipped_not_parked_again() -> None:
    for settled, choice in ((False, "park"), (True, "skip")):
        assert start(retrying="m1", message_id="m2", retrying_still_queued=True,
                     has_parked=True, settled=settled) == choice


def test_a_settled_copy_lets_the_oldest_parked_go() -> None:
    # A redelivery after a crash between a send and the resume of the next parked message.
    assert start(retrying=None, message_id="m2", retrying_still_queued=False,
                 has_parked=True, settled=True) == "parked_first"
    assert start(retrying="m2", message_id="m2", retrying_still_queued=False,
                 has_parked=True, settled=True) == "send"
