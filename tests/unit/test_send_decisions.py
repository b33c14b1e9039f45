"""The sender's choices (``send_decisions``): park or send, retry or fail; pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from messenger_channel.conversations.send_decisions import (
    FIRST_RETRY,
    LONGEST_RETRY,
    MAX_ATTEMPTS,
    Fail,
    Retry,
    after_graph_error,
    retry_delay,
    start,
    waits_for,
)
from messenger_channel.facebook.graph_errors import FailureReason

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
REASON = FailureReason.FACEBOOK_ERROR


# -- park or send -------------------------------------------------------------------------

def test_a_message_waits_only_for_another_message() -> None:
    assert waits_for(None, "m2") is None
    assert waits_for("m2", "m2") is None  # its own retry has come
    assert waits_for("m1", "m2") == "m1"


def test_behind_a_pending_retry_a_message_is_parked() -> None:
    for parked in (False, True):
        assert start(retrying="m1", message_id="m2", retrying_still_queued=True,
                     has_parked=parked) == "park"


def test_a_retry_already_sent_holds_nothing_back() -> None:
    assert start(retrying="m1", message_id="m2", retrying_still_queued=False,
                 has_parked=False) == "send"
    assert start(retrying="m1", message_id="m2", retrying_still_queued=False,
                 has_parked=True) == "parked_first"


def test_the_retry_itself_is_sent_before_what_was_parked_behind_it() -> None:
    assert start(retrying="m1", message_id="m1", retrying_still_queued=True,
                 has_parked=True) == "send"


def test_parked_messages_left_by_an_interruption_go_first() -> None:
    assert start(retrying=None, message_id="m3", retrying_still_queued=False,
                 has_parked=True) == "parked_first"


def test_nothing_pending_sends() -> None:
    assert start(retrying=None, message_id="m1", retrying_still_queued=False,
                 has_parked=False) == "send"


# -- after a Graph error ------------------------------------------------------------------

def decide(*, token_invalid: bool = False, retryable: bool = False, attempt: int = 1,
           reason: FailureReason = REASON) -> Retry | Fail:
    return after_graph_error(token_invalid=token_invalid, retryable=retryable, reason=reason,
                             attempt=attempt, now=NOW, jitter=1.0)


def test_a_refused_token_fails_at_once_and_marks_the_token() -> None:
    for retryable in (False, True):
        assert decide(token_invalid=True, retryable=retryable,
                      reason=FailureReason.PAGE_TOKEN_INVALID) == Fail(
            FailureReason.PAGE_TOKEN_INVALID, token_refused=True)


def test_a_retryable_error_is_retried_after_the_delay() -> None:
    assert decide(retryable=True, attempt=1) == Retry(NOW + FIRST_RETRY)
    assert decide(retryable=True, attempt=3) == Retry(NOW + 4 * FIRST_RETRY)


def test_the_last_attempt_fails_with_the_reason() -> None:
    assert isinstance(decide(retryable=True, attempt=MAX_ATTEMPTS - 1), Retry)
    assert decide(retryable=True, attempt=MAX_ATTEMPTS) == Fail(REASON)


def test_other_errors_fail_at_once() -> None:
    unavailable = FailureReason.CUSTOMER_UNAVAILABLE
    assert decide(reason=unavailable) == Fail(unavailable)


def test_a_throttled_message_is_tried_max_attempts_times_in_all() -> None:
    attempt, sends = 1, 1
    while isinstance(decide(retryable=True, attempt=attempt), Retry):
        attempt, sends = attempt + 1, sends + 1
    assert sends == MAX_ATTEMPTS


@given(st.integers(min_value=1, max_value=40), st.floats(min_value=0.5, max_value=1.0))
def test_retry_delays_stay_between_half_the_first_and_the_longest(
        attempt: int, jitter: float) -> None:
    delay = retry_delay(attempt, jitter)
    assert FIRST_RETRY / 2 <= delay <= LONGEST_RETRY
    assert retry_delay(attempt + 1, jitter) >= delay  # never shorter for a later attempt


@given(st.integers(min_value=1, max_value=40))
def test_random_jitter_is_half_to_all_of_the_ceiling(attempt: int) -> None:
    ceiling = min(LONGEST_RETRY, FIRST_RETRY * 2 ** (attempt - 1))
    assert ceiling / 2 <= retry_delay(attempt) <= ceiling


def test_retry_delay_bounds() -> None:
    assert retry_delay(1, 0.5) == timedelta(seconds=5)
    assert retry_delay(1, 1.0) == FIRST_RETRY
    assert retry_delay(2, 1.0) == 2 * FIRST_RETRY
    assert retry_delay(7, 1.0) == timedelta(seconds=640)
    assert retry_delay(8, 1.0) == LONGEST_RETRY  # 1280 s, capped at 15 minutes
