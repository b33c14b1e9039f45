"""A send as an explicit state of its message's row: claimed before Graph is called.

    claim_send(messages, row, now=..., grace=...) -> Claimed | Waiting | Settled
    release_claim(messages, claimed)
    SENT_OR_FAILED_CLEARS

Before the sender calls the Send API it writes on the history row, under the row's ETag, an
attempt id and the attempt's start (``send_attempt``, ``send_attempt_at``); only the writer
whose attempt id was stored calls Graph, so two workers holding copies of one queue message
(a lock that expired, a redelivery) never both send. The row stays ``queued`` meanwhile.

The attempt is cleared when its outcome is known: ``sent`` with Facebook's id (the sender's
record or the echo's, ``sender.reconcile_echo``), ``failed``, or an error answer from Graph
(it did not send: ``release_claim``). It stays when the outcome is unknown: the worker died
between the claim and the record, or Graph gave no answer (a timeout). A later delivery that
finds it does not send within the grace (``SEND_ECHO_GRACE_SECONDS``) from the attempt's
start: it waits (``Waiting``: the sender schedules its queue message for then) for Facebook's
echo, which carries our metadata and marks the row ``sent``. After the grace without an echo
the message is claimed again and sent again. Hence: exactly once when the echo of a send
arrives within the grace, at least once otherwise.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from messenger_channel.conversations.models import Message
from messenger_channel.conversations.send_decisions import attempt_pending_until
from messenger_channel.storage.tables import Table

# What every write that settles a send adds: the attempt is over.
SENT_OR_FAILED_CLEARS: dict[str, Any] = {"send_attempt": None, "send_attempt_at": None}


@dataclass(frozen=True)
class Claimed:
    """This worker holds the send: call Graph."""

    row: Message
    attempt: str
    grace_ends: datetime  # when another delivery may claim it again, its outcome unknown


@dataclass(frozen=True)
class Waiting:
    """Another attempt is in flight or of unknown outcome: not before ``until``."""

    until: datetime


@dataclass(frozen=True)
class Settled:
    """The row is no longer ``queued``: sent or failed already."""

    status: str


def claim_send(messages: Table[Message], row: Message, *, now: datetime,
               grace: timedelta) -> Claimed | Waiting | Settled:
    attempt = secrets.token_hex(8)

    def claim(current: Message) -> Message | None:
        if current.status != "queued" or attempt_pending_until(
                current.send_attempt_at, now, grace) is not None:
            return None
        return current.model_copy(update={"send_attempt": attempt, "send_attempt_at": now})

    stored = messages.update(row.conversation_id, row.id, claim)
    if stored.status != "queued":
        return Settled(stored.status)
    if stored.send_attempt == attempt:
        return Claimed(stored, attempt, now + grace)
    until = attempt_pending_until(stored.send_attempt_at, now, grace)
    assert until is not None  # ``claim`` declined the row only for a pending attempt
    return Waiting(until)


def release_claim(messages: Table[Message], claimed: Claimed) -> None:
    """Graph answered with an error: nothing went out, a retry need not wait for an echo."""
    messages.update(claimed.row.conversation_id, claimed.row.id, lambda m: m.model_copy(
        update=SENT_OR_FAILED_CLEARS) if m.send_attempt == claimed.attempt else None)
