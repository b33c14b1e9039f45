"""Canned responses without storage: placeholders filled (and dropped with one space), first
names, the body's checks, and how a query finds a response."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from messenger_channel.workforce.canned_responses import (
    PLACEHOLDERS,
    CannedResponse,
    PersonalCannedCreate,
    TeamCannedCreate,
    fill_placeholders,
    first_name,
    matches,
    placeholders,
    unknown_placeholders,
)

VALUES = {"customer.first_name": "Lea", "customer.name": "Lea Roy", "agent.name": "Ann",
          "page.name": "Acme"}


# ------------------------------------------------------------------------------- filling


@pytest.mark.parametrize(("text", "values", "filled"), [
    ("Hi {{customer.first_name}}, thanks", VALUES, "Hi Lea, thanks"),
    ("{{agent.name}} from {{page.name}} here, {{customer.name}}.", VALUES,
     "Ann from Acme here, Lea Roy."),
    ("Hi {{ customer.first_name }}!", VALUES, "Hi Lea!"),  # spaces inside the braces
    ("Hi {{customer.first_name}}, thanks", {}, "Hi, thanks"),
    ("{{customer.first_name}} hello", {}, "hello"),
    ("Hi {{customer.first_name}}", {}, "Hi"),
    ("Hi {{customer.first_name}} and welcome", {"customer.first_name": None}, "Hi and welcome"),
    ("Hi {{customer.first_name}}!", {"customer.first_name": "  "}, "Hi!"),  # blank is missing
    ("Hi {{customer.first_name}} {{customer.name}}, ok", {}, "Hi, ok"),
    ("Hi {{customer.first_name}}{{customer.name}} there", {}, "Hi there"),
    ("Hi {{customer.first_name}}{{agent.name}} there", {"agent.name": "Ann"}, "Hi Ann there"),
    ("Thanks ({{agent.name}} here)", {}, "Thanks (here)"),
    ("Hello\n{{customer.first_name}} see below", {}, "Hello\nsee below"),
    ("Call {{page.name}} (today)", {}, "Call (today)"),
    ("Hi {{customer.first_name}}", {"customer.first_name": " Lea "}, "Hi Lea"),  # stripped
    ("Hi {{unknown}} and {{ }}", VALUES, "Hi {{unknown}} and {{ }}"),  # left as they are
    ("  plain text  ", VALUES, "plain text"),
])
def test_fill(text: str, values: dict[str, str | None], filled: str) -> None:
    assert fill_placeholders(text, values) == filled


def test_values_are_not_filled_in_turn() -> None:
    assert fill_placeholders("Hi {{customer.name}}!",
                             {"customer.name": "{{agent.name}}", "agent.name": "Ann"}) == "Hi!"
    assert fill_placeholders("{{customer.name}}", {"customer.name": "{{page.name}} x"}) == "x"
    # Literal braces around placeholders that would make one once these are dropped.
    assert fill_placeholders("{{{customer.name}}{agent.name}{{page.name}}}", {}) == ""


def test_first_name() -> None:
    assert first_name("Lea Roy") == "Lea"
    assert first_name("  Élodie  ") == "Élodie"
    assert first_name("Ann") == "Ann"
    assert first_name("") is None
    assert first_name("   ") is None
    assert first_name(None) is None


# ------------------------------------------------------------------------------ property

KNOWN = st.sampled_from(PLACEHOLDERS).map(lambda name: f"{{{{{name}}}}}")
SPACED = st.sampled_from(PLACEHOLDERS).map(lambda name: f"{{{{ {name} }}}}")
PIECES = st.one_of(
    KNOWN, SPACED, st.just("{{unknown}}"),
    st.sampled_from([" ", " ", "\n", ",", ".", "!", "(", ")", "{", "}", "{{", "}}", "'", "-"]),
    st.text(alphabet="abcÉé1 ", min_size=1, max_size=6),
)
TEMPLATES = st.lists(PIECES, max_size=14).map("".join)
VALUE = st.one_of(st.none(), st.just(""), st.just("  "),
                  st.text(alphabet="Ab é{}.-\n", max_size=8),
                  st.sampled_from([f"{{{{{name}}}}}" for name in PLACEHOLDERS]),
                  st.sampled_from(PLACEHOLDERS))
VALUE_MAPS = st.fixed_dictionaries({}, optional={name: VALUE for name in PLACEHOLDERS})


@given(TEMPLATES, VALUE_MAPS)
def test_no_known_placeholder_is_left(text: str, values: dict[str, str | None]) -> None:
    filled = fill_placeholders(text, values)
    assert not [name for name in placeholders(filled) if name in PLACEHOLDERS], filled


@given(TEMPLATES, VALUE_MAPS)
def test_no_double_space_is_made(text: str, values: dict[str, str | None]) -> None:
    had = "  " in text or any("  " in (value or "") for value in values.values())
    if not had:
        assert "  " not in fill_placeholders(text, values)


@given(TEMPLATES, VALUE_MAPS)
def test_text_without_placeholders_is_only_stripped(text: str,
                                                    values: dict[str, str | None]) -> None:
    if not placeholders(text):
        assert fill_placeholders(text, values) == text.strip()
        assert fill_placeholders(fill_placeholders(text, values), values) == text.strip()


@given(st.lists(st.one_of(KNOWN, st.text(alphabet="abc ,.!", min_size=1, max_size=5)),
                max_size=10).map("".join))
def test_every_value_given_is_filled_in_place(text: str) -> None:
    expected = text
    for name, value in VALUES.items():
        expected = expected.replace(f"{{{{{name}}}}}", value)
    assert fill_placeholders(text, VALUES) == expected.strip()


# ---------------------------------------------------------------------------------- body

BODY = {"shortcut": "hi", "title": "Hello", "text": "Hello {{customer.first_name}}"}


def _problems(model: type[Any], body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    return {".".join(str(p) for p in error["loc"]): error["msg"]
            for error in raised.value.errors()}


def test_body_checks() -> None:
    assert TeamCannedCreate.model_validate({**BODY, "title": "  Hello "}).title == "Hello"
    for shortcut in ("Hello", "-x", "_x", "a b", "", "a" * 33, "é"):
        assert "shortcut" in _problems(TeamCannedCreate, {**BODY, "shortcut": shortcut})
    assert TeamCannedCreate.model_validate({**BODY, "shortcut": "0" + "a_-" * 10 + "z"})
    problems = _problems(TeamCannedCreate, {**BODY, "text": "Hi {{customer.email}} {{x}}"})
    assert "{{customer.email}}" in problems["text"] and "{{x}}" in problems["text"]
    assert "text" in _problems(TeamCannedCreate, {**BODY, "text": "   "})
    assert "text" in _problems(TeamCannedCreate, {**BODY, "text": "a" * 2001})
    assert "title" in _problems(TeamCannedCreate, {**BODY, "title": "a" * 101})
    replies = [{"title": "Yes", "payload": "YES"}] * 14
    assert "quick_replies" in _problems(TeamCannedCreate, {**BODY, "quick_replies": replies})
    assert "quick_replies.0.title" in _problems(
        TeamCannedCreate, {**BODY, "quick_replies": [{"title": "a" * 21, "payload": "x"}]})
    assert "quick_replies.0.payload" in _problems(
        TeamCannedCreate, {**BODY, "quick_replies": [{"title": "a", "payload": "x" * 1001}]})
    # A personal response names no queues.
    assert "queue_ids" in _problems(PersonalCannedCreate, {**BODY, "queue_ids": ["q_1"]})


def test_unknown_placeholders_named_once_each() -> None:
    assert unknown_placeholders("{{a}} {{ a }} {{agent.name}} {{b}}") == ["a", "b"]
    assert unknown_placeholders("{single} }} {{ agent.name }}") == []


# -------------------------------------------------------------------------------- search


def _canned(shortcut: str, title: str) -> CannedResponse:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return CannedResponse(id="cr_1", created_at=now, updated_at=now, shortcut=shortcut,
                          title=title, text="x")


@pytest.mark.parametrize(("query", "found"), [
    ("", True), ("  ", True), ("/", True),
    ("refund", True), ("ref", True), ("/ref", True), ("REF", True), ("refund-e", True),
    ("ete", True), ("ÉTÉ", True), ("rep", True), ("d", True), ("reponse ete", True),
    ("eu", True),  # a word of the shortcut
    ("été réponse", True),  # any order
    ("und", False), ("reponses", False), ("ete zzz", False), ("-", False),
])
def test_matches(query: str, found: bool) -> None:
    assert matches(_canned("refund-eu", "Réponse d'été"), query) is found
