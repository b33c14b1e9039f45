"""Signed mutated bodies through the webhook and the router, in process on Azurite: whatever
the body, no 5xx and no exception out of the router (so no redelivery and no dead letter);
every valid customer message is stored exactly once (a long text whole), every event that
cannot be used is quarantined with a reason and counted, and nothing else is lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messenger_channel.conversations.long_texts import full_text
from messenger_channel.conversations.models import ConversationTables, Message
from messenger_channel.facebook.webhook_events import (
    MAX_EVENT_BYTES,
    MAX_FIELD_CHARS,
    decode_webhook,
    split_webhook,
)
from messenger_channel.ingress.counters import IngressCounters
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.support.engine import new_id
from tests.support.webhook_page import WebhookPage

APP_SECRET = "fuzz-test-secret-0123456789abcdef"
FUZZ = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

HOSTILE_IDS = st.sampled_from(["../x", "12#34", "1" * 600, "\ud800", "abc", "-1", "1/2",
                               "1" * 33, "٣٤٥"])
TEXT = st.text(st.characters(codec=None, categories=None), max_size=20)
LONG_TEXT = st.integers(MAX_FIELD_CHARS + 1, 40_000).map(lambda n: ("Olá 🙂 " * n)[:n])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)
# How one event of a body is changed: the valid ones must be stored, the others quarantined.
VALID = {
    "plain": lambda draw, e: e,
    "long_text": lambda draw, e: _set(e, ("message", "text"), draw(LONG_TEXT)),
    "odd_time": lambda draw, e: {**e, "timestamp": draw(st.sampled_from(
        [10**16, -(10**16), 2**70, "soon", None, 1.5]))},
    "odd_text": lambda draw, e: _set(e, ("message", "text"), draw(TEXT)),
    "extra_keys": lambda draw, e: {**e, **draw(st.dictionaries(
        TEXT.filter(lambda k: k not in ("message", "sender", "recipient", "timestamp")), JSON,
        max_size=2))},
}
INVALID = {
    "sender_id": lambda draw, e: _set(e, ("sender", "id"), draw(HOSTILE_IDS)),
    "long_payload": lambda draw, e: _set(e, ("message", "quick_reply"), {
        "payload": "p" * draw(st.integers(MAX_FIELD_CHARS + 1, 70_000))}),
    "long_key": lambda draw, e: _set(e, ("message", "k" * (MAX_FIELD_CHARS + 1)), 1),
    "too_large": lambda draw, e: _set(e, ("message", "text"), "x" * (MAX_EVENT_BYTES + 1)),
}


def _set(event: dict[str, Any], path: tuple[str, str], value: object) -> dict[str, Any]:
    outer, inner = path
    return {**event, outer: {**event[outer], inner: value}}


class Fuzz(WebhookPage):
    def __init__(self, services: Services, simulator: SimulatorClient) -> None:
        super().__init__(services, simulator, "Fuzz", APP_SECRET)
        self.counters = IngressCounters(services.tables)
        self.tables = ConversationTables(services.tables)
        self.queued: set[str] = set()  # event ids: the queue drops a duplicate, as Service Bus

    def post(self, body: bytes) -> int:
        return self.post_body(body)

    def quarantined(self) -> int:
        return self.counters.of(self.account_id).get("quarantined", 0)

    def stored(self, psid: str) -> list[Message]:
        contact = self.tables.contacts.get(self.page_id, psid)
        if contact is None or contact.last_conversation_id is None:
            return []
        return [m for m in self.tables.history(contact.last_conversation_id)
                if m.author == "customer"]


@pytest.fixture
def fuzz(services: Services, simulator_url: str) -> Iterator[Fuzz]:
    with SimulatorClient(simulator_url) as simulator:
        yield Fuzz(services, simulator)


def _body(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=True).encode()


@FUZZ
@given(st.data())
def test_mutated_events_are_stored_once_or_quarantined_never_a_5xx(fuzz: Fuzz,
                                                                   data: st.DataObject) -> None:
    psid = new_id()
    changes = data.draw(st.lists(st.sampled_from(sorted(VALID) + sorted(INVALID)),
                                 min_size=1, max_size=4), label="changes")
    bad_entry = data.draw(st.sampled_from([None, "../x", "12#34", "\ud800"]), label="entry")
    events, expected = [], {}
    for n, change in enumerate(changes):
        event = {"sender": {"id": psid}, "recipient": {"id": fuzz.page_id},
                 "timestamp": 1764000000000 + n,
                 "message": {"mid": f"m-{psid}-{n}", "text": f"message {n}"}}
        event = (VALID | INVALID)[change](data.draw, event)
        events.append(event)
        if change in VALID and bad_entry is None:
            expected[event["message"]["mid"]] = event["message"]["text"]
    payload = {"object": "page", "entry": [{"id": bad_entry or fuzz.page_id, "messaging": events}]}
    before = fuzz.quarantined()
    body = _body(payload)
    assert fuzz.post(body) == 200
    assert fuzz.post(body) == 200  # Meta's retry of the same body changes nothing stored
    fuzz.route()
    stored = fuzz.stored(psid)
    assert sorted(m.facebook_message_id or "" for m in stored) == sorted(expected)
    assert {m.facebook_message_id: full_text(fuzz.services.blobs, m) for m in stored} == expected
    assert fuzz.quarantined() - before == 2 * (len(events) - len(expected))


@FUZZ
@given(st.data())
def test_any_value_anywhere_in_a_signed_body_costs_no_5xx_and_loses_nothing(
        fuzz: Fuzz, data: st.DataObject) -> None:
    psid = new_id()
    events = [{"sender": {"id": psid}, "recipient": {"id": fuzz.page_id},
               "timestamp": 1764000000000 + n,
               "message": {"mid": f"m-{psid}-{n}", "text": f"message {n}"}}
              for n in range(data.draw(st.integers(1, 3), label="events"))]
    payload: Any = {"object": "page", "entry": [{"id": fuzz.page_id, "time": 1,
                                                 "messaging": events}]}
    # Any JSON value at a few paths of the body: an id, a field, an event, the entry...
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        payload = _mutated(payload, data)
    body = _body(payload)
    before = fuzz.quarantined()
    status = fuzz.post(body)
    assert status in (200, 400)
    split = split_webhook(decode_webhook(body))
    routed = fuzz.route()
    if status == 200 and split is not None:
        # Each item of the body: queued (once: its page is served) or quarantined.
        served = {e.event_id for e in split.events if e.page_id == fuzz.page_id}
        assert routed == len(served - fuzz.queued)
        fuzz.queued |= served
        assert fuzz.quarantined() - before == len(split.rejected)
    elif status == 200:
        assert fuzz.quarantined() - before == 1  # not a page payload: the body itself


def _mutated(value: Any, data: st.DataObject) -> Any:
    """``value`` with one node (or a key) replaced by any JSON value."""
    if isinstance(value, dict) and value and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(value)))
        return {**value, key: _mutated(value[key], data)}
    if isinstance(value, list) and value and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(value) - 1))
        return [*value[:index], _mutated(value[index], data), *value[index + 1:]]
    if isinstance(value, dict) and data.draw(st.booleans()):
        return {**value, data.draw(TEXT | HOSTILE_IDS): data.draw(JSON | HOSTILE_IDS)}
    return data.draw(JSON | HOSTILE_IDS | LONG_TEXT)
