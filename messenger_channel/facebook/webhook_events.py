"""Messenger webhook payloads: pydantic models, and their normalisation into one event each.

Meta posts ``{"object": "page", "entry": [{"id": PAGE_ID, "time", "messaging": [...]}]}``; an
entry carries ``standby`` instead of ``messaging`` for a thread that another app (the Page
Inbox, a bot) controls. Each item of either list is one event, and becomes the body of one
``inbound`` queue message. Reading an event happens in two steps, for two readers:

- :func:`split_webhook` (the webhook: it must answer Meta fast) gives each event as a
  :class:`RawEvent`: its kind, page, customer and id, and its JSON, without building models;
- :func:`parse_event` (the router, from the queue message) gives the validated
  :class:`InboundEvent`, with the same kind and id. :func:`parse_webhook` does both for a body.

Both decide the kind, the customer and the id in one place (``_identify``); the models decide
whether an event's data is valid as its kind, and the split asks them too unless the data's
plain shape, read from the same models, already says so (``_PlainShape``).

An event's kind is given by its first known key, checked in this order (an unknown key beside a
known one changes nothing; it is kept with the event):

============================================================= ==================
key                                                           kind
============================================================= ==================
``message`` with ``is_echo: true`` / without                  echo / message
``message_edit``, ``reaction``, ``read``, ``delivery``,       the key's name
``postback``, ``referral``, ``optin``
``pass_thread_control``, ``take_thread_control``,             handover
``request_thread_control``, ``app_roles``
``policy_enforcement`` (webhook field                         policy_enforcement
``messaging_policy_enforcement``)
none of these                                                 unknown
============================================================= ==================

The customer is the sender, except for an echo, whom the Page wrote to (the recipient); a policy
enforcement and a change of app roles concern no customer. A Chat Plugin guest has a
``user_ref`` instead of a PSID.

Nothing is dropped quietly, since a customer's message must reach an agent whatever its shape:
an event that fails validation as its kind (or has no customer where its kind needs one) is kept
as ``unknown`` with its raw JSON and the problem; an entry without a usable ``id`` takes the page
from the event (the sender of an echo, else the recipient); whatever still cannot be an event
(not an object, no page at all, nested too deep to be read back from a queue message) is listed
in :attr:`RawBatch.rejected` with the reason. So is an event that no store could hold as it is:
a page or customer id that is not a Messenger id (digits, at most ``MAX_ID_DIGITS``; they become
Table keys and queue sessions, so they are checked here, once, where they enter), an event larger
than a queue message takes (``MAX_EVENT_BYTES``), or a string other than a message's text longer
than ``MAX_FIELD_CHARS`` (a text of any length is kept: the router stores a long one in Blob).
Strings that cannot be encoded (a lone UTF-16 surrogate from a broken ``\\ud83d`` escape) are
replaced by U+FFFD, so that every event can be serialised; the archive keeps the signed bytes.

Event and session ids are described in :mod:`.webhook_event_ids`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticSerializationError, to_json

from messenger_channel.facebook.webhook_event_ids import event_id, session_id

EventKind = Literal["message", "echo", "postback", "read", "delivery", "reaction",
                    "message_edit", "referral", "optin", "handover", "policy_enforcement",
                    "unknown"]
EventSource = Literal["messaging", "standby"]
HandoverAction = Literal["pass_thread_control", "take_thread_control",
                         "request_thread_control", "app_roles"]

# The attachment types Meta documents for messages and echoes (2026); any other is kept too.
KNOWN_ATTACHMENT_TYPES = frozenset({
    "image", "audio", "video", "file", "sticker", "fallback", "template", "reel", "ig_reel",
    "post", "ig_post", "appointment_booking",
})
# Enough of a validation error for a person to see what was wrong; the raw event has the rest.
MAX_PROBLEM_CHARS = 300
# pydantic's JSON parser stops at 200 levels; an event sits a level or two down in a queue
# message. Meta's events are a few levels deep.
MAX_EVENT_DEPTH = 128
# Page ids and PSIDs are decimal strings (64-bit numbers today); the bound leaves room to grow.
MAX_ID_DIGITS = 32
# Service Bus Standard takes 256 KB per message; the envelope around the event needs under 1 KB.
MAX_EVENT_BYTES = 192 * 1024
# Meta's own limits are far below (payloads 1,000, titles 20, attachment URLs ~1,000); a Table
# string property holds 32 Ki UTF-16 units.
MAX_FIELD_CHARS = 8000
# The strings that may be longer: a customer's words, stored whole by the router.
LONG_TEXT_PATHS = frozenset({("message", "text"), ("message_edit", "text")})
_SOURCES: tuple[EventSource, ...] = get_args(EventSource)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_MESSENGER_ID = re.compile(rf"[0-9]{{1,{MAX_ID_DIGITS}}}")


def _number_to_str(value: object) -> object:
    """Meta sends most ids as strings, but ``app_id``, ``sticker_id`` and ``ad_id`` as numbers."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Id = Annotated[str, BeforeValidator(_number_to_str)]


