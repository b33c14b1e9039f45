"""Hostile or odd webhook content: ids that cannot be keys, oversized fields and events, times
no clock shows. The split refuses what no store takes, with a reason; the excerpt an operator
sees never holds words; the devhost refuses an oversized body before reading it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.requests import Request
from starlette.types import Message

from devhost.http_bridge import BodyTooLarge, read_body
from messenger_channel.conversations.inbound import event_moment
from messenger_channel.facebook.webhook_events import (
    MAX_EVENT_BYTES,
    MAX_FIELD_CHARS,
    RawBatch,
    decode_webhook,
    split_webhook,
)
from messenger_channel.ingress.quarantine import redacted_excerpt

PAGE, PSID = "104598237561234", "7654321098765432"
# Each cannot be a Table key or is not a Messenger id (a lone surrogate arrives as "\ud800").
HOSTILE_IDS = ["../x", "12#34", "1" * 600, "\ud800", "abc123", "-5", "1/2", " 12"]


def split(*events: dict[str, Any], page: object = PAGE) -> RawBatch:
    body = json.dumps({"object": "page", "entry": [{"id": page, "messaging": list(events)}]})
    batch = split_webhook(decode_webhook(body.encode()))
    assert batch is not None
    return batch


def message(psid: object = PSID, text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": 1764000000000,
            "message": {"mid": f"m-{len(text)}", "text": text, **extra}}


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_an_entry_id_that_is_not_a_page_id_is_refused_with_the_reason(bad: str) -> None:
    batch = split(message(), message(text="second"), page=bad)
    assert batch.events == []
    assert [r.reason for r in batch.rejected] == [
        "messaging event: entry.id is not a Messenger id (digits, at most 32)"] * 2
    assert all(r.page_id is None for r in batch.rejected)


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_a_sender_id_that_is_not_a_psid_is_refused_and_the_others_go_through(bad: str) -> None:
    batch = split(message(bad), message(text="fine"))
    assert [e.customer_psid for e in batch.events] == [PSID]
    [refused] = batch.rejected
    assert refused.reason == "messaging event: sender.id is not a Messenger id (digits, at most 32)"
    assert refused.page_id == PAGE


def test_a_page_taken_from_the_recipient_is_checked_too() -> None:
    event = message()
    event["recipient"] = {"id": "12#34"}
    batch = split(event, page=None)
    assert batch.events == [] and "recipient.id is not a Messenger id" in batch.rejected[0].reason


def test_a_long_text_is_kept_but_a_long_other_field_is_refused() -> None:
    long = "ü" * (MAX_FIELD_CHARS * 9)
    batch = split(message(text=long), message(text="hi", quick_reply={"payload": "p" * (
        MAX_FIELD_CHARS + 1)}), {"sender": {"id": PSID}, "recipient": {"id": PAGE},
                                 "message_edit": {"mid": "m", "text": long, "num_edit": 1}})
    assert [e.kind for e in batch.events] == ["message", "message_edit"]
    assert batch.events[0].raw["message"]["text"] == long
    [refused] = batch.rejected
    assert refused.reason == (f"messaging event: message.quick_reply.payload is longer than "
                              f"{MAX_FIELD_CHARS} characters")
    # A long text anywhere else is no customer's words: refused.
    nested = split(message(referral={"text": long}))
    assert nested.events == [] and "message.referral.text" in nested.rejected[0].reason


def test_an_event_larger_than_a_queue_message_is_refused() -> None:
    batch = split(message(text="x" * MAX_EVENT_BYTES), message())
    assert len(batch.events) == 1
    assert "more than a queue message takes" in batch.rejected[0].reason


def test_the_excerpt_shows_shape_and_ids_never_words_or_tokens() -> None:
    raw = {**message(text="my card is 4111 1111 1111 1111"),
           "access_token": "EAAG" + "x" * 200, "\ud800" * 50: ["a", 1, True, None] * 5}
    excerpt = redacted_excerpt(raw)
    assert len(excerpt) <= 400
    assert "4111" not in excerpt and "EAAG" not in excerpt and "hello" not in excerpt
    assert PSID in excerpt and '"text":"<30 chars>"' in excerpt
    assert '"access_token":"<204 chars>"' in excerpt and "<key of 50 chars>" in excerpt


def test_an_event_time_out_of_range_falls_back_to_the_receive_time() -> None:
    received = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    two_days_later = int(received.timestamp() * 1000) + 2 * 86400000
    for millis in (10**16, -(10**16), 10**30, -1, 0, two_days_later):
        assert event_moment(millis, received) == received
    assert event_moment(None, received) == received
    earlier = datetime(2026, 12, 4, 23, 59, 59, 123000, tzinfo=UTC)
    assert event_moment(int(earlier.timestamp() * 1000), received) == earlier


class _Stream:
    """An ASGI ``receive`` that counts what the server pulled of a body."""

    def __init__(self, chunks: int, size: int) -> None:
        self.left, self.size, self.pulled = chunks, size, 0

    async def __call__(self) -> Message:
        self.left -= 1
        self.pulled += 1
        return {"type": "http.request", "body": b"x" * self.size, "more_body": self.left > 0}


def _request(headers: list[tuple[bytes, bytes]], stream: _Stream) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers,
                    "query_string": b""}, stream)


def test_the_devhost_refuses_a_declared_oversized_body_without_reading_it() -> None:
    stream = _Stream(chunks=1000, size=1024)
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(_request([(b"content-length", b"1024000")], stream), 4096))
    assert stream.pulled == 0


def test_the_devhost_stops_reading_a_chunked_body_at_the_limit() -> None:
    stream = _Stream(chunks=1000, size=1024)
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(_request([(b"transfer-encoding", b"chunked")], stream), 4096))
    assert stream.pulled == 5
    small = _Stream(chunks=4, size=1024)
    body = asyncio.run(read_body(_request([], small), 4096))
    assert body == b"x" * 4096
