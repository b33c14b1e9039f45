"""Pure pieces of the conversation engine: the messaging window and automated texts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from messenger_channel.conversations.automated import fill, pick_text
from messenger_channel.conversations.window import HUMAN_AGENT, STANDARD, messaging_window

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
