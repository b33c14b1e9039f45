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
referral, optin,   sender + recipient + timestamp + the whole kind object (``referral``,
handover, policy   ``optin``, the handover action with its fields, ``policy_enforcement``)
unknown            the whole raw event, as canonical JSON (sorted keys)
================== ==============================================================================

Sender and recipient stand for their ``id`` and ``user_ref`` (a Chat Plugin guest has only the
latter). Canonical JSON sorts keys and escapes non-ASCII, so key order and surrogates in the
payload never change an id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel

# Service Bus allows 128 characters for a session id. Ids are digits, so "{page}:{psid}" is far
# below that; an id that is not (only a forged or broken payload) is hashed to a fixed length.
MAX_SESSION_ID_CHARS = 128
HASH_HEX_CHARS = 32


@dataclass(frozen=True)
class _Identity:
    """What identifies one kind of event: fields of its data (``None``: the whole data object)
    and fields of its envelope (``sender``, ``recipient``, ``timestamp``, ``raw``)."""

    data: tuple[str, ...] | None
    envelope: tuple[str, ...] = ()


_PEOPLE_AND_TIME = ("sender", "recipient", "timestamp")
_WHOLE_OBJECT = _Identity(None, _PEOPLE_AND_TIME)

# The alternatives of a kind are tried in order: the first whose data fields are all present
# wins, else the last applies (a postback without a mid is identified by who, when and what).
IDENTITIES: Mapping[str, tuple[_Identity, ...]] = {
    "message": (_Identity(("mid",)),),
    "echo": (_Identity(("mid",)),),
    "message_edit": (_Identity(("mid", "num_edit")),),
    "reaction": (_Identity(("mid", "action", "reaction", "emoji"), ("sender", "timestamp")),),
    "read": (_Identity(("watermark",), ("sender",)),),
    "delivery": (_Identity(("watermark", "mids"), ("sender",)),),
    "postback": (_Identity(("mid",)), _Identity(("payload",), ("sender", "timestamp"))),
    "referral": (_WHOLE_OBJECT,),
    "optin": (_WHOLE_OBJECT,),
    "handover": (_WHOLE_OBJECT,),
    "policy_enforcement": (_WHOLE_OBJECT,),
    "unknown": (_Identity((), ("raw",)),),
}


# Built once: json.dumps with options builds an encoder on every call, a third of an id's cost.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _canonical_json(value: object) -> str:
    """Key order, whitespace and non-ASCII never change the text (nor, so, an id)."""
    return _CANONICAL.encode(value)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:HASH_HEX_CHARS]


def _values(data: BaseModel | None, fields: tuple[str, ...] | None) -> list[object]:
    if fields is None:
        return [data.model_dump(mode="json") if data is not None else None]
    values = [getattr(data, name, None) for name in fields]
    # A list's order carries no meaning in an identity (a delivery's mids come in any order).
    return [sorted(value) if isinstance(value, list) else value for value in values]


def event_id(kind: str, page_id: str, data: BaseModel | None,
             envelope: Mapping[str, object]) -> str:
    """The deterministic id of one event (see the module's table)."""
    alternatives = IDENTITIES[kind]
    for identity in alternatives:
        values = _values(data, identity.data)
        if None not in values or identity is alternatives[-1]:
            break
    values += [envelope.get(name) for name in identity.envelope]
    return f"{kind}-{_short_hash(_canonical_json([kind, page_id, *values]))}"


def session_id(page_id: str, customer: str | None) -> str:
    """``{page_id}:{customer}``, or ``{page_id}:page`` for events that concern no customer."""
    natural = f"{page_id}:{customer if customer is not None else 'page'}"
    if len(natural) <= MAX_SESSION_ID_CHARS:
        return natural
    return f"h:{hashlib.sha256(natural.encode('utf-8', 'surrogatepass')).hexdigest()}"
