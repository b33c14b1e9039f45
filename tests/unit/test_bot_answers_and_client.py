"""A bot per workstream, the pure parts: parsing a bot's answer (Hypothesis), the signed request
and the client's failures (``responses``), the bot settings' rules, the example bot."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from messenger_channel.conversations.auto_close import auto_close_decision
from messenger_channel.conversations.bot_answers import BotAnswer, BotFailure, parse_answer
from messenger_channel.conversations.bot_client import MAX_ANSWER_BYTES, ask_bot
from messenger_channel.facebook.attachment_urls import attachment_type_of_url
from messenger_channel.facebook.signature import signature_valid
from messenger_channel.workforce.workstream_bot import BotSettings, StoredBot, stored_bot
from simulator import bot as example
from simulator.bot import ExampleBot

URL = "https://bots.example.com/contoso"
SECRET = "a-bot-secret-of-some-length"

# ---------------------------------------------------------------------- parsing answers

names = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
scalars = st.one_of(st.text(max_size=50), st.booleans(),
                    st.integers(-(2**53), 2**53),
                    st.floats(allow_nan=False, allow_infinity=False))
titles = st.text(min_size=1, max_size=20)
quick_replies = st.lists(st.one_of(titles, st.fixed_dictionaries(
    {"title": titles, "payload": st.text(min_size=1, max_size=50)})), max_size=13)
messages = st.one_of(
    st.fixed_dictionaries({"text": st.text(min_size=1, max_size=200)},
                          optional={"quick_replies": quick_replies}),
    st.fixed_dictionaries({"attachment_url": st.just("https://cdn.example.com/a.png")},
                          optional={"text": st.text(min_size=1, max_size=50)}))
answers = st.fixed_dictionaries({}, optional={
    "messages": st.lists(messages, max_size=10), "escalate": st.booleans(),
    "attributes": st.dictionaries(names, scalars, max_size=10)})


@given(answers)
@settings(max_examples=200, deadline=None)
def test_every_well_formed_answer_is_taken_as_it_was_meant(answer: dict[str, Any]) -> None:
    parsed = parse_answer(200, json.dumps(answer).encode())
    assert isinstance(parsed, BotAnswer), parsed
    assert parsed.escalate is answer.get("escalate", False)
    assert parsed.attributes == answer.get("attributes", {})
    assert [m.text for m in parsed.messages] == [m.get("text") for m in answer.get("messages", [])]
    for sent, read in zip(answer.get("messages", []), parsed.messages, strict=True):
        given_replies = sent.get("quick_replies", [])
        assert [q.payload for q in read.quick_replies] == [
            q if isinstance(q, str) else q["payload"] for q in given_replies]


@given(st.binary(max_size=300), st.integers(100, 599))
@settings(max_examples=300, deadline=None)
def test_any_bytes_and_status_give_an_answer_or_a_failure_never_an_exception(
        body: bytes, status: int) -> None:
    parsed = parse_answer(status, body)
    assert isinstance(parsed, BotAnswer | BotFailure)
    if not 200 <= status < 300:
        assert parsed == BotFailure("http_error", f"the bot answered HTTP {status}")


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["messages", "escalate", "attributes",
                                                       "text", "x"]), inner, max_size=3),
                    max_leaves=10))
@settings(max_examples=300, deadline=None)
def test_any_json_is_an_answer_only_when_it_fits_the_shape(document: Any) -> None:
    parsed = parse_answer(200, json.dumps(document).encode())
    if isinstance(parsed, BotAnswer):
        # Only an object with fitting (or no) fields is an answer.
        assert isinstance(document, dict)
        assert parsed.escalate is document.get("escalate", False)
    else:
        assert parsed.reason == "invalid_answer"
        # Fields the contract does not know are ignored, never a failure on their own.
        assert not (isinstance(document, dict) and set(document) <= {"text", "x"})


@pytest.mark.parametrize(("body", "reason"), [
    (b"<html>busy</html>", "not_json"), (b"\xff\xfe", "not_json"), (b"[]", "invalid_answer"),
    (b'{"messages": [{}]}', "invalid_answer"),
    (b'{"messages": [{"quick_replies": ["a"], "attachment_url": "https://x.test/a"}]}',
     "invalid_answer"),
    (b'{"escalate": "yes"}', "invalid_answer"),
    (b'{"attributes": {"has space": 1}}', "invalid_answer"),
    (b'{"attributes": {"n": NaN}}', "invalid_answer"),
    (b'{"messages": [{"text": "hi", "attachment_url": "ftp://x.test/a"}]}', "invalid_answer"),
])
def test_answers_that_do_not_fit(body: bytes, reason: str) -> None:
    parsed = parse_answer(200, body)
    assert isinstance(parsed, BotFailure) and parsed.reason == reason


def test_no_body_is_no_answer_yet_and_the_customers_words_stay_out_of_the_reason() -> None:
    assert parse_answer(204, b"") == BotAnswer()
    assert parse_answer(200, b"  ") == BotAnswer()
    failure = parse_answer(200, b'{"messages": [{"text": "my card is 4111", "x": 1}]}')
    assert isinstance(failure, BotFailure) and "4111" not in failure.detail


# ---------------------------------------------------------------------- the signed request


@responses.activate
def test_the_request_is_signed_over_its_exact_bytes() -> None:
    responses.post(URL, json={"messages": [{"text": "Hi"}], "escalate": True,
                              "attributes": {"intent": "hours"}})
    body = json.dumps({"event": {"text": "Grüße"}}, ensure_ascii=True).encode()
    answer = ask_bot(URL, SECRET, body, 5, session=requests.Session())
    assert isinstance(answer, BotAnswer) and answer.escalate
    [call] = responses.calls
    assert call.request.body == body
    header = call.request.headers["X-Signature-256"]
    assert signature_valid(header, SECRET, body)
    assert example.signature_valid(header, SECRET, body)  # the bot's own check agrees
    assert not signature_valid(header, SECRET, body + b" ")
    assert not example.signature_valid(header, "another-secret-entirely", body)
    assert call.request.headers["Content-Type"] == "application/json"


@responses.activate
@pytest.mark.parametrize(("mock", "reason"), [
    ({"body": requests.exceptions.ReadTimeout("slow")}, "timeout"),
    ({"body": requests.exceptions.ConnectTimeout("slow")}, "timeout"),
    ({"body": requests.exceptions.ConnectionError("refused")}, "unreachable"),
    ({"status": 503, "body": "busy"}, "http_error"),
    ({"status": 302, "headers": {"Location": "https://elsewhere.test/"}}, "http_error"),
    ({"body": "not json"}, "not_json"),
    ({"body": "x" * (MAX_ANSWER_BYTES + 1)}, "too_large"),
])
def test_failures_of_the_call(mock: dict[str, Any], reason: str) -> None:
    responses.post(URL, **mock)
    answer = ask_bot(URL, SECRET, b"{}", 5, session=requests.Session())
    assert isinstance(answer, BotFailure) and answer.reason == reason
    assert URL not in answer.detail and SECRET not in answer.detail


# ---------------------------------------------------------------------- the bot's settings


@pytest.mark.parametrize("url", ["https://bots.example.com/x", "http://127.0.0.1:7072/_sim/bot",
                                 "http://localhost/bot", "http://[::1]:8080/bot"])
def test_bot_urls_accepted(url: str) -> None:
    assert BotSettings(url=url).url == url


@pytest.mark.parametrize("url", ["http://bots.example.com/x", "ftp://x.test/", "https://",
                                 "https://bots.example.com/a b", "bots.example.com"])
def test_bot_urls_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        BotSettings(url=url)


def test_the_secret_is_kept_when_left_out_and_never_shown() -> None:
    given_bot = BotSettings.model_validate({"url": URL, "secret": SECRET})
    assert SECRET not in repr(given_bot) and SECRET not in given_bot.model_dump_json()
    current = StoredBot(url=URL, secret_ref="bot-secret-ws-1", key_hash="h")
    moved = stored_bot(BotSettings(url="https://bots.example.com/new"), current, None)
    assert moved is not None
    assert (moved.secret_ref, moved.key_hash, moved.timeout_seconds) == ("bot-secret-ws-1", "h", 5)
    replaced = stored_bot(given_bot, current, "bot-secret-ws-2")
    assert replaced is not None and replaced.secret_ref == "bot-secret-ws-2"
    assert stored_bot(None, current, None) is None


def test_a_bot_left_with_nobody_is_closed_as_other_inactive_conversations() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert auto_close_decision(state="bot", last_activity_at=now - timedelta(minutes=61),
                               wrap_up_ends_at=None, auto_close_after_minutes=60,
                               now=now) == "inactive"
    assert auto_close_decision(state="bot", last_activity_at=now - timedelta(minutes=59),
                               wrap_up_ends_at=None, auto_close_after_minutes=60,
                               now=now) is None


@pytest.mark.parametrize(("url", "kind"), [
    ("https://x.test/a.PNG", "image"), ("https://x.test/v.mp4?x=1", "video"),
    ("https://x.test/s.mp3", "audio"), ("https://x.test/report.pdf", "file"),
    ("https://x.test/", "file")])
def test_attachment_type_of_a_url(url: str, kind: str) -> None:
    assert attachment_type_of_url(url) == kind


# ---------------------------------------------------------------------- the example bot


def test_the_example_bot_answers_from_its_table() -> None:
    bot = ExampleBot()
    assert bot.answer("c1", "opening hours?")["messages"][0]["text"] == example.HOURS
    asked = bot.answer("c1", "where is my order")
    assert asked["messages"][0]["text"] == example.ASK_ORDER
    told = bot.answer("c1", "1002")
    assert "1002 is being packed" in told["messages"][0]["text"]
    assert told["attributes"] == {"intent": "order_status", "order": "1002"}
    handed = bot.answer("c1", "agent please")
    assert handed["escalate"] is True
    assert handed["attributes"] == {"intent": "order_status", "bot_misses": 0, "order": "1002"}


def test_the_example_bot_escalates_after_two_misses() -> None:
    bot = ExampleBot()
    first = bot.answer("c2", "blue elephants")
    assert "escalate" not in first and first["messages"][0]["quick_replies"]
    second = bot.answer("c2", "purple giraffes")
    assert second["escalate"] is True
    assert second["attributes"] == {"intent": "unknown", "bot_misses": 2}
    # Another conversation starts afresh.
    assert "escalate" not in bot.answer("c3", "blue elephants")
