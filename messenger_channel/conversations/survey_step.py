"""The pre-conversation survey, one customer message at a time: a pure decision.

The router (``inbound._InboundEvent.apply``) stores what this returns, under the
conversation's ETag, once per event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Each question offers this quick reply after its options (the first 12: Messenger shows 13);
# it, or the word typed in any case, skips the remaining questions. Any other text answers the
# question, also one with options (customers type).
SKIP = "Skip"


@dataclass(frozen=True)
class SurveyStep:
    answers: dict[str, str]
    next_index: int  # the question awaiting an answer; ``len(questions)`` when none is left
    ended: bool  # the survey is over: the conversation goes on to wait for an agent


def survey_step(question_ids: Sequence[str], answers: Mapping[str, str], next_index: int, *,
                state: str, opened_now: bool, answer: str | None) -> SurveyStep | None:
    """What a customer's message does to the survey: ``question_ids`` in order, the
    ``answers`` so far, ``next_index`` the question asked last, ``opened_now`` whether this
    message opened the conversation (it came before any question: no answer), ``answer``
    the message's quick-reply payload or text. None: the message is no answer (the
    conversation is not in its survey, or this message opened it)."""
    if state != "survey" or opened_now:
        return None
    text = (answer or "").strip()
    updated, step = dict(answers), next_index
    if text.casefold() == SKIP.casefold():
        step = len(question_ids)
    elif step < len(question_ids):
        updated[question_ids[step]] = text
        step += 1
    return SurveyStep(updated, step, step >= len(question_ids))
