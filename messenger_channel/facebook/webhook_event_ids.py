"""Deterministic identities of webhook events: the queue's message id and session id.

Meta retries a delivery it thinks failed, so the same event reaches the webhook more than once;
Service Bus drops a message whose ``MessageId`` it has already seen inside its duplicate
detection window. An event's id is therefore a hash of *what the event is*, never of when or how
often it arrived, and two different events get two different ids even when they share a ``mid``
(an edit, a reaction and the message itself all carry the message's ``mid``).

``event_id = f"{kind}-{sha256(canonical JSON of [kind, page_id, *identity])[:32]}"``: at most
51 characters (``policy_enforcement-`` + 32), 128 bits of hash. The identity of each kind:

================== ==============================================================================
kind               identity (besides kind and page id)
================== ==============================================================================
message, echo      ``mid`` (Meta's own de-duplication key)
message_edit       ``mid`` + ``num_edit`` (each edit of a message is its own event)
reaction           ``mid`` + ``action`` + ``reaction`` + ``emoji`` + sender + timestamp
                   (react and unreact differ; the same person may react again later)
read               sender + ``watermark``
delivery           sender + ``watermark`` + the ``mids``, sorted
postback           ``mid`` when present, else sender + timestamp + ``payload``
referral, optin,   sender + recipient + timestamp + the whole kind object as sent (``referral``,
handover, policy   ``optin``, the handover action with its fields, ``policy_enforcement``)
unknown            the whole raw event, as canonical JSON (sorted keys)
================== ==============================================================================

Sender and recipient stand for their ``id`` and ``user_ref`` (a Chat Plugin guest has only the
latter). The fields are read from the event as Meta sent it, not from its validated model: the
webhook computes ids without building models (see :func:`.webhook_events.split_webhook`), and the
full parse must give the same ids. Canonical JSON sorts keys, so key order never changes an id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

# Service Bus allows 128 characters for a session id. Ids are digits, so "{page}:{psid}" is far
# below that; an id that is not (only a forged or broken payload) is hashed to a fixed length.
MAX_SESSION_ID_CHARS = 128
HASH_HEX_CHARS = 32


@dataclass(frozen=True)
class _Identity:
    """What identifies one kind of event: fields of its data (``None``: the whole data object)
    and fields of its envelope (``sender``, ``recipient``, ``timestamp``, ``raw``); when one of
    the data fields is missing, the ``otherwise`` identity applies (a postback without a mid is
    identified by who, when and what)."""

    data: tuple[str, ...] | None
    envelope: tuple[str, ...] = ()
    otherwise: _Identity | None = None


_PEOPLE_AND_TIME = ("sender", "recipient", "timestamp")
_WHOLE_OBJECT = _Identity(None, _PEOPLE_AND_TIME)

IDENTITIES: Mapping[str, _Identity] = {
    "message": _Identity(("mid",)),
    "echo": _Identity(("mid",)),
    "message_edit": _Identity(("mid", "num_edit")),
    "reaction": _Identity(("mid", "action", "reaction", "emoji"), ("sender", "timestamp")),
    "read": _Identity(("watermark",), ("sender",)),
    "delivery": _Identity(("watermark", "mids"), ("sender",)),
    "postback": _Identity(("mid",), otherwise=_Identity(("payload",), ("sender", "timestamp"))),
    "referral": _WHOLE_OBJECT,
    "optin": _WHOLE_OBJECT,
    "handover": _WHOLE_OBJECT,
    "policy_enforcement": _WHOLE_OBJECT,
    "unknown": _Identity((), ("raw",)),
}


# Built once: json.dumps with options builds an encoder on every call.
_STDLIB_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _canonical_json(value: object) -> bytes:
    """Key order and whitespace never change the text (nor, so, an id)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)  # an eighth of json's cost
    except TypeError:
        # orjson refuses integers beyond 64 bits, which json.loads reads; the same value always
        # takes the same branch, so its id stays the same.
        return _STDLIB_CANONICAL.encode(value).encode("ascii")


def event_id(kind: str, page_id: str, data: Mapping[str, object],
             envelope: Callable[[str], object]) -> str:
    """The deterministic id of one event (see the module's table). ``data`` is the JSON object
    of the event's kind as Meta sent it (empty for unknown); ``envelope(name)`` reads the other
    fields the table names, only those the identity uses (most use none).

    Plain loops, not comprehensions: this runs for every event on the webhook's hot path, and
    a comprehension costs twice as much for one or two fields."""
    identity = IDENTITIES[kind]
    while identity.otherwise is not None and identity.data is not None and any(
            data.get(name) is None for name in identity.data):
        identity = identity.otherwise
    values: list[object] = [kind, page_id]
    if identity.data is None:
        values.append(data)
    else:
        for name in identity.data:
            value = data.get(name)
            # A list's order carries no meaning (a delivery's mids come in any order).
            values.append(sorted(value) if isinstance(value, list) else value)
    for name in identity.envelope:
        values.append(envelope(name))
    digest = hashlib.sha256(_canonical_json(values)).hexdigest()
    return f"{kind}-{digest[:HASH_HEX_CHARS]}"


def session_id(page_id: str, psid: str | None, user_ref: str | None) -> str:
    """Per-customer order: ``{page_id}:{psid}``, ``{page_id}:user_ref:{ref}`` for a Chat Plugin
    guest, ``{page_id}:page`` for events that concern no customer."""
    customer = psid or (f"user_ref:{user_ref}" if user_ref else "page")
    natural = f"{page_id}:{customer}"
    if len(natural) <= MAX_SESSION_ID_CHARS:
        return natural
    return f"h:{hashlib.sha256(natural.encode('utf-8', 'surrogatepass')).hexdigest()}"
