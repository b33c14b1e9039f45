"""What a bot may answer, and how an HTTP answer becomes one (pure: no I/O).

An answer, inline (the body of the bot's 2xx) or later through ``/api/bot``::

    {"messages": [{"text"?, "quick_replies"?, "attachment_url"?}], "escalate"?: bool,
     "attributes"?: {name: string | number | bool}}

An empty body (or 204) is no answer yet: the bot may answer later through ``/api/bot``.
Anything else that is not such an answer is a failure with a reason (``BotFailure``), which
the router counts and, with ``escalate_on_error``, escalates on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from messenger_channel.queue_messages import QuickReply
from messenger_channel.routing.rules import Name

MAX_MESSAGES = 10  # per answer: a bot that floods the customer is answering wrongly
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_TEXT = 1000
MAX_QUICK_REPLIES = 13  # Messenger's limit

FailureReason = Literal["timeout", "unreachable", "http_error", "not_json", "invalid_answer",
                        "too_large", "no_bot", "no_secret"]


def _web_url(url: str) -> str:
    if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
        raise ValueError("an http(s):// URL Facebook can fetch")
    return url


AttachmentUrl = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_web_url)]
# What a table property and the routing rules hold: text, a bool, a finite number.
AttributeValue = (Annotated[str, StringConstraints(max_length=MAX_ATTRIBUTE_TEXT)]
                  | StrictBool | Annotated[int, Field(ge=-(2**53), le=2**53)]
                  | Annotated[float, Field(allow_inf_nan=False)])


class BotMessage(BaseModel):
    """One message to the customer: text (with quick replies) and/or a file by URL."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    quick_replies: list[QuickReply] = Field(default_factory=list, max_length=MAX_QUICK_REPLIES)
    attachment_url: AttachmentUrl | None = None

    @field_validator("quick_replies", mode="before")
    @classmethod
    def _titles_become_replies(cls, items: Any) -> Any:
        # A bare title is its own payload (cut to 20 characters as a title), as stored ones.
        if not isinstance(items, list):
            return items
        return [{"title": i[:20], "payload": i} if isinstance(i, str) and i else i
                for i in items]

    @model_validator(mode="after")
    def _something(self) -> BotMessage:
        if self.text is None and self.attachment_url is None:
            raise ValueError("a message has text, attachment_url or both")
        if self.quick_replies and self.text is None:
            raise ValueError("quick_replies go with text")
        return self


class BotAnswer(BaseModel):
    # Fields a later version of the contract may add are ignored, not refused.
    model_config = ConfigDict(extra="ignore")

    messages: list[BotMessage] = Field(default_factory=list, max_length=MAX_MESSAGES)
    escalate: StrictBool = False
    attributes: dict[Name, AttributeValue] = Field(default_factory=dict,
                                                   max_length=MAX_ATTRIBUTES)


@dataclass(frozen=True)
class BotFailure:
    reason: FailureReason
    detail: str  # for the log: never the bot's body, which may hold the customer's words


def parse_answer(status: int, body: bytes) -> BotAnswer | BotFailure:
    """The bot's HTTP answer (status, raw body) as an answer, or the failure it is."""
    if not 200 <= status < 300:
        return BotFailure("http_error", f"the bot answered HTTP {status}")
    if status == 204 or not body.strip():
        return BotAnswer()
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return BotFailure("not_json", "the bot's answer is not JSON")
    if not isinstance(document, dict):
        return BotFailure("invalid_answer", "the bot's answer is not a JSON object")
    try:
        return BotAnswer.model_validate(document)
    except ValidationError as error:
        # Where it went wrong and why, without the values (the customer's words may be there).
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}"
                          for e in error.errors(include_input=False)[:5])
        return BotFailure("invalid_answer", f"the bot's answer does not fit: {where}")
