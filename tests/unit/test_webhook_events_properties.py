"""Whatever JSON Meta (or anyone who holds the app secret) posts, parsing never raises, loses
no event silently, and gives events that fit the queue and survive serialisation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

from hypothesis import given, settings
from hypothesis import strategies as st

from messenger_channel.facebook.webhook_events import (
    HandoverAction,
    InboundEvent,
    WebhookBatch,
    parse_webhook,
)

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
