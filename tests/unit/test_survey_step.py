"""The pre-conversation survey step (``survey_step``): pure, no storage."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from messenger_channel.conversations.survey_step import SKIP, SurveyStep, survey_step

QUESTIONS = ["topic", "order"]


def step(answers: dict[str, str], next_index: int, answer: str | None, *,
         state: str = "survey", opened_now: bool = False) -> SurveyStep | None:
    return survey_step(QUESTIONS, answers, next_index, state=state, opened_now=opened_now,
                       answer=answer)


def test_the_opening_message_answers_nothing() -> None:
    assert step({}, 0, "Hello", opened_now=True) is None


def test_outside_the_survey_messages_answer_nothing() -> None:
    for state in ("waiting", "offered", "active", "wrap_up", "closed"):
        assert step({}, 0, "Billing", state=state) is None


def test_answers_fill_the_questions_in_order_then_the_survey_ends() -> None:
    first = step({}, 0, "  Billing ")
    assert first == SurveyStep({"topic": "Billing"}, 1, ended=False)
    second = step(first.answers, first.next_index, "A-42")
    assert second == SurveyStep({"topic": "Billing", "order": "A-42"}, 2, ended=True)


def test_skip_in_any_case_ends_the_survey_without_an_answer() -> None:
    for word in (SKIP, "skip", " SKIP ", "sKiP"):
        assert step({"topic": "Billing"}, 1, word) == SurveyStep({"topic": "Billing"}, 2, True)
    assert step({}, 0, SKIP) == SurveyStep({}, 2, ended=True)


def test_a_word_containing_skip_is_an_answer() -> None:
    assert step({}, 0, "skipper") == SurveyStep({"topic": "skipper"}, 1, ended=False)


def test_a_message_without_text_answers_empty() -> None:
    assert step({}, 0, None) == SurveyStep({"topic": ""}, 1, ended=False)


def test_past_the_last_question_the_survey_ends_unchanged() -> None:
    # The workstream lost questions since the conversation opened.
    assert step({"topic": "x", "order": "y"}, 5, "more") == SurveyStep(
        {"topic": "x", "order": "y"}, 5, ended=True)


def test_the_answers_given_are_not_mutated() -> None:
    answers = {"topic": "Billing"}
    step(answers, 1, "A-42")
    assert answers == {"topic": "Billing"}


texts = st.text(max_size=30).filter(lambda t: t.strip().casefold() != SKIP.casefold())


@given(st.lists(st.uuids().map(str), min_size=1, max_size=8, unique=True),
       st.lists(texts, min_size=1, max_size=12))
def test_one_answer_per_question_and_the_end_only_after_the_last(
        questions: list[str], replies: list[str]) -> None:
    answers: dict[str, str] = {}
    index = 0
    for count, reply in enumerate(replies, start=1):
        result = survey_step(questions, answers, index, state="survey", opened_now=False,
                             answer=reply)
        assert result is not None
        answers, index = result.answers, result.next_index
        assert index == min(count, len(questions))
        assert result.ended == (count >= len(questions))
    answered = min(len(replies), len(questions))
    assert answers == {q: r.strip() for q, r in zip(questions[:answered], replies, strict=False)}
