"""Whatever JSON Meta (or anyone who holds the app secret) posts, parsing never raises, loses
no event silently, and gives events that fit the queue and survive serialisation; the webhook's
fast split gives every event the kind and id that the full parse gives it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from messenger_channel.facebook.webhook_events import (
    DeliveryData,
    EchoData,
    HandoverAction,
    HandoverData,
    InboundEvent,
    MessageEditData,
    OptinData,
    PolicyEnforcementData,
    PostbackData,
    RawBatch,
    ReactionData,
    ReadData,
    Referral,
    WebhookBatch,
    decode_webhook,
    parse_event,
    parse_webhook,
    split_webhook,
)
from messenger_channel.ingress.directory import AccountKeys
from messenger_channel.queue_messages import InboundEnvelope, envelope_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
# Text with the odd characters too: lone surrogates (a cut "\ud83d" escape), controls, emoji.
TEXT = st.text(st.characters(codec=None, categories=None), max_size=12) | st.sampled_from(
    ["", "page", "messaging", "standby", "1", "\ud83d", "🙂"])
SCALARS = (st.none() | st.booleans() | st.integers()
           | st.floats(allow_nan=False, allow_infinity=False) | TEXT)
JSON = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(TEXT, children, max_size=4), max_leaves=12)

EVENT_KEYS = ["message", "message_edit", "reaction", "read", "delivery", "postback", "referral",
              "optin", *get_args(HandoverAction), "policy_enforcement", "sender", "recipient",
              "timestamp"]
IDS = st.sampled_from(["104598237561234", "7654321098765432", "", "x" * 200]) | st.integers()
PARTY = st.fixed_dictionaries({}, optional={"id": IDS | JSON, "user_ref": TEXT | JSON})
KIND_VALUES = {
    "message": st.fixed_dictionaries({}, optional={
        "mid": TEXT | JSON, "text": TEXT, "is_echo": st.booleans() | JSON, "app_id": IDS,
        "attachments": st.lists(st.fixed_dictionaries({}, optional={
            "type": st.sampled_from(["image", "sticker", "fallback", "hologram"]) | JSON,
            "payload": st.fixed_dictionaries({}, optional={"url": TEXT | JSON,
                                                           "sticker_id": IDS}) | JSON,
            "url": TEXT | JSON}), max_size=3) | JSON}),
    "reaction": st.fixed_dictionaries({}, optional={
        "mid": TEXT, "action": st.sampled_from(["react", "unreact"]) | JSON, "emoji": TEXT}),
    "delivery": st.fixed_dictionaries({}, optional={
        "mids": st.lists(TEXT, max_size=3) | JSON, "watermark": st.integers() | JSON}),
}
# Events shaped like Meta's (a known key, parties, a timestamp), with odd values anywhere.
SHAPED_EVENT = st.dictionaries(st.sampled_from(EVENT_KEYS) | TEXT, JSON, max_size=5).flatmap(
    lambda base: st.fixed_dictionaries({}, optional={
        "sender": PARTY, "recipient": PARTY,
        "timestamp": st.integers() | st.sampled_from(["1527459824", "soon"]),
        **KIND_VALUES}).map(lambda shaped: {**base, **shaped}))
# The documented examples, as they are or with a key or two given any JSON value.
DOCUMENTED = [event for path in sorted(FIXTURES.glob("*.json"))
              for entry in json.loads(path.read_text(encoding="utf-8"))["entry"]
              for source in ("messaging", "standby") for event in entry.get(source, [])]
DOCUMENTED_EVENT = st.sampled_from(DOCUMENTED).flatmap(
    lambda event: st.dictionaries(st.sampled_from(sorted(event)) | TEXT, JSON, max_size=2).map(
        lambda odd: {**event, **odd}))
EVENT = DOCUMENTED_EVENT | SHAPED_EVENT | JSON
ENTRY = st.fixed_dictionaries(
    {"id": IDS, "messaging": st.lists(EVENT, max_size=4)},
    optional={"time": st.integers(), "standby": st.lists(EVENT, max_size=3)},
) | st.fixed_dictionaries({}, optional={
    "id": IDS | JSON, "time": st.integers(),
    "messaging": st.lists(EVENT, max_size=4) | JSON,
    "standby": st.lists(EVENT, max_size=3) | JSON}) | JSON
PAGE_PAYLOAD = st.fixed_dictionaries({"object": st.just("page"),
                                      "entry": st.lists(ENTRY, max_size=4)})


def expected_items(payload: dict[str, Any]) -> int:
    """How many events or rejections a body must give: one per event item, one per entry (or
    entry list) that holds no list of events."""
    count = 0
    for entry in payload["entry"]:
        sources = [key for key in entry if key in ("messaging", "standby")] if isinstance(
            entry, dict) else []
        count += sum(len(entry[key]) if isinstance(entry[key], list) else 1 for key in sources)
        count += not sources
    return count


def check_events(batch: WebhookBatch) -> None:
    for event in batch.events:
        assert 0 < len(event.event_id) <= 64
        assert len(event.session_id) <= 128
        assert InboundEvent.model_validate_json(event.model_dump_json()) == event
        assert (event.data is None) == (event.kind == "unknown")


@given(JSON)
def test_any_json_value_parses_without_raising(value: object) -> None:
    batch = parse_webhook(value)
    if batch is not None:
        check_events(batch)


@settings(max_examples=300)
@given(PAGE_PAYLOAD)
def test_page_payloads_lose_nothing_and_give_queue_ready_events(payload: dict[str, Any]) -> None:
    batch = parse_webhook(payload)
    assert batch is not None
    assert len(batch.events) + len(batch.rejected) == expected_items(payload)
    check_events(batch)
    assert all(rejected.reason for rejected in batch.rejected)
    again = parse_webhook(json.loads(json.dumps(payload)))
    assert again is not None
    assert [event.event_id for event in again.events] == [event.event_id for event in batch.events]


@given(st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=5))
def test_customer_messages_always_reach_the_queue_as_messages(texts: list[tuple[str, str]]) -> None:
    events = [{"sender": {"id": "7654321098765432"}, "recipient": {"id": "104598237561234"},
               "timestamp": 1700000000000 + n, "message": {"mid": f"m_{n}_{mid}", "text": text}}
              for n, (mid, text) in enumerate(texts)]
    batch = parse_webhook({"object": "page", "entry": [{"id": "104598237561234",
                                                        "messaging": events}]})
    assert batch is not None
    assert [event.kind for event in batch.events] == ["message"] * len(texts)
    assert len({event.event_id for event in batch.events}) == len(texts)
    check_events(batch)


# The webhook's fast path (split_webhook) and the router's full parse (parse_event) must agree:
# the queue message's id is the split's, the router's event is the full parse's.

def agreeing(payload: object) -> RawBatch | None:
    """The split of a body, after checking that the full parse of each event agrees with it."""
    split = split_webhook(payload)
    full = parse_webhook(payload)
    assert (split is None) == (full is None)
    if split is None or full is None:
        return None
    assert split.rejected == full.rejected
    assert len(split.events) == len(full.events)
    for raw, event in zip(split.events, full.events, strict=True):
        assert (raw.kind, raw.event_id, raw.page_id, raw.source) == (
            event.kind, event.event_id, event.page_id, event.source)
        assert (raw.customer_psid, raw.customer_user_ref, raw.session_id) == (
            event.customer_psid, event.customer_user_ref, event.session_id)
        assert raw.echo_app_id == (event.echo.app_id or None if event.echo else None)
        assert (raw.raw, json.loads(raw.raw_json)) == (event.raw, event.raw)
    return split


@given(JSON)
def test_the_split_agrees_with_the_full_parse_on_any_json(value: object) -> None:
    agreeing(value)


@settings(max_examples=500)
@given(PAGE_PAYLOAD)
def test_the_split_agrees_with_the_full_parse_on_odd_and_broken_events(
        payload: dict[str, Any]) -> None:
    split = agreeing(payload)
    assert split is not None
    assert len(split.events) + len(split.rejected) == expected_items(payload)


# The documented events with one or two fields of their kind's data given a value of any type
# JSON has: the plain-shape shortcut meets values it may take as they are and values it must
# leave to the model, on the shapes Meta sends.
FIELD_VALUES = (st.text(max_size=4) | st.integers() | st.none() | st.booleans()
                | st.floats(allow_nan=False, allow_infinity=False) | TEXT
                | st.sampled_from(["react", "unreact", "1700000000000"])
                | st.lists(TEXT, max_size=2) | st.dictionaries(TEXT, TEXT, max_size=1))
MODELS_BY_KEY: dict[str, type[BaseModel]] = {
    "message": EchoData, "message_edit": MessageEditData, "reaction": ReactionData,
    "read": ReadData, "delivery": DeliveryData, "postback": PostbackData, "referral": Referral,
    "optin": OptinData, "policy_enforcement": PolicyEnforcementData,
    **dict.fromkeys(get_args(HandoverAction), HandoverData)}


def with_odd_fields(event: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    key = next(key for key in MODELS_BY_KEY if key in event)
    names = sorted(set(MODELS_BY_KEY[key].model_fields) | set(event[key]) | {"extra"})
    return st.dictionaries(st.sampled_from(names), FIELD_VALUES, max_size=2).map(
        lambda odd: {**event, key: {**event[key], **odd}})


def flat(event: dict[str, Any]) -> dict[str, Any]:
    """The event with only the scalar fields of its kind's data: a text message, a read..."""
    key = next(key for key in MODELS_BY_KEY if key in event)
    return {**event, key: {name: value for name, value in event[key].items()
                           if not isinstance(value, dict | list)}}