class _Open(BaseModel):
    """Meta adds fields without notice: unknown ones are kept (and serialised), never refused."""

    model_config = ConfigDict(extra="allow", frozen=True)


class QuickReply(_Open):
    payload: str | None = None


class ReplyTo(_Open):
    mid: str | None = None
    is_self_reply: bool | None = None


class Command(_Open):
    name: str


class Referral(_Open):
    """An m.me link, an ad, the Chat Plugin...: standalone, or inside a message or postback."""

    ref: Id | None = None
    source: str | None = None
    type: str | None = None
    ad_id: Id | None = None
    referer_uri: str | None = None
    is_guest_user: bool | None = None
    ads_context_data: dict[str, Any] | None = None


class Attachment(_Open):
    """One attachment. ``url``, ``title`` and ``sticker_id`` are read from the attachment or its
    ``payload`` (the shape differs between types and Graph versions); ``payload`` stays raw."""

    type: str | None = None
    url: str | None = None
    title: str | None = None
    sticker_id: Id | None = None
    payload: Any = None
    known: bool = False

    @model_validator(mode="before")
    @classmethod
    def _lift_from_payload(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        lifted = dict(data)
        inner = data.get("payload")
        if isinstance(inner, dict):
            for name in ("url", "title", "sticker_id"):
                value = _number_to_str(inner.get(name))
                if lifted.get(name) is None and isinstance(value, str):
                    lifted[name] = value
        kind = data.get("type")
        lifted["known"] = isinstance(kind, str) and kind in KNOWN_ATTACHMENT_TYPES
        return lifted


class MessageData(_Open):
    mid: str
    text: str | None = None
    quick_reply: QuickReply | None = None
    reply_to: ReplyTo | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    commands: list[Command] = Field(default_factory=list)
    referral: Referral | None = None


class EchoData(MessageData):
    """A message the Page sent: through our app, another app (Page Inbox: 263902037430900) or
    a phone. ``app_id`` arrives as a JSON number and is kept as a string, like every id."""

    is_echo: bool = True
    app_id: Id | None = None
    metadata: str | None = None


class PostbackData(_Open):
    mid: str | None = None
    title: str | None = None
    payload: str | None = None
    referral: Referral | None = None


class ReadData(_Open):
    watermark: int


class DeliveryData(_Open):
    watermark: int
    mids: list[str] = Field(default_factory=list)


class ReactionData(_Open):
    mid: str
    action: Literal["react", "unreact"]
    reaction: str | None = None
    emoji: str | None = None


class MessageEditData(_Open):
    mid: str
    text: str | None = None
    num_edit: int | None = None


class OptinData(_Open):
    type: str | None = None
    payload: str | None = None
    ref: Id | None = None
    user_ref: str | None = None
    notification_messages_token: str | None = None
    one_time_notif_token: str | None = None
    title: str | None = None


class HandoverData(_Open):
    """One handover protocol event; ``action`` is the key it came under."""

    action: HandoverAction
    new_owner_app_id: Id | None = None
    previous_owner_app_id: Id | None = None
    requested_owner_app_id: Id | None = None
    metadata: str | None = None
    app_roles: dict[str, list[str]] | None = None


class PolicyEnforcementData(_Open):
    action: str
    reason: str | None = None


KindData = (MessageData | PostbackData | ReadData | DeliveryData | ReactionData
            | MessageEditData | Referral | OptinData | HandoverData | PolicyEnforcementData)

# Each kind's data model; InboundEvent has one field per kind, of the same name.
_DATA_MODELS: dict[EventKind, type[KindData]] = {
    "message": MessageData, "echo": EchoData, "postback": PostbackData, "read": ReadData,
    "delivery": DeliveryData, "reaction": ReactionData, "message_edit": MessageEditData,
    "referral": Referral, "optin": OptinData, "handover": HandoverData,
    "policy_enforcement": PolicyEnforcementData,
}
# The keys that make a kind, in the order they are looked for.
_KIND_KEYS: tuple[tuple[str, EventKind], ...] = (
    ("message", "message"), ("message_edit", "message_edit"), ("reaction", "reaction"),
    ("read", "read"), ("delivery", "delivery"), ("postback", "postback"),
    ("referral", "referral"), ("optin", "optin"),
    *((action, "handover") for action in get_args(HandoverAction)),
    ("policy_enforcement", "policy_enforcement"),
)
# Kinds that mean nothing without a person to answer or to mark as having read.
_NEEDS_CUSTOMER = frozenset({"message", "echo", "postback", "read", "delivery", "reaction",
                             "message_edit", "referral"})


class InboundEvent(BaseModel):
    """One webhook event, validated: what the router works with (see :func:`parse_event`)."""

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    source: EventSource
    event_id: str
    page_id: str
    customer_psid: str | None = None
    customer_user_ref: str | None = None
    sender_id: str | None = None
    recipient_id: str | None = None
    timestamp: int | None = None  # Facebook's, in milliseconds
    message: MessageData | None = None
    echo: EchoData | None = None
    postback: PostbackData | None = None
    read: ReadData | None = None
    delivery: DeliveryData | None = None
    reaction: ReactionData | None = None
    message_edit: MessageEditData | None = None
    referral: Referral | None = None
    optin: OptinData | None = None
    handover: HandoverData | None = None
    policy_enforcement: PolicyEnforcementData | None = None
    problem: str | None = None  # why an event of a known key is "unknown"
    raw: dict[str, Any]  # the event as Meta sent it (the router stores it)

    @property
    def data(self) -> KindData | None:
        """The data of the event's kind (None for ``unknown``)."""
        found: KindData | None = getattr(self, self.kind, None)
        return found

    @property
    def session_id(self) -> str:
        return session_id(self.page_id, self.customer_psid, self.customer_user_ref)


class RawEvent(NamedTuple):
    """One event as the webhook hands it on: what routing and de-duplication need, read from
    the JSON without building models, and the JSON itself. Kind and id are those the full
    parse gives (:func:`parse_event`), which the router runs on the queue message. A tuple:
    the webhook makes one per event, and a frozen dataclass costs five times as much."""

    kind: EventKind
    source: EventSource
    page_id: str
    customer_psid: str | None
    customer_user_ref: str | None
    event_id: str
    echo_app_id: str | None  # the app that sent an echo: ours, the Page Inbox (263902037430900)...
    raw: dict[str, Any]  # as Meta sent it, lone surrogates replaced
    raw_json: bytes  # ``raw`` serialised, to be embedded in the queue message as it is

    @property
    def session_id(self) -> str:
        return session_id(self.page_id, self.customer_psid, self.customer_user_ref)


class Rejected(BaseModel):
    """Something in the body that could not become an event, and why."""

    model_config = ConfigDict(frozen=True)

    reason: str
    raw: Any = None
    page_id: str | None = None  # when the event named a valid one


class RawBatch(NamedTuple):
    events: list[RawEvent]
    rejected: list[Rejected]


class WebhookBatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    events: list[InboundEvent] = Field(default_factory=list)
    rejected: list[Rejected] = Field(default_factory=list)


def decode_webhook(body: bytes) -> object:
    """The JSON of a webhook body, as the webhook and a replay read it (the same ids need the
    same values); ``ValueError`` when it is not JSON.

    orjson reads a body in under half of ``json.loads``'s time; it reads integers beyond 64 bits
    as floats (Meta sends ids as strings, and numbers that fit). What it refuses goes to the
    standard parser: another UTF encoding, lone surrogates (a cut ``\\ud83d`` escape), and
    ``NaN`` or ``1e400``, read as null as a queue message would carry them, so that an event
    means the same to the webhook and to the router. Nesting deeper than either parser goes is
    not JSON the webhook reads (rather than a crash, a 5xx and Meta's retries).
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return json.loads(body, parse_constant=_null, parse_float=_finite_or_null)
        except RecursionError as error:
            raise ValueError("JSON nested too deep") from error


def _null(constant: str) -> None:
    return None


def _finite_or_null(text: str) -> float | None:
    number = float(text)
    return number if math.isfinite(number) else None


def split_webhook(payload: object) -> RawBatch | None:
    """The events of a webhook body (:func:`decode_webhook` of it) in the body's order, each
    with its kind, page, customer and id, without building models: the webhook's fast path.
    None when it is not a Messenger page payload. Never raises, whatever the JSON."""
    if not isinstance(payload, dict) or payload.get("object") != "page":
        return None
    entries = payload.get("entry")
    if not isinstance(entries, list):
        return None
    batch = RawBatch([], [])
    for entry in entries:
        _split_entry(entry, batch)
    return batch


def parse_webhook(payload: object) -> WebhookBatch | None:
    """:func:`split_webhook`, then :func:`parse_event` of every event."""
    split = split_webhook(payload)
    if split is None:
        return None
    return WebhookBatch(events=[parse_event(event.raw, event.source, event.page_id)
                                for event in split.events], rejected=split.rejected)


def parse_event(raw: dict[str, Any], source: EventSource, page_id: str) -> InboundEvent:
    """The validated event of a :class:`RawEvent`'s ``raw``, ``source`` and ``page_id``, with
    the kind and id that :func:`split_webhook` gave it."""
    attempted, value = _detect(raw)
    data: KindData | None = None
    problem = None
    if attempted != "unknown":
        try:
            data = _DATA_MODELS[attempted].model_validate(value)
        except ValidationError as error:
            problem = _describe(attempted, error)
    kind, psid, user_ref, identity = _identify(raw, attempted, value, data is not None, page_id)
    if data is not None and kind == "unknown":
        data = None
        problem = f"not a valid {attempted}: no {_sides(attempted)[1]}.id or user_ref"
    return InboundEvent(
        kind=kind, source=source, event_id=identity, page_id=page_id, customer_psid=psid,
        customer_user_ref=user_ref, sender_id=_party(raw, "sender")[0],
        recipient_id=_party(raw, "recipient")[0], timestamp=_as_millis(raw.get("timestamp")),
        problem=problem, raw=raw, **({kind: data} if data is not None else {}))


def _split_entry(entry: object, batch: RawBatch) -> None:
    if not isinstance(entry, dict):
        batch.rejected.append(_rejected("entry is not an object", entry))
        return
    page_id = _as_id(entry.get("id"))
    sources = [key for key in entry if key in _SOURCES]  # in the body's order
    if not sources:
        batch.rejected.append(_rejected("entry has neither messaging nor standby", entry))
    for source in sources:
        items = entry[source]
        if not isinstance(items, list):
            batch.rejected.append(_rejected(f"entry.{source} is not a list", items))
            continue
        for item in items:
            split = _split_event(item, source, page_id)
            if isinstance(split, RawEvent):
                batch.events.append(split)
            else:
                batch.rejected.append(split)


def _split_event(item: object, source: EventSource,
                 entry_page_id: str | None) -> RawEvent | Rejected:
    if not isinstance(item, dict):
        return _rejected(f"{source} event is not an object", item)
    travelling = _travelling(item)
    if travelling is None:
        return Rejected(reason=f"{source} event cannot travel in a queue message: nested deeper"
                               f" than {MAX_EVENT_DEPTH} levels")
    raw, raw_json = travelling
    attempted, value = _detect(raw)
    page_id, page_field = entry_page_id, "entry.id"
    if page_id is None:  # an entry without a usable id: the page is the party on its side
        page_side = _sides(attempted)[0]
        page_id, page_field = _party(raw, page_side)[0], f"{page_side}.id"
        if page_id is None:
            return Rejected(reason=f"{source} event without a page: no entry.id, no"
                                   f" {page_side}.id", raw=raw)
    if not _MESSENGER_ID.fullmatch(page_id):
        return Rejected(reason=f"{source} event: {page_field} is not a Messenger id (digits, at"
                               f" most {MAX_ID_DIGITS})", raw=raw)
    too_large = _too_large(raw, raw_json)
    if too_large is not None:
        return Rejected(reason=f"{source} event: {too_large}", raw=raw, page_id=page_id)
    try:
        kind, psid, user_ref, identity = _identify(raw, attempted, value,
                                                   _valid(attempted, value), page_id)
    except (ValueError, TypeError, RecursionError) as problem:
        # Only input that no JSON parser produces (non-string keys, 5000-digit numbers) gets here.
        return Rejected(reason=f"{source} event could not be read: {type(problem).__name__}",
                        raw=raw, page_id=page_id)
    if psid is not None and not _MESSENGER_ID.fullmatch(psid):
        customer_side = "recipient" if attempted == "echo" else "sender"
        return Rejected(reason=f"{source} event: {customer_side}.id is not a Messenger id"
                               f" (digits, at most {MAX_ID_DIGITS})", raw=raw, page_id=page_id)
    echo_app_id = _as_id(value.get("app_id")) if kind == "echo" else None
    # Positional: keywords would double the tuple's cost, on every event.
    return RawEvent(kind, source, page_id, psid, user_ref, identity, echo_app_id, raw, raw_json)


def _too_large(raw: dict[str, Any], raw_json: bytes) -> str | None:
    """Why the event cannot be queued and stored as it is, or None. The walk for long strings
    runs only for an event whose JSON could hold one: nearly never."""
    if len(raw_json) > MAX_EVENT_BYTES:
        return f"{len(raw_json)} bytes, more than a queue message takes ({MAX_EVENT_BYTES})"
    if len(raw_json) <= MAX_FIELD_CHARS:
        return None
    pending: list[tuple[tuple[str, ...], object]] = [((), raw)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if len(item) > MAX_FIELD_CHARS and path not in LONG_TEXT_PATHS:
                return f"{_shown_path(path)} is longer than {MAX_FIELD_CHARS} characters"
        elif isinstance(item, dict):
            for key, child in item.items():
                if len(key) > MAX_FIELD_CHARS:
                    return f"a key in {_shown_path(path) or 'the event'} is longer than" \
                           f" {MAX_FIELD_CHARS} characters"
                pending.append(((*path, key), child))
        elif isinstance(item, list):
            pending.extend(((*path, "[]"), child) for child in item)
    return None


def _shown_path(path: tuple[str, ...]) -> str:
    """A field's path for a reason: hostile keys shortened, never a value."""
    return ".".join(part if len(part) <= 40 and part.isprintable() else "…" for part in path)


def _identify(raw: dict[str, Any], attempted: EventKind, value: Any, valid: bool,
              page_id: str) -> tuple[EventKind, str | None, str | None, str]:
    """Kind, customer (PSID, user_ref) and id of an event, given whether its data is valid as
    the kind its keys claim: the one place where the split and the full parse decide them."""
    if attempted == "policy_enforcement":
        psid, user_ref = None, None
    else:
        psid, user_ref = _party(raw, _sides(attempted)[1])
    has_customer = psid or user_ref or attempted not in _NEEDS_CUSTOMER
    kind: EventKind = attempted if valid and has_customer else "unknown"
    identity = event_id(kind, page_id, value if kind != "unknown" else {},
                        lambda name: _envelope_field(raw, name))
    return kind, psid, user_ref, identity


def _envelope_field(raw: dict[str, Any], name: str) -> object:
    """A field of the event besides its kind's data, as identities use it."""
    if name == "timestamp":
        return _as_millis(raw.get("timestamp"))
    if name == "raw":
        return raw
    return _party(raw, name)


def _sides(attempted: EventKind) -> tuple[str, str]:
    """Which party is the page and which the customer: an echo goes from the page to the
    customer, every other event the other way."""
    return ("sender", "recipient") if attempted == "echo" else ("recipient", "sender")


def _valid(kind: EventKind, value: object) -> bool:
    """Whether an event's data is valid as its kind, as its model decides in
    :func:`parse_event`; without the model when the data's plain shape already says so."""
    if kind == "unknown":
        return False
    shape = _PLAIN_SHAPES[kind]
    if shape is not None and shape.fits(value):
        return True
    try:
        _DATA_MODELS[kind].model_validate(value)
    except ValidationError:
        return False
    return True


@dataclass(frozen=True)
class _PlainShape:
    """A sufficient condition for a kind's data to be valid, read from its model: an object
    whose keys are strings, with the required fields, and whose plain fields (annotated with
    ``str``, ``int``, ``bool`` or None alone) hold values of exactly those types; other keys
    are kept as extras. Checking it costs a quarter of the validation it spares on the most
    common events (a text message, a read); any other shape is left to the model."""

    required: frozenset[str]
    types: dict[str, tuple[type, ...]]  # per field: the types it takes as they are, or none

    @classmethod
    def of(cls, model: type[BaseModel]) -> _PlainShape | None:
        """None when the model could refuse a value of a plain type: validators of its own,
        aliases, string length limits, or extra keys not allowed. (A field with constraints
        of its own has metadata: it is not plain.)"""
        hooks = model.__pydantic_decorators__
        config = model.model_config
        fields = model.model_fields
        if (config.get("extra") != "allow" or "str_min_length" in config
                or "str_max_length" in config or hooks.field_validators
                or hooks.model_validators or hooks.validators or hooks.root_validators
                or any(field.alias or field.validation_alias for field in fields.values())):
            return None
        types = {}
        for name, field in fields.items():
            annotation = field.annotation
            options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (
                annotation,)
            plain = not field.metadata and all(option in _PLAIN_TYPES for option in options)
            types[name] = tuple(options) if plain else ()
        return cls(frozenset(name for name, field in fields.items() if field.is_required()),
                   types)

    def fits(self, value: object) -> bool:
        if type(value) is not dict or not self.required <= value.keys():
            return False
        types = self.types
        for key, item in value.items():
            accepted = types.get(key)
            if accepted is None:
                if type(key) is not str:  # an extra key: any value, but only a string key
                    return False
            elif type(item) not in accepted:  # exactly: True is not an int to the model
                return False
        return True


# Types JSON values have as they are, which a field of that type takes unchanged.
_PLAIN_TYPES = (str, int, bool, type(None))
_PLAIN_SHAPES = {kind: _PlainShape.of(model) for kind, model in _DATA_MODELS.items()}


def _rejected(reason: str, value: object) -> Rejected:
    travelling = _travelling(value)
    return Rejected(reason=reason, raw=travelling[0] if travelling is not None else None)


def _travelling(value: object) -> tuple[Any, bytes] | None:
    """The value as a queue message carries it, with its JSON; None when it cannot travel
    (nested deeper than ``MAX_EVENT_DEPTH``)."""
    try:
        text = orjson.dumps(value)
    except TypeError:
        # orjson refuses lone surrogates (replaced: they cannot be encoded at all), integers
        # beyond 64 bits and nesting beyond 255 levels; pydantic's serialiser takes the rest.
        try:
            value = _without_lone_surrogates(value)
            text = to_json(value)
        except (PydanticSerializationError, RecursionError):
            return None
    # Nesting needs brackets: a text too short to hold that many needs no look, counting them
    # (fast) spares the walk for nearly every other.
    if (len(text) > 2 * MAX_EVENT_DEPTH
            and text.count(b"[") + text.count(b"{") > MAX_EVENT_DEPTH
            and _depth(value) > MAX_EVENT_DEPTH):
        return None
    return value, text


def _without_lone_surrogates(value: object) -> object:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(key): _without_lone_surrogates(item)
                for key, item in value.items()}
    return value


