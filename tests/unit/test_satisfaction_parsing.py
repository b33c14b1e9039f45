"""The rating survey's pure parts: the quick replies' payloads, typed answers (a score, a
comment outside the scale, or no answer at all), and how an answer lands on a conversation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from messenger_channel.conversations.models import Conversation, Csat
from messenger_channel.conversations.satisfaction import (
    MAX_COMMENT,
    PayloadRating,
    PendingSurvey,
    RatingAnswer,
    parse_rating,
    rating_of_payload,
    rating_payload,
    typed_answer,
    with_comment,
    with_rating,
)

AT = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
SCORES = st.integers(1, 5)
SPACE = st.sampled_from(["", " ", "  ", "\t", "\n"])


@pytest.mark.parametrize(("text", "score"), [
    ("5", 5), (" 4 ", 4), ("1", 1), ("4/5", 4), ("4 / 5", 4), ("3 out of 5", 3),
    ("3 OUT OF 5", 3), ("2 of 5", 2), ("4 sur 5", 4), ("5 stars", 5), ("1 star", 1),
    ("5!", 5), ("4.", 4), ("3⭐", 3), ("⭐⭐⭐⭐", 4), ("⭐️⭐️", 2), ("★★★☆☆", 3), ("🌟", 1),
    ("⭐ ⭐ ⭐", 3), ("4 ⭐", 4),
])
def test_a_typed_score(text: str, score: int) -> None:
    assert parse_rating(text) == RatingAnswer(score, None)


@pytest.mark.parametrize("text", [
    "7", "0", "10/10", "4/10", "8 out of 10", "99 stars", "⭐⭐⭐⭐⭐⭐", "☆☆☆☆☆", "★★☆",
    "great", "Great!", "meh", "Perfect.", "👍", "😡😡",
])
def test_outside_the_scale_or_a_short_remark_is_a_comment(text: str) -> None:
    assert parse_rating(text) == RatingAnswer(None, text.strip())


@pytest.mark.parametrize("text", [
    "", "   ", "Where is my order?", "?", "my order 12345", "order #4471",
    "I still have a problem with my refund", "Hi, I have another question about billing",
    "https://example.com", "call me at 555 0100", "Another question", "too slow", "hi",
    "Hello!", "help", "need help", "www.example.com",
])
def test_not_an_answer(text: str) -> None:
    assert parse_rating(text) is None


@given(SCORES, SPACE, SPACE, st.sampled_from(["{n}", "{n}/5", "{n} / 5", "{n} out of 5",
                                              "{n} stars", "{n}!", "{stars}"]))
def test_every_score_in_every_form(score: int, before: str, after: str, form: str) -> None:
    text = before + form.format(n=score, stars="⭐" * score) + after
    assert parse_rating(text) == RatingAnswer(score, None)


@given(st.integers(0, 999).filter(lambda n: not 1 <= n <= 5), SPACE)
def test_numbers_outside_the_scale_are_kept_as_comments(number: int, space: str) -> None:
    assert parse_rating(f"{space}{number}{space}") == RatingAnswer(None, str(number))


@given(st.text(max_size=3000))
@example("٣")  # a digit, but not an ASCII one
@example("5" * 4000)
@example("⭐" * 3000)
def test_any_text_is_a_score_a_comment_or_no_answer(text: str) -> None:
    answer = parse_rating(text)
    if answer is None:
        return
    if answer.score is not None:
        assert 1 <= answer.score <= 5 and answer.comment is None
    else:
        assert answer.comment == text.strip()[:MAX_COMMENT] and answer.comment
        assert len(answer.comment) <= MAX_COMMENT


@given(st.text(alphabet=st.characters(categories=["Ll", "Lu"]), min_size=1, max_size=12),
       st.integers(2, 8))
def test_longer_messages_are_never_taken(word: str, count: int) -> None:
    assert parse_rating(" ".join([word] * count)) is None


# ------------------------------------------------------------------------------- payloads


@given(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), st.integers(0, 99))
def test_payload_round_trip(conversation_id: str, score: int) -> None:
    payload = rating_payload(conversation_id, score)
    assert len(payload) <= 1000  # Messenger's payload limit
    assert rating_of_payload(payload) == PayloadRating(conversation_id, score)


@pytest.mark.parametrize("payload", [
    None, "", "HELPED_NO", "csat", "csat:cv_1", "csat:cv_1:", "csat::5", "csat:cv_1:5:6",
    "CSAT:cv_1:5", "csat:cv 1:5", "csat:cv_1:five", "csat:cv_1:٣", "csat:cv_1:-1",
    "csat:cv_1:100", "survey:cv_1:5",
])
def test_other_payloads_are_not_ratings(payload: str | None) -> None:
    assert rating_of_payload(payload) is None


# ------------------------------------------------------------------- onto a conversation


def conversation(**fields: object) -> Conversation:
    return Conversation.model_validate({
        "id": "cv_1", "page_id": "1", "psid": "2", "contact_id": "ct_1", "state": "closed",
        "locale": "en-US", "opened_by": "e0", "last_activity_at": AT - timedelta(hours=2),
        "last_customer_message_at": AT - timedelta(hours=2),
        "created_at": AT - timedelta(hours=3), "updated_at": AT - timedelta(hours=1),
        **fields})


def test_a_rating_then_a_comment() -> None:
    rated = with_rating(conversation(), RatingAnswer(4, None), AT, "e1")
    assert rated is not None and rated.csat == Csat(score=4, comment=None, at=AT)
    # The answer is a customer's message: Facebook's window opens again.
    assert rated.last_customer_message_at == AT
    assert with_rating(rated, RatingAnswer(4, None), AT, "e1") is None  # redelivered
    later = AT + timedelta(minutes=3)
    commented = with_comment(rated, "  Quick and kind  ", later, "e2")
    assert commented is not None
    assert commented.csat == Csat(score=4, comment="Quick and kind", at=AT)
    assert with_comment(commented, "again", later, "e2") is None
    # A later tap changes the score and keeps the comment.
    changed = with_rating(commented, RatingAnswer(5, None), later, "e3")
    assert changed is not None and changed.csat == Csat(score=5, comment="Quick and kind",
                                                        at=later)


def test_an_answer_outside_the_scale_is_the_comment() -> None:
    rated = with_rating(conversation(), RatingAnswer(None, "great"), AT, "e1")
    assert rated is not None and rated.csat == Csat(score=None, comment="great", at=AT)
    # A late answer never moves the customer's last message back.
    earlier = with_rating(conversation(last_customer_message_at=AT), RatingAnswer(3, None),
                          AT - timedelta(hours=5), "e1")
    assert earlier is not None and earlier.last_customer_message_at == AT


def test_typed_answer_by_stage() -> None:
    pending = PendingSurvey(page_id="1", psid="2", conversation_id="cv_1", stage="rating",
                            until=AT)
    assert typed_answer(pending, "5") == RatingAnswer(5, None)
    assert typed_answer(pending, "Where is my parcel?") is None
    assert typed_answer(pending, None) is None
    comment = pending.model_copy(update={"stage": "comment"})
    assert typed_answer(comment, "It took a while, but the agent was great.") == "comment"
    assert typed_answer(comment, "   ") is None
    assert typed_answer(pending.model_copy(update={"stage": "done"}), "5") is None