ODD_FIELDS_EVENT = st.sampled_from(DOCUMENTED + [flat(event) for event in DOCUMENTED]).flatmap(
    with_odd_fields)


@settings(max_examples=1000)
@given(ODD_FIELDS_EVENT)
def test_the_split_agrees_with_the_models_on_every_field_of_every_kind(
        event: dict[str, Any]) -> None:
    split = agreeing({"object": "page", "entry": [{"id": "104598237561234",
                                                   "messaging": [event]}]})
    assert split is not None and len(split.events) == 1


@settings(max_examples=300)
@given(PAGE_PAYLOAD)
def test_the_queue_message_gives_the_router_the_event_the_webhook_split(
        payload: dict[str, Any]) -> None:
    split = split_webhook(payload)
    assert split is not None
    account = AccountKeys("acc_1", "987654321098765", "secret", "verify")
    now = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    for raw in split.events:
        envelope = InboundEnvelope.model_validate_json(
            envelope_json(account.account_id, account.app_id, now.isoformat(), raw))
        assert (envelope.account_id, envelope.app_id, envelope.received_at) == (
            "acc_1", "987654321098765", now)
        assert envelope.own_echo == (raw.kind == "echo" and raw.echo_app_id == account.app_id)
        assert (envelope.kind, envelope.event_id, envelope.page_id, envelope.source) == (
            raw.kind, raw.event_id, raw.page_id, raw.source)
        assert (envelope.customer_psid, envelope.customer_user_ref) == (
            raw.customer_psid, raw.customer_user_ref)
        assert envelope.event() == parse_event(raw.raw, raw.source, raw.page_id)


# decode_webhook: orjson where it can, the standard parser for the rest, the same values.

MEANINGFUL_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"), max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=8), children, max_size=4),
    max_leaves=12)


@given(MEANINGFUL_JSON, st.booleans())
def test_decoding_reads_what_json_loads_reads(value: object, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert decode_webhook(body) == json.loads(body)
