"""Splitting long replies for Messenger's 2,000 characters, and the sender's retry delays."""

from __future__ import annotations

from datetime import timedelta

import pytest

from messenger_channel.conversations.replies import split_text
from messenger_channel.conversations.sender import FIRST_RETRY, LONGEST_RETRY, retry_delay


def test_short_text_is_one_message() -> None:
    assert split_text("  Hello  ") == ["Hello"]
    assert split_text("   ") == []


def test_paragraphs_are_packed_together_up_to_the_limit() -> None:
    text = "\n\n".join(["a" * 40, "b" * 40, "c" * 40])
    assert split_text(text, limit=90) == ["a" * 40 + "\n\n" + "b" * 40, "c" * 40]


def test_a_long_paragraph_splits_at_sentences_then_words_then_anywhere() -> None:
    sentences = "One two three. Four five six! Seven eight nine?"
    assert split_text(sentences, limit=20) == ["One two three.", "Four five six!",
                                               "Seven eight nine?"]
    assert split_text("alpha beta gamma delta", limit=11) == ["alpha beta", "gamma delta"]
    assert split_text("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]


@pytest.mark.parametrize("size", [1999, 2000, 2001, 4500, 10_000])
def test_pieces_fit_and_keep_every_word(size: int) -> None:
    text = ("Lorem ipsum dolor sit amet. " * 400)[:size]
    pieces = split_text(text)
    assert all(0 < len(p) <= 2000 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_retry_delays_grow_with_jitter_and_a_ceiling() -> None:
    for attempt in range(1, 12):
        ceiling = min(LONGEST_RETRY, FIRST_RETRY * (1 << (attempt - 1)))
        delay = retry_delay(attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert retry_delay(30) <= LONGEST_RETRY
    assert retry_delay(1) >= timedelta(seconds=5)