def _depth(value: object) -> int:
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(
            item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in children)
    return deepest


def _detect(raw: dict[str, Any]) -> tuple[EventKind, Any]:
    """The kind an event claims to be by its keys, and the JSON of that kind's data."""
    for key, kind in _KIND_KEYS:
        if key not in raw:
            continue
        value = raw[key]
        if kind == "message" and isinstance(value, dict) and value.get("is_echo") is True:
            return "echo", value
        if key == "app_roles":
            return kind, {"action": key, "app_roles": value}
        if kind == "handover" and isinstance(value, dict):
            return kind, {**value, "action": key}
        return kind, value
    return "unknown", None


def _describe(kind: str, error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False, include_context=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or kind
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"not a valid {kind}: {where}: {first['msg']}{more}"[:MAX_PROBLEM_CHARS]


def _as_id(value: object) -> str | None:
    if isinstance(value, str):  # what Meta sends for nearly every id: the hot path
        return value or None
    if value is None:  # the user_ref of nearly every party
        return None
    value = _number_to_str(value)
    return value if isinstance(value, str) else None


def _party(raw: dict[str, Any], side: str) -> tuple[str | None, str | None]:
    """The ``id`` and ``user_ref`` of the sender or recipient, where they are usable."""
    party = raw.get(side)
    if not isinstance(party, dict):
        return None, None
    return _as_id(party.get("id")), _as_id(party.get("user_ref"))


def _as_millis(value: object) -> int | None:
    """Facebook's timestamp: a number of milliseconds, sometimes sent as a string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdecimal() and len(value) <= 20:
        return int(value)
    return None
