"""Satisfaction: the post-conversation survey, and the customer's answer stored as the
conversation's ``csat``.

    send_post_conversation_survey(services, conversation, workstream)   # every close calls it

**When it is sent.** When a conversation an agent held closes (the agent's first close, the
``auto_close`` timer, a supervisor's close), once per assignment, and only while Facebook's
messaging window is open (an automated message never uses the HUMAN_AGENT tag); outside the
window nothing is sent. The link form is its message and URL. The rating form is its question
with quick replies "1".."5" whose payloads name the conversation (``csat:<id>:<n>``).

**The answer.** A tap arrives as a customer's message with that payload, usually after the
conversation closed: the router recognises it before anything else (``rating_of_payload``),
stores ``csat = {score, comment: None, at}`` on the conversation the payload names (under its
ETag, through ``ConversationStore.touch`` so its index rows carry it) and the tap in that
conversation's history, and opens no conversation. A later tap changes the score.

A customer who types instead of tapping: while they have no open conversation, their next
text within ``ANSWER_WINDOW`` of the question is read by ``parse_rating``: "4", "4/5", "4 out
of 5", "⭐⭐⭐⭐" give a score; a number outside the scale ("7", "8/10") or a one-word remark
("great", "meh", "👍"; not a greeting such as "hi") is kept as the comment with score None;
anything else (a question, two words or more, an order number) is not an answer and goes
through normal routing.

**The comment.** With a ``comment_prompt``, the prompt is sent after the rating, and the
customer's next text within ``COMMENT_WINDOW`` of the rating, while they have no open
conversation, is the comment (stored in that conversation's history too).

What the router still expects from a customer is one row per customer (``PendingSurvey``,
table ``PendingSurveys``: page id, PSID), read only for a text that would otherwise open a
conversation. It remembers the events it consumed, so a redelivered answer is recognised.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from messenger_channel.conversations.automated import send_automated
from messenger_channel.conversations.models import (
    APPLIED_EVENTS_KEPT,
    Conversation,
    Csat,
    Message,
)
from messenger_channel.conversations.send_rules import conversation_send_type
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.queue_messages import QuickReply
from messenger_channel.services import Services
from messenger_channel.storage.tables import Entity, Table, TableStore
from messenger_channel.workforce.workstreams import RatingSurvey, Workstream

log = logging.getLogger(__name__)

PAYLOAD_PREFIX = "csat"
ANSWER_WINDOW = timedelta(hours=1)  # a typed rating, after the question
COMMENT_WINDOW = timedelta(hours=1)  # the comment, after the rating
MAX_COMMENT = 2000
# A typed remark counts as the answer only when it is one word ("great", "meh", "👍") that
# is not how a customer starts a new request; anything longer is served as one.
MAX_REMARK_CHARS = 25
_OPENERS = frozenset({
    "hi", "hello", "hey", "hiya", "yo", "help", "agent", "human", "operator", "hallo", "hola",
    "bonjour", "salut", "ciao", "olá", "ola", "oi", "servus", "moin", "hej", "ahoj", "merhaba",
    "привет", "здравствуйте"})

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FILLED_STARS = frozenset("⭐★🌟")
_EMPTY_STARS = frozenset("☆")
_IGNORED = frozenset("\ufe0f\u200d ")  # emoji variation selector, joiner, spaces
_NUMBER = re.compile(
    r"(\d{1,3})\s*(?:(?:/|out\s+of|of|sur|von|de)\s*(\d{1,3}))?"
    r"\s*(?:stars?|points?|pts?|étoiles?|sterne?|estrellas?|[⭐★🌟\ufe0f]+)?\s*[!.]*")


# ------------------------------------------------------------------------ pure parts


def rating_payload(conversation_id: str, score: int) -> str:
    return f"{PAYLOAD_PREFIX}:{conversation_id}:{score}"


@dataclass(frozen=True)
class PayloadRating:
    conversation_id: str
    score: int


def rating_of_payload(payload: str | None) -> PayloadRating | None:
    """The conversation and score a rating quick reply names, or None for any other payload."""
    if payload is None:
        return None
    parts = payload.split(":")
    if len(parts) != 3 or parts[0] != PAYLOAD_PREFIX or not _ID.fullmatch(parts[1]):
        return None
    if not parts[2].isascii() or not parts[2].isdigit() or len(parts[2]) > 2:
        return None
    return PayloadRating(parts[1], int(parts[2]))


@dataclass(frozen=True)
class RatingAnswer:
    score: int | None  # None: outside the scale, kept as a comment
    comment: str | None


def parse_rating(text: str, scale: int = 5) -> RatingAnswer | None:
    """A typed answer to the rating question: a score on ``1..scale``; a number outside the
    scale or a one-word remark as a comment (score None); None when the text is not an
    answer."""
    stripped = text.strip()
    if not stripped:
        return None
    comment = stripped[:MAX_COMMENT]
    folded = unicodedata.normalize("NFC", stripped).casefold()
    stars = [c for c in folded if c not in _IGNORED]
    if stars and all(c in _FILLED_STARS or c in _EMPTY_STARS for c in stars):
        filled = sum(c in _FILLED_STARS for c in stars)
        empty = len(stars) - filled
        in_scale = 1 <= filled <= scale and (empty == 0 or filled + empty == scale)
        return RatingAnswer(filled, None) if in_scale else RatingAnswer(None, comment)
    number = _NUMBER.fullmatch(folded)
    if number is not None:
        score, out_of = int(number.group(1)), number.group(2)
        if 1 <= score <= scale and (out_of is None or int(out_of) == scale):
            return RatingAnswer(score, None)
        return RatingAnswer(None, comment)
    words = folded.split()
    word = words[0].strip("!.,;:~…") if len(words) == 1 else ""
    if (word and len(folded) <= MAX_REMARK_CHARS and "?" not in folded
            and not any(c.isdigit() for c in folded) and word not in _OPENERS
            and not folded.startswith(("http:", "https:", "www."))):
        return RatingAnswer(None, comment)
    return None


def with_rating(conversation: Conversation, answer: RatingAnswer, at: datetime,
                event_id: str) -> Conversation | None:
    """The conversation with the answer as its ``csat`` (a comment given before is kept when
    only a score comes); None when ``event_id`` was applied already."""
    if event_id in conversation.applied_events:
        return None
    earlier = conversation.csat
    comment = answer.comment or (None if earlier is None else earlier.comment)
    csat = Csat(score=answer.score, comment=comment, at=at)
    return conversation.model_copy(update={"csat": csat, **_answered(conversation, at, event_id)})


def _answered(conversation: Conversation, at: datetime, event_id: str) -> dict[str, object]:
    # An answer is a customer's message: it opens Facebook's window again (for the comment
    # prompt, and for an agent who reopens the conversation).
    latest = conversation.last_customer_message_at
    return {"applied_events": [*conversation.applied_events, event_id][-APPLIED_EVENTS_KEPT:],
            "last_customer_message_at": at if latest is None else max(latest, at)}


def with_comment(conversation: Conversation, text: str, at: datetime,
                 event_id: str) -> Conversation | None:
    if event_id in conversation.applied_events:
        return None
    earlier = conversation.csat
    csat = Csat(score=None if earlier is None else earlier.score,
                comment=text.strip()[:MAX_COMMENT] or None,
                at=at if earlier is None else earlier.at)
    return conversation.model_copy(update={"csat": csat, **_answered(conversation, at, event_id)})


# --------------------------------------------------------------------- pending answers

Stage = Literal["rating", "comment", "done"]


class PendingSurvey(Entity):
    """The survey a customer was last asked: what their next text may answer, until when."""

    page_id: str
    psid: str
    conversation_id: str
    stage: Stage
    until: datetime
    events: list[str] = Field(default_factory=list)  # the events that answered it

    def partition_key(self) -> str:
        return self.page_id

    def row_key(self) -> str:
        return self.psid


def pending_surveys(store: TableStore) -> Table[PendingSurvey]:
    return store.table("PendingSurveys", PendingSurvey)


def _survey_occasion(conversation: Conversation) -> str:
    # The first close's occasion (``closing``): one survey per time an agent held it.
    return f"survey-ended-{conversation.assigned_at}"


def send_post_conversation_survey(services: Services, conversation: Conversation,
                                  workstream: Workstream) -> Message | None:
    """The workstream's post-conversation survey for a conversation that is closing: sent
    once per assignment, when an agent held it and the messaging window is open. None when
    nothing is (or was already) to be sent."""
    survey = workstream.post_conversation_survey
    if survey is None or conversation.assigned_at is None:
        return None
    if conversation_send_type(services, conversation, human=False) is None:
        log.info("post-conversation survey not sent: outside the messaging window",
                 extra={"conversation_id": conversation.id, "page_id": conversation.page_id})
        return None
    occasion = _survey_occasion(conversation)
    if not isinstance(survey, RatingSurvey):
        return send_automated(services, conversation, workstream, "post_conversation_survey",
                              occasion=occasion, text=f"{survey.message} {survey.url}")
    now = services.clock.now()
    # Before the question goes out, so a typed answer is expected as soon as it can come.
    pending_surveys(services.tables).upsert(PendingSurvey(
        page_id=conversation.page_id, psid=conversation.psid, conversation_id=conversation.id,
        stage="rating", until=now + ANSWER_WINDOW))
    buttons = [QuickReply(title=str(score), payload=rating_payload(conversation.id, score))
               for score in range(1, survey.scale + 1)]
    return send_automated(services, conversation, workstream, "post_conversation_survey",
                          occasion=occasion, text=survey.question, quick_replies=buttons)


@dataclass
class SurveyAnswers:
    """Records a customer's answers (the router's side)."""

    services: Services

    def __post_init__(self) -> None:
        self.store = ConversationStore.of(self.services)
        self.pending = pending_surveys(self.services.tables)

    def waiting_for(self, page_id: str, psid: str, at: datetime) -> PendingSurvey | None:
        """What the customer's text at ``at`` may answer (or did: see ``events``)."""
        pending = self.pending.get(page_id, psid)
        if pending is None or (pending.stage != "done" and at > pending.until):
            return None
        return pending

    def rate(self, conversation: Conversation, answer: RatingAnswer, at: datetime,
             event_id: str, workstream: Workstream | None) -> Conversation:
        """Store the rating, then ask for the comment when the survey has a prompt."""
        rated = self.store.touch(conversation.id,
                                 lambda c: with_rating(c, answer, at, event_id))
        survey = None if workstream is None else workstream.post_conversation_survey
        prompt = survey.comment_prompt if isinstance(survey, RatingSurvey) else None
        asks = prompt is not None and answer.score is not None
        stage: Stage = "comment" if asks else "done"

        def mutate(p: PendingSurvey) -> PendingSurvey | None:
            if event_id in p.events:
                return None  # a redelivery: moved on already
            if p.conversation_id != conversation.id and p.stage != "done" and at <= p.until:
                return None  # a later survey waits: a late tap on an old one leaves it
            return p.model_copy(update={"conversation_id": conversation.id, "stage": stage,
                                        "until": at + COMMENT_WINDOW,
                                        "events": [*p.events, event_id][-10:]})

        pending = self.pending.create_or_update(
            conversation.page_id, conversation.psid,
            lambda: PendingSurvey(page_id=conversation.page_id, psid=conversation.psid,
                                  conversation_id=conversation.id, stage=stage, until=at),
            mutate)
        log.info("satisfaction rating stored",
                 extra={"conversation_id": conversation.id, "score": answer.score})
        if asks and pending.conversation_id == conversation.id:
            self.ask_for_comment(rated, pending, event_id, workstream)
        return rated

    def ask_for_comment(self, conversation: Conversation, pending: PendingSurvey,
                        rated_by: str, workstream: Workstream | None) -> None:
        """Send the comment prompt, once, if the rating ``rated_by`` is what the customer's
        survey last moved on (a redelivery of it sends nothing twice)."""
        survey = None if workstream is None else workstream.post_conversation_survey
        prompt = survey.comment_prompt if isinstance(survey, RatingSurvey) else None
        if (workstream is None or prompt is None or pending.stage != "comment"
                or pending.events[-1:] != [rated_by]):
            return
        send_automated(self.services, conversation, workstream, "csat_comment_prompt",
                       occasion=f"csat-comment-{conversation.assigned_at}", text=prompt)

    def comment(self, conversation: Conversation, text: str, at: datetime,
                event_id: str) -> Conversation:
        commented = self.store.touch(conversation.id,
                                     lambda c: with_comment(c, text, at, event_id))
        self.pending.update(conversation.page_id, conversation.psid, lambda p: None if (
            event_id in p.events) else p.model_copy(update={
                "stage": "done", "events": [*p.events, event_id][-10:]}))
        log.info("satisfaction comment stored", extra={"conversation_id": conversation.id})
        return commented

    def forget(self, pending: PendingSurvey) -> None:
        """The customer moved on (wrote something that is no answer): stop waiting."""
        self.pending.update(pending.page_id, pending.psid, lambda p: None if (
            p.stage == "done" or p.conversation_id != pending.conversation_id) else
            p.model_copy(update={"stage": "done"}))


def typed_answer(pending: PendingSurvey, text: str | None,
                 scale: int = 5) -> RatingAnswer | Literal["comment"] | None:
    """What a customer's text is to the survey ``pending`` waits on: a rating answer, the
    comment, or None (no answer: normal routing)."""
    if text is None or not text.strip() or pending.stage == "done":
        return None
    if pending.stage == "comment":
        return "comment"
    return parse_rating(text, scale)


def scale_of(workstream: Workstream | None) -> int:
    survey = None if workstream is None else workstream.post_conversation_survey
    return survey.scale if isinstance(survey, RatingSurvey) else 5


__all__: Sequence[str] = (
    "ANSWER_WINDOW", "COMMENT_WINDOW", "PendingSurvey", "RatingAnswer", "SurveyAnswers",
    "parse_rating", "rating_of_payload", "rating_payload", "send_post_conversation_survey",
    "typed_answer")
