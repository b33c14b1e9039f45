"""The sender's choices, pure: send a message or park it behind a retry, and what a Graph
error leads to (retry later, fail with a reason, refuse the page's token). ``sender`` reads
and writes the state; these decide."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from messenger_channel.facebook.graph_errors import FailureReason

MAX_ATTEMPTS = 6
FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(minutes=15)
_random = secrets.SystemRandom()

Start = Literal["park", "skip", "parked_first", "send"]


def retry_delay(attempt: int, jitter: float | None = None) -> timedelta:
    """Exponential from ``FIRST_RETRY``, capped, with jitter (half to all of it: ``jitter``
    in [0.5, 1], random when None) so that a page's conversations throttled together do not
    come back together."""
    ceiling = min(LONGEST_RETRY, FIRST_RETRY * (1 << (attempt - 1)))
    return ceiling * (_random.uniform(0.5, 1.0) if jitter is None else jitter)


def waits_for(retrying: str | None, message_id: str) -> str | None:
    """The message ``message_id`` may have to wait behind: the one the conversation's cursor
    waits to retry, unless that is this very message (its retry has come)."""
    return None if retrying in (None, message_id) else retrying


def start(*, retrying: str | None, message_id: str, retrying_still_queued: bool,
          has_parked: bool, settled: bool = False) -> Start:
    """What a delivery of ``message_id`` does first. ``retrying``: the message the cursor
    waits to retry; ``retrying_still_queued``: whether that one is still to be sent (the
    echo may have recorded it meanwhile); ``has_parked``: messages are parked; ``settled``:
    this message is sent or failed already (a stale copy, or a redelivery after a crash).

    - ``park``: another message waits for its retry: this one goes behind it;
    - ``skip``: the same, but this one needs nothing (settled): not parked again;
    - ``parked_first``: no retry pending but messages are parked: the oldest goes now, this
      one behind them (unless settled);
    - ``send``: send it (a retry's own delivery sends itself; a settled one is only checked)
      and then let the next parked one go."""
    if waits_for(retrying, message_id) is not None and retrying_still_queued:
        return "skip" if settled else "park"
    if has_parked and retrying != message_id:
        return "parked_first"
    return "send"


def attempt_pending_until(attempt_at: datetime | None, now: datetime,
                          grace: timedelta) -> datetime | None:
    """Until when an earlier attempt (started ``attempt_at``, outcome unknown) keeps a new
    one from being made: its echo may still come. None when there is none or its grace is
    over."""
    if attempt_at is None or now >= attempt_at + grace:
        return None
    return attempt_at + grace


@dataclass(frozen=True)
class Retry:
    at: datetime


@dataclass(frozen=True)
class Fail:
    reason: FailureReason
    token_refused: bool = False  # Facebook refused the page's token: mark it before failing


def after_graph_error(*, token_invalid: bool, retryable: bool, reason: FailureReason,
                      attempt: int, now: datetime, max_attempts: int = MAX_ATTEMPTS,
                      jitter: float | None = None) -> Retry | Fail:
    """A send that Graph refused, from the error's classification: a refused token fails the
    message at once and marks the token; a retryable error (throttling, 5xx, timeout) is tried
    again after ``retry_delay`` until ``max_attempts``; anything else fails with ``reason``."""
    if token_invalid:
        return Fail(reason, token_refused=True)
    if retryable and attempt < max_attempts:
        return Retry(now + retry_delay(attempt, jitter))
    return Fail(reason)
