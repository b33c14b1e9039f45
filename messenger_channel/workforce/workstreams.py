"""Workstreams: how one page's conversations are classified, distributed and spoken to.

The settings and defaults are those of API.md, after the Dynamics 365 Facebook workstream:
distribution mode fixed at creation, assignment method, capacity, allowed presences, offer
timeout, auto-close, wrap-up, attachments, the HUMAN_AGENT tag, automated messages per trigger
and locale, the surveys, routing rules, the business hours (``operating_hours``) and the one
time zone the hours and the rules' ``time.*`` fields are read in. A page has at most one
workstream.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

import pydantic_core
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)

from messenger_channel.clock import Clock, system_clock
from messenger_channel.errors import Conflict, Invalid, Missing
from messenger_channel.provisioning.models import ProvisioningState
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.routing.rules import (
    Name,
    QueueRef,
    RoutingRules,
    TimeZoneName,
    references,
)
from messenger_channel.secrets import SecretStore
from messenger_channel.services import Services
from messenger_channel.storage.errors import NotFound
from messenger_channel.storage.tables import MAX_STRING_UNITS, TableStore
from messenger_channel.workforce.agents import Presence
from messenger_channel.workforce.handover import HandoverSettings
from messenger_channel.workforce.operating_hours import OperatingHours
from messenger_channel.workforce.queues import unknown_queues
from messenger_channel.workforce.resource import Record, Resource, Text100, new_id
from messenger_channel.workforce.workstream_bot import (
    BotSecretWrite,
    BotSettings,
    StoredBot,
    forget_bot,
    stored_bot,
)

# The automated-message triggers of Dynamics 365, in snake_case: greeting; agent assigned,
# couldn't be assigned, disconnected, ended, joined; customer next in line, position in
# queue; out of (operating) hours; session ended; transfer accepted.
Trigger = Literal[
    "greeting", "agent_assigned", "agent_unavailable", "agent_disconnected", "agent_ended",
    "agent_joined", "next_in_line", "position_in_queue", "out_of_hours", "session_ended",
    "transfer_accepted",
]
PLACEHOLDERS = ("AgentName", "QueueName", "QueuePosition")
MAX_MESSAGE_TEXT = 2000  # the Send API's text limit
MAX_LOCALES = 50
MAX_SURVEY_QUESTIONS = 5
# Messenger quick replies: at most 13, titles of at most 20 characters.
MAX_SURVEY_OPTIONS = 13
MAX_OPTION_TEXT = 20

Locale = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)
]
_PLACEHOLDER = re.compile(r"\{([^{}\s]*)\}")
_VARIABLE = re.compile(r"\$[^{}$\s]+\$")


def _known_placeholders(text: str) -> str:
    for name in _PLACEHOLDER.findall(text):
        # {$name$}: a routing attribute or survey answer, filled when the message is sent.
        if name not in PLACEHOLDERS and not _VARIABLE.fullmatch(name):
            known = ", ".join(f"{{{known}}}" for known in (*PLACEHOLDERS, "$variable$"))
            raise ValueError(f"unknown placeholder {{{name}}}; use {known}")
    return text


def _https_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError("an https:// URL")
    return url


MessageText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_TEXT),
    AfterValidator(_known_placeholders),
]
AutomatedMessages = dict[
    Trigger, Annotated[dict[Locale, MessageText], Field(min_length=1, max_length=MAX_LOCALES)]
]
Option = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_OPTION_TEXT)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WrapUp(_Strict):
    block_capacity: StrictBool = Field(
        True, description="the conversation keeps using the agent's capacity during wrap-up")
    minutes: int = Field(0, ge=0, le=1440, strict=True,
                         description="how long wrap-up lasts; 0: it ends at once")


class SurveyQuestion(_Strict):
    id: Name = Field(description="routing rules read the answer as survey.<id>")
    question: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                               max_length=1000)]
    options: list[Option] = Field(
        default_factory=list, max_length=MAX_SURVEY_OPTIONS,
        description="quick replies (Messenger: at most 13, of 20 characters); "
                    "none: a free-text answer",
    )


SurveyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                               max_length=1000)]


class LinkSurvey(_Strict):
    """A message with a link to a survey elsewhere (Dynamics 365's form)."""

    kind: Literal["link"] = "link"
    message: SurveyText
    url: Annotated[str, StringConstraints(max_length=2000), AfterValidator(_https_url)]


class RatingSurvey(_Strict):
    """A question answered on Messenger with quick replies 1..scale, and an optional prompt
    for a comment after the rating (see ``conversations/satisfaction.py``)."""

    kind: Literal["rating"]
    question: SurveyText
    scale: Literal[5] = Field(5, description="the answers are 1 to 5")
    comment_prompt: SurveyText | None = Field(
        None, description="sent after the rating; the customer's next text is the comment")


class _SurveyKind(BaseModel):
    kind: Literal["link", "rating"] = "link"


def _survey_form(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """The form ``kind`` names; without ``kind`` (as stored before the rating form) a link.
    Validated by the form's own model, so that errors name ``post_conversation_survey.url``
    rather than a union member."""
    if value is None or isinstance(value, LinkSurvey | RatingSurvey):
        return value
    if not isinstance(value, dict):
        return handler(value)
    form = RatingSurvey if _SurveyKind.model_validate(value).kind == "rating" else LinkSurvey
    return form.model_validate(value)


PostConversationSurvey = Annotated[LinkSurvey | RatingSurvey, WrapValidator(_survey_form)]


def _only_available() -> list[Presence]:
    return ["available"]


class WorkstreamFields(_Strict):
    name: Text100
    page_id: str = Field(pattern=r"^\d{1,32}$",
                         description="a connected page (digits); a page has one workstream")
    fallback_queue_id: QueueRef = Field(description="where conversations go when no rule routes")
    language: Locale = "en-US"
    distribution_mode: Literal["push", "pick"] = Field(
        "push", description="fixed when the workstream is created")
    assignment_method: Literal["highest_capacity", "round_robin", "most_idle"] = "highest_capacity"
    capacity_per_conversation: int = Field(10, ge=1, le=1000, strict=True)
    allowed_presences: list[Presence] = Field(
        default_factory=_only_available, min_length=1, max_length=4,
        description="the presences in which an agent is offered conversations",
    )
    offer_timeout_seconds: int = Field(60, ge=10, le=3600, strict=True)
    auto_close_after_minutes: int = Field(
        1440, ge=5, le=43200, strict=True,
        description="inactivity in waiting or active after which a conversation closes")
    wrap_up: WrapUp = Field(default_factory=WrapUp)
    customer_attachments: StrictBool = True
    agent_attachments: StrictBool = True
    human_agent_tag: StrictBool = Field(
        False, description="lets agents answer up to 7 days after the customer's last message")
    automated_messages: AutomatedMessages = Field(
        default_factory=dict,
        description="trigger → {locale → text}; texts may hold "
                    + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS),
    )
    pre_conversation_survey: list[SurveyQuestion] = Field(
        default_factory=list, max_length=MAX_SURVEY_QUESTIONS)
    post_conversation_survey: PostConversationSurvey | None = Field(
        None, description='sent when an agent\'s conversation closes: {"kind": "rating", '
                          '"question", "scale": 5, "comment_prompt"?} or {"kind": "link", '
                          '"message", "url"}')
    routing_rules: RoutingRules = Field(default_factory=list)
    time_zone: TimeZoneName = Field(
        "UTC", description="IANA name; routing rules read time.weekday, time.hour and time.open "
                           "in it; with operating_hours, the same as operating_hours.time_zone")
    operating_hours: OperatingHours | None = Field(
        None, description="weekly hours, holidays and their time zone; none: always open")
    handover: HandoverSettings | None = Field(
        None, description="Messenger's handover protocol: {role: primary|secondary, "
                          "return_to_app_id?}; none: the channel's app is the page's only one")

    @field_validator("allowed_presences")
    @classmethod
    def _presences_once(cls, presences: list[Presence]) -> list[Presence]:
        return list(dict.fromkeys(presences))

    @field_validator("pre_conversation_survey")
    @classmethod
    def _question_ids_unique(cls, questions: list[SurveyQuestion]) -> list[SurveyQuestion]:
        ids = [question.id for question in questions]
        repeated = sorted({question_id for question_id in ids if ids.count(question_id) > 1})
        if repeated:
            raise ValueError(f"question ids must differ; {', '.join(repeated)} repeats")
        return questions


class WorkstreamCreate(WorkstreamFields):
    """The POST body (and, each field optional, the PATCH body)."""

    bot: BotSettings | None = Field(
        None, description="a bot that answers first (workstream_bot.py): {url, secret, "
                          "timeout_seconds, escalate_on_error}; the secret is write-only")


# Routing rules and automated messages can outgrow one table property (64 KiB): a thousand
# rules is ~100 KB of JSON. They are stored compressed (JSON repeats itself, ~10:1), and
# their compressed size is checked before a write.
def _pack(value: Any) -> str:
    return base64.b64encode(zlib.compress(pydantic_core.to_json(value, by_alias=True))).decode()


def _unpack(value: Any) -> Any:
    return json.loads(zlib.decompress(base64.b64decode(value))) if isinstance(value, str) else value


_Unpacked = BeforeValidator(_unpack)
_Packed = PlainSerializer(_pack, when_used="json")


class Workstream(Record, WorkstreamFields):
    TABLE: ClassVar[str] = "Workstreams"
    PARTITION: ClassVar[str] = "workstream"

    automated_messages: Annotated[AutomatedMessages, _Unpacked, _Packed] = Field(
        default_factory=dict)
    routing_rules: Annotated[RoutingRules, _Unpacked, _Packed] = Field(default_factory=list)
    bot: StoredBot | None = None  # the secret's name and the key's hash, never the secret


class Workstreams(Resource[Workstream]):
    KIND = "workstream"
    ID_PREFIX = "ws_"
    RECORD = Workstream
    UNIQUE = "page_id"

    def __init__(self, tables: TableStore, clock: Clock = system_clock,
                 secrets: SecretStore | None = None) -> None:
        super().__init__(tables, clock)
        self.secrets = secrets  # where a bot's secret goes; only writes of a bot need it

    @classmethod
    def of(cls, services: Services) -> Self:
        return cls(services.tables, services.clock, services.secrets)

    def build(self, body: Any, record_id: str, now: datetime,
              bot_secret_ref: str | None = None) -> Workstream:
        given = {name: getattr(body, name) for name in body.model_fields_set}
        fields = {**dict(body), **one_time_zone(given, None)}
        fields["bot"] = stored_bot(fields.get("bot"), None, bot_secret_ref)
        return Workstream(id=record_id, created_at=now, updated_at=now, **fields)

    def update(self, record_id: str, changes: dict[str, Any]) -> tuple[Workstream, Workstream]:
        """``Resource.update``, keeping one time zone (see ``one_time_zone``) against the
        version it replaces."""
        now = self.clock.now()
        replaced: list[Workstream] = []
        # A bot's secret goes to the secret store first, once, whatever the retries below.
        secret = BotSecretWrite(self.secrets, record_id, changes.get("bot"))

        def mutate(current: Workstream) -> Workstream:
            zoned = one_time_zone(changes, current.operating_hours)
            if "bot" in changes:
                zoned = {**zoned, "bot": stored_bot(changes["bot"], current.bot, secret.ref)}
            merged = Workstream.model_validate({**dict(current), **zoned, "updated_at": now})
            self.check(merged, current)
            replaced.append(current)
            return merged

        try:
            updated = self.table.update(self.RECORD.PARTITION, record_id, mutate)
        except NotFound:
            secret.undo()
            raise Missing.of(f"{self.KIND} {record_id}") from None
        except BaseException:
            secret.undo()
            raise
        forget_bot(self.secrets, self.tables, replaced[-1].bot, updated.bot)
        return replaced[-1], updated

    def create(self, body: WorkstreamCreate) -> Workstream:
        secret = BotSecretWrite(self.secrets, body.page_id, body.bot)
        try:
            workstream = self.build(body, new_id(self.ID_PREFIX), self.clock.now(), secret.ref)
            self.check(workstream, None)
            self.insert(workstream)
        except BaseException:
            secret.undo()  # never half-written: no secret outlives a refused create
            raise
        return workstream

    def delete(self, record_id: str) -> None:
        record = self.get(record_id)
        super().delete(record_id)
        forget_bot(self.secrets, self.tables, record.bot, None)

    def conflict(self, value: str) -> Conflict:
        return Conflict("page_has_workstream",
                        f"page {value} already has workstream {self.holder(value)}; "
                        "change or delete that one first")

    def check(self, record: Workstream, previous: Workstream | None) -> None:
        problems: list[tuple[str, str]] = []
        if previous is not None and record.distribution_mode != previous.distribution_mode:
            problems.append(("distribution_mode",
                             f"is fixed when the workstream is created "
                             f"({previous.distribution_mode}), as in Dynamics 365; create "
                             f"another workstream for {record.distribution_mode}"))
        if previous is None or record.page_id != previous.page_id:
            page = ChannelTables(self.tables).page(record.page_id)
            if page is None or page.provisioning_state in (ProvisioningState.DEPROVISIONING,
                                                           ProvisioningState.DEPROVISIONED):
                problems.append(("page_id", f"page {record.page_id} is not connected (or is "
                                            "being removed); add it to an account first"))
        queues = [("fallback_queue_id", record.fallback_queue_id), *_queue_references(record)]
        problems += unknown_queues(self.tables, queues)
        question_ids = {question.id for question in record.pre_conversation_survey}
        if record.bot is not None and question_ids:
            problems.append(("bot", "a workstream with a bot asks no pre-conversation survey "
                                    "(the bot asks, and escalates with attributes): remove "
                                    "pre_conversation_survey or the bot"))
        problems += [(ref.path, f"no question {ref.target!r} in pre_conversation_survey")
                     for ref in references(record.routing_rules)
                     if ref.kind == "survey" and ref.target not in question_ids]
        for name in ("automated_messages", "routing_rules"):
            size = len(_pack(getattr(record, name))) + 2  # stored as a JSON string
            if size > MAX_STRING_UNITS:
                problems.append((name, f"too large to store: {size} characters compressed, "
                                       f"at most {MAX_STRING_UNITS}"))
        if problems:
            raise Invalid(problems)


def one_time_zone(changes: dict[str, Any],
                  current_hours: OperatingHours | None) -> dict[str, Any]:
    """``changes`` with the workstream's one time zone kept: ``time_zone`` and
    ``operating_hours.time_zone`` are the same whenever both exist. Operating hours given
    alone bring their time zone; a time zone given alone moves the stored hours to it; both
    given must agree."""
    hours = changes.get("operating_hours", current_hours)
    if hours is None:
        return changes
    if "time_zone" not in changes:
        return {**changes, "time_zone": hours.time_zone}
    if "operating_hours" in changes:
        if changes["time_zone"] != hours.time_zone:
            raise Invalid([("time_zone", f"differs from operating_hours.time_zone "
                                         f"({hours.time_zone}): a workstream reads its hours "
                                         "and rules in one time zone; give the same one, or "
                                         "only one of them")])
        return changes
    return {**changes, "operating_hours": hours.model_copy(
        update={"time_zone": changes["time_zone"]})}


def routing_time_zone(workstream: WorkstreamFields) -> str:
    """The time zone of the routing rules' ``time.*`` fields: the operating hours' (the same
    as ``time_zone`` for workstreams written since they exist), else ``time_zone``."""
    hours = workstream.operating_hours
    return workstream.time_zone if hours is None else hours.time_zone


def _queue_references(workstream: Workstream) -> list[tuple[str, str]]:
    return [(ref.path, ref.target) for ref in references(workstream.routing_rules)
            if ref.kind == "queue"]


def queue_uses(workstream: Workstream, queue_id: str) -> list[str]:
    """Where ``workstream`` names the queue: "fallback_queue_id", "routing_rules[0]..."."""
    uses = [path for path, target in _queue_references(workstream) if target == queue_id]
    return ["fallback_queue_id", *uses] if workstream.fallback_queue_id == queue_id else uses


def get_workstream(tables: TableStore, workstream_id: str) -> Workstream | None:
    return Workstreams(tables).find(workstream_id)


def list_workstreams(tables: TableStore) -> list[Workstream]:
    return Workstreams(tables).all()


def workstream_for_page(tables: TableStore, page_id: str) -> Workstream | None:
    """The workstream bound to the page, if any (two point reads)."""
    workstreams = Workstreams(tables)
    workstream_id = workstreams.holder(page_id)
    workstream = None if workstream_id is None else workstreams.find(workstream_id)
    # The claim is written before the workstream and released after it moves on.
    return workstream if workstream is not None and workstream.page_id == page_id else None
