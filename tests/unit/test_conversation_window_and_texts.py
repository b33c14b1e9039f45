"""Pure pieces of the conversation engine: the messaging window and automated texts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from messenger_channel.conversations.automated import fill, pick_text
from messenger_channel.conversations.window import (
    HUMAN_AGENT,
    STANDARD,
    SendType,
    messaging_window,
    send_type,
)

moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                       timezones=st.just(UTC))
gaps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))


@given(moments, gaps, st.booleans())
def test_window_kinds_follow_the_last_customer_message(
        last: datetime, gap: timedelta, tagged: bool) -> None:
    window = messaging_window(last, tagged, last + gap)
    if gap < STANDARD:
        assert (window.kind, window.ends_at) == ("standard", last + STANDARD)
    elif tagged and gap < HUMAN_AGENT:
        assert (window.kind, window.ends_at) == ("human_agent", last + HUMAN_AGENT)
    else:
        assert window.kind == "closed"
        assert window.ends_at is not None and window.ends_at <= last + gap


def test_no_customer_message_no_window() -> None:
    assert messaging_window(None, True, datetime.now(UTC)).kind == "closed"


LAST = datetime(2025, 3, 1, 12, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
RESPONSE = SendType("RESPONSE")
TAGGED = SendType("MESSAGE_TAG", "HUMAN_AGENT")


def test_window_boundaries() -> None:
    assert messaging_window(LAST, False, LAST + STANDARD - MINUTE) == (
        messaging_window(LAST, True, LAST + STANDARD - MINUTE))
    assert messaging_window(LAST, False, LAST + STANDARD - MINUTE).kind == "standard"
    assert messaging_window(LAST, False, LAST + STANDARD).kind == "closed"
    assert messaging_window(LAST, False, LAST + STANDARD + MINUTE).ends_at == LAST + STANDARD
    assert messaging_window(LAST, True, LAST + STANDARD).kind == "human_agent"
    assert messaging_window(LAST, True, LAST + HUMAN_AGENT - MINUTE).kind == "human_agent"
    assert messaging_window(LAST, True, LAST + HUMAN_AGENT).kind == "closed"
    assert messaging_window(LAST, True, LAST + HUMAN_AGENT + MINUTE).ends_at == (
        LAST + HUMAN_AGENT)


def send(gap: timedelta, *, at_opening: bool = True, now_on: bool = True,
         human: bool = True) -> SendType | None:
    return send_type(LAST, at_opening, now_on, human=human, now=LAST + gap)


def test_send_type_within_24_hours_is_a_response_for_everyone() -> None:
    for at_opening in (False, True):
        for now_on in (False, True):
            for human in (False, True):
                assert send(STANDARD - MINUTE, at_opening=at_opening, now_on=now_on,
                            human=human) == RESPONSE
    assert send(timedelta(0)) == RESPONSE


def test_send_type_after_24_hours_needs_the_tag_on_at_opening_and_now() -> None:
    for gap in (STANDARD, STANDARD + MINUTE, HUMAN_AGENT - MINUTE):
        assert send(gap) == TAGGED
        assert send(gap, at_opening=False) is None  # switched on mid-conversation
        assert send(gap, now_on=False) is None  # switched off since
        assert send(gap, at_opening=False, now_on=False) is None


def test_send_type_automated_messages_never_use_the_tag() -> None:
    for gap in (STANDARD, STANDARD + MINUTE, timedelta(days=3), HUMAN_AGENT - MINUTE):
        assert send(gap, human=False) is None


def test_send_type_after_7_days_nothing() -> None:
    for gap in (HUMAN_AGENT, HUMAN_AGENT + MINUTE, timedelta(days=30)):
        assert send(gap) is None
        assert send(gap, human=False) is None


def test_send_type_without_a_customer_message_nothing() -> None:
    assert send_type(None, True, True, human=True, now=LAST) is None


@given(moments, gaps, st.booleans(), st.booleans(), st.booleans())
def test_send_type_agrees_with_the_window(last: datetime, gap: timedelta, at_opening: bool,
                                          now_on: bool, human: bool) -> None:
    allowed = send_type(last, at_opening, now_on, human=human, now=last + gap)
    if gap < STANDARD:
        assert allowed == RESPONSE
    elif human and at_opening and now_on and gap < HUMAN_AGENT:
        assert allowed == TAGGED
    else:
        assert allowed is None


def test_locale_choice() -> None:
    texts = {"en-US": "Hello", "fr": "Bonjour", "de-DE": "Hallo"}
    assert pick_text(texts, "fr-CA", "en-US") == "Bonjour"
    assert pick_text(texts, "de-de", "en-US") == "Hallo"
    assert pick_text(texts, "es-ES", "en-US") == "Hello"
    assert pick_text(texts, "es-ES", "it-IT") is None


def test_placeholders() -> None:
    text = "{AgentName} of {QueueName} (#{QueuePosition}) for {$order$}{$missing$}."
    assert fill(text, {"AgentName": "Ann", "QueueName": "Sales", "QueuePosition": "2"},
                {"order": "A-42"}) == "Ann of Sales (#2) for A-42."


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=200))
def test_text_without_placeholders_is_unchanged(text: str) -> None:
    assert fill(text, {"AgentName": "Ann"}, {"x": 1}) == text


def test_workstreams_accept_variables_in_automated_messages() -> None:
    import pytest
    from pydantic import ValidationError

    from messenger_channel.workforce.workstreams import WorkstreamCreate

    body = {"name": "S", "page_id": "1", "fallback_queue_id": "q",
            "automated_messages": {"greeting": {"en-US": "Order {$order$}, {AgentName}"}}}
    assert WorkstreamCreate.model_validate(body).automated_messages
    body["automated_messages"] = {"greeting": {"en-US": "{Nope}"}}
    with pytest.raises(ValidationError, match=r"\{\$variable\$\}"):
        WorkstreamCreate.model_validate(body)
