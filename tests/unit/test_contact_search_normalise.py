"""Contacts search, pure parts: the normaliser, words, query terms and the word keys' ranges."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import assume, example, given
from hypothesis import strategies as st

from messenger_channel.conversations.contact_search import (
    MAX_WORD_CHARS,
    contact_words,
    email_words,
    key_partition,
    matches,
    normalise,
    phone_words,
    prefix_end,
    query_terms,
    word_key,
    words,
)
from messenger_channel.storage.tables import check_key

LETTERS = st.characters(categories=["Lu", "Ll", "Lt", "Lo", "Nd", "Mn"])
NAMES = st.lists(st.text(LETTERS, min_size=1, max_size=12), min_size=1, max_size=4).map(" ".join)
PHONE_LIKE = re.compile(r"\+?[0-9 ().\-/]*[0-9][0-9 ().\-/]*")


def _found(query: str, name: str | None = None, email: str | None = None,
           phone: str | None = None) -> bool:
    terms = query_terms(query)
    return bool(terms) and matches(terms, contact_words(name, email, phone))


def test_examples() -> None:
    assert normalise("Élodie ŁUKASZ Ørsted Straße") == "elodie lukasz orsted strasse"
    assert words("Zoë O'Brien-Smith") == ["zoe", "o", "brien", "smith"]
    assert email_words("Lea.Roy@Example.test") == {
        "lea.roy@example.test", "lea", "roy", "example", "test"}
    assert phone_words("+33 (6) 12-34.56/78") == {"33612345678"}
    assert query_terms("+33 6 12") == ["33612"]
    assert query_terms("LEA@EXAMPLE") == ["lea@example"]
    assert query_terms("@example lea le") == ["example", "lea"]  # "le" is implied by "lea"
    assert query_terms("  ") == query_terms("!?") == []
    assert _found("ELO mar", "Élodie Martin")
    assert _found("lukasz", "Łukasz")
    assert _found("lea.roy@ex", "X", "lea.roy@example.test")
    assert _found("06 12", phone="06 12 34 56 78")
    assert not _found("6 12", phone="+33 6 12 34 56 78")
    assert not _found("lea zed", "Lea Roy")


@given(st.text())
@example("\u01c5 \u210c \ufb05 \u0130 \u1e9e \u1f88 \u0663")
def test_normalise_is_idempotent_and_never_fails(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert words(once) == words(text)


@given(NAMES)
@example("Élodie Łukasz")
@example("ÅSA ØRSTED")
def test_a_name_is_found_by_its_normalised_form_any_case_and_any_accent(name: str) -> None:
    assume(words(name) and not PHONE_LIKE.fullmatch(normalise(name)))
    assert _found(name, name)
    assert _found(normalise(name), name)
    assert _found(name.upper(), name)
    assert _found(unicodedata.normalize("NFC", name), name)
    assert _found(" ".join(reversed(name.split())), name)


@given(NAMES)
def test_every_prefix_of_every_word_finds_the_name(name: str) -> None:
    indexed = contact_words(name)
    for word in words(name):
        for end in range(1, len(word) + 1):
            assert matches(query_terms(word[:end]), indexed), (word, end)


@given(st.text(), st.text(), st.text(), st.text())
def test_no_text_breaks_the_words_or_the_keys(name: str, email: str, phone: str,
                                              query: str) -> None:
    for word in [*contact_words(name, email, phone), *query_terms(query)]:
        assert word
        key = word_key(word)
        assert key.isascii() and "|" not in key
        check_key("PartitionKey", key_partition(key))
        check_key("RowKey", f"{key}|profile|{'9' * 20}:{'9' * 20}")
        check_key("RowKey", prefix_end(key))


WORDS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1,
                max_size=MAX_WORD_CHARS + 4).map(normalise).filter(bool)


@given(WORDS, WORDS)
@example("lea", "leaf")
@example("le", "l\U0001f600")
@example("\U00010400", "\U00010400a")
@example("a" * MAX_WORD_CHARS + "b", "a" * MAX_WORD_CHARS + "c")
def test_a_row_is_in_a_prefix_range_exactly_when_its_word_starts_with_the_prefix(
        prefix: str, word: str) -> None:
    """Keys compare as plain ASCII (the same in Azure, Azurite and Python). Past the
    ``MAX_WORD_CHARS`` a key holds, the range may hold more: the loaded contact decides."""
    low, row = word_key(prefix), f"{word_key(word)}|contact|pc_1"
    in_range = low <= row < prefix_end(low) and key_partition(row) == key_partition(low)
    if max(len(prefix), len(word)) <= MAX_WORD_CHARS:
        assert in_range == word.startswith(prefix)
    else:
        assert in_range or not word.startswith(prefix)
