"""Canned responses (saved replies): team ones, managed by operators and usable by the agents
of their queues, and each agent's personal ones.

========================= ============================ ========== ==========================
table                     PartitionKey                 RowKey     holds
========================= ============================ ========== ==========================
``CannedResponses``       ``team``                     id         the team's responses
``CannedResponses``       ``agent:<agent id>``         id         one agent's own responses
========================= ============================ ========== ==========================

A shortcut is unique among the team's responses, and among each agent's personal ones (a
``Claims`` row per shortcut and partition, as queues claim their names). An agent may use
their personal responses and the team ones of their queues, or with no queues at all:
``usable_by`` lists them, ``canned_for_agent`` finds one of them.

``text`` may hold placeholders (``{{customer.first_name}}``, ``{{customer.name}}``,
``{{agent.name}}``, ``{{page.name}}``), checked when stored and filled by
``fill_placeholders`` when the message is sent.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from messenger_channel.clock import Clock, system_clock
from messenger_channel.errors import Invalid, Missing
from messenger_channel.routing.rules import QueueRef
from messenger_channel.storage.errors import InvalidKey, NotFound
from messenger_channel.storage.tables import TableStore
from messenger_channel.workforce.agents import Agent
from messenger_channel.workforce.queues import unknown_queues
from messenger_channel.workforce.resource import Record, Resource, Text100

TEAM_PARTITION = "team"
MAX_TEXT_CHARS = 2000  # what one Messenger text message holds
MAX_QUICK_REPLIES = 13  # Messenger's limit
MAX_CANNED_QUEUES = 100
PLACEHOLDERS = ("customer.first_name", "customer.name", "agent.name", "page.name")

Shortcut = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
CannedText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=MAX_TEXT_CHARS)]

# ``{{ name }}``: a pair of double braces with no brace inside; the name without spaces.
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def personal_partition(agent_id: str) -> str:
    return f"agent:{agent_id}"


# ----------------------------------------------------------------------------- records


class CannedQuickReply(BaseModel):
    """A Messenger quick reply: a button under the message that sends ``payload`` back."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    payload: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class CannedFields(BaseModel):
    """What an agent writes for a personal response (and an operator for a team one)."""

    model_config = ConfigDict(extra="forbid")

    shortcut: Shortcut = Field(description="what an agent types to find it: lowercase letters, "
                                           "digits, '_' and '-', at most 32")
    title: Text100
    text: CannedText = Field(description="may hold {{customer.first_name}}, {{customer.name}}, "
                                         "{{agent.name}} and {{page.name}}, filled when sent")
    quick_replies: list[CannedQuickReply] = Field(default_factory=list,
                                                  max_length=MAX_QUICK_REPLIES)

    @field_validator("text")
    @classmethod
    def _known_placeholders(cls, text: str) -> str:
        unknown = unknown_placeholders(text)
        if unknown:
            names = ", ".join(f"{{{{{name}}}}}" for name in unknown)
            known = ", ".join(f"{{{{{name}}}}}" for name in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {names}; the known ones are {known}")
        return text


class TeamCannedFields(CannedFields):
    """A team response also names the queues whose agents may use it (none: every agent)."""

    queue_ids: list[QueueRef] = Field(
        default_factory=list, max_length=MAX_CANNED_QUEUES,
        description="the queues whose agents may use it, each existing; empty: every agent",
    )

    @field_validator("queue_ids")
    @classmethod
    def _once_each(cls, queue_ids: list[str]) -> list[str]:
        return list(dict.fromkeys(queue_ids))


class PersonalCannedCreate(CannedFields):
    """The POST body of a personal response."""


class TeamCannedCreate(TeamCannedFields):
    """The POST body of a team response."""


class CannedResponse(Record, TeamCannedFields):
    TABLE: ClassVar[str] = "CannedResponses"
    PARTITION: ClassVar[str] = TEAM_PARTITION  # of team ones; personal ones: their agent's

    owner_agent_id: str | None = None  # None: a team response

    def partition_key(self) -> str:
        return (TEAM_PARTITION if self.owner_agent_id is None
                else personal_partition(self.owner_agent_id))

    def usable_by(self, agent: Agent) -> bool:
        """Whether ``agent`` may use it: their own, or a team one of their queues (or of none)."""
        if self.owner_agent_id is not None:
            return self.owner_agent_id == agent.id
        return not self.queue_ids or not set(self.queue_ids).isdisjoint(agent.queue_ids)


# ---------------------------------------------------------------------------- resource


class CannedResponses(Resource[CannedResponse]):
    """The team's responses (``owner_agent_id`` None) or one agent's personal ones: each
    instance manages one partition, so another agent's id is simply not found."""

    KIND = "canned response"
    ID_PREFIX = "cr_"
    RECORD = CannedResponse
    UNIQUE = "shortcut"

    def __init__(self, tables: TableStore, clock: Clock = system_clock,
                 owner_agent_id: str | None = None) -> None:
        super().__init__(tables, clock)
        self.owner_agent_id = owner_agent_id
        self.partition = (TEAM_PARTITION if owner_agent_id is None
                          else personal_partition(owner_agent_id))

    def build(self, body: Any, record_id: str, now: datetime) -> CannedResponse:
        fields = body.model_dump(include=set(TeamCannedFields.model_fields))
        return CannedResponse(id=record_id, created_at=now, updated_at=now,
                              owner_agent_id=self.owner_agent_id, **fields)

    def check(self, record: CannedResponse, previous: CannedResponse | None) -> None:
        # Only the queues this change adds: a queue deleted since does not block other edits.
        before = set() if previous is None else set(previous.queue_ids)
        references = [(f"queue_ids[{i}]", queue_id) for i, queue_id in enumerate(record.queue_ids)
                      if queue_id not in before]
        problems = unknown_queues(self.tables, references)
        if problems:
            raise Invalid(problems)

    def unique_value(self, value: str) -> str:
        # One shortcut per partition: the team's, and each agent's.
        return f"{self.partition}\n{value}"

    def create(self, body: CannedFields) -> CannedResponse:
        record = self.new(body, self.clock.now())
        self.insert(record)
        return record

    # The base class reads and writes the record class's one partition; these use this
    # instance's.

    def find(self, record_id: str) -> CannedResponse | None:
        try:
            return self.table.get(self.partition, record_id)
        except InvalidKey:  # an id we never issued, e.g. with a control character
            return None

    def all(self) -> list[CannedResponse]:
        return self.table.list_partition(self.partition)

    def update(self, record_id: str,
               changes: dict[str, Any]) -> tuple[CannedResponse, CannedResponse]:
        now = self.clock.now()
        replaced: list[CannedResponse] = []

        def mutate(current: CannedResponse) -> CannedResponse:
            merged = CannedResponse.model_validate({**dict(current), **changes, "updated_at": now})
            self.check(merged, current)
            replaced.append(current)
            return merged

        try:
            updated = self.table.update(self.partition, record_id, mutate)
        except (NotFound, InvalidKey):
            raise Missing.of(f"{self.KIND} {record_id}") from None
        return replaced[-1], updated

    def delete(self, record_id: str) -> None:
        record = self.get(record_id)
        with contextlib.suppress(NotFound):  # deleted meanwhile: the same outcome
            self.table.delete(self.partition, record_id)
        self._release(record_id, self._unique_of(record))


# ------------------------------------------------------------------------------ search


def normalise(text: str) -> str:
    """Case- and accent-free: ``Réponse d'Été`` → ``reponse d'ete``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize(
        "NFKC", "".join(c for c in decomposed if not unicodedata.combining(c)))


_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(normalise(text))


def matches(canned: CannedResponse, query: str) -> bool:
    """Whether ``query`` finds ``canned``: the query (a leading ``/`` ignored) starts its
    shortcut, or each word of the query starts a word of its shortcut or title; any case,
    any accent. An empty query finds everything."""
    wanted = normalise(query).strip().removeprefix("/").strip()
    if not wanted or canned.shortcut.startswith(wanted):
        return True
    terms = _words(wanted)
    if not terms:
        return False
    words = [*_words(canned.shortcut), *_words(canned.title)]
    return all(any(word.startswith(term) for word in words) for term in terms)


def by_shortcut(responses: Iterable[CannedResponse]) -> list[CannedResponse]:
    return sorted(responses, key=lambda canned: (canned.shortcut, canned.id))


def usable_by(tables: TableStore, agent: Agent, query: str = "") -> list[CannedResponse]:
    """The responses ``agent`` may use that ``query`` finds: their personal ones, then the
    team ones of their queues (or of no queue), each sorted by shortcut. Two partition reads."""
    personal = CannedResponses(tables, owner_agent_id=agent.id).all()
    team = [canned for canned in CannedResponses(tables).all() if canned.usable_by(agent)]
    return [canned for group in (personal, team) for canned in by_shortcut(group)
            if matches(canned, query)]


def forget_personal_responses(tables: TableStore, agent_id: str) -> int:
    """Delete a deleted agent's personal responses (and free their shortcuts); how many."""
    responses = CannedResponses(tables, owner_agent_id=agent_id)
    mine = responses.all()
    for canned in mine:
        with contextlib.suppress(Missing):  # deleted meanwhile: the same outcome
            responses.delete(canned.id)
    return len(mine)


def canned_for_agent(tables: TableStore, agent: Agent, canned_id: str) -> CannedResponse:
    """The response ``canned_id`` if ``agent`` may use it (one that ``usable_by`` lists);
    ``Missing`` otherwise, whether it does not exist or is not theirs to use."""
    for owner in (agent.id, None):
        canned = CannedResponses(tables, owner_agent_id=owner).find(canned_id)
        if canned is not None and canned.usable_by(agent):
            return canned
    raise Missing.of(f"canned response {canned_id}")


# ------------------------------------------------------------------------ placeholders


def placeholders(text: str) -> list[str]:
    """The names of the placeholders in ``text``, in order (``{{ a }}`` names ``a``)."""
    return [match.group(1) for match in _PLACEHOLDER.finditer(text)]


def unknown_placeholders(text: str) -> list[str]:
    """The names in ``text`` that are not placeholders ``fill_placeholders`` knows, once each."""
    return list(dict.fromkeys(name for name in placeholders(text) if name not in PLACEHOLDERS))


def first_name(full_name: str | None) -> str | None:
    """The first word of a name: ``"Lea Roy"`` → ``"Lea"``; None for no name."""
    parts = (full_name or "").split()
    return parts[0] if parts else None


# Before a dropped placeholder, these keep the space after it ("({{x}} here)" → "(here)");
# after it, these take the space before it ("Hi {{x}}, thanks" → "Hi, thanks").
_OPENERS = frozenset("([{«“\u2018¿¡")
_CLOSERS = frozenset(",.;:!?)]}»”\u2019…%")


def fill_placeholders(text: str, values: Mapping[str, str | None]) -> str:
    """``text`` with each known placeholder replaced by its value (stripped). A placeholder
    whose value is missing, None or blank is dropped with one adjacent space, so that no
    double space or space before punctuation is left: ``"Hi {{customer.first_name}}, thanks"``
    → ``"Hi, thanks"``; ``"{{customer.first_name}} hello"`` → ``"hello"``. Unknown
    placeholders are left as they are; the result is stripped.

    Values are inserted as they are, never filled in turn; should a value or the braces
    around a placeholder make a known placeholder, it is dropped too, so none is ever sent."""
    result = _fill_once(text, values)
    while any(name in PLACEHOLDERS for name in placeholders(result)):
        result = _fill_once(result, {})  # each pass is shorter: this ends
    return result.strip()


def _fill_once(text: str, values: Mapping[str, str | None]) -> str:
    # Pieces: literal text (str) and dropped placeholders (None); consecutive dropped ones,
    # with nothing between them, count as one.
    pieces: list[str | None] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        pieces.append(text[position:match.start()])
        name = match.group(1)
        if name not in PLACEHOLDERS:
            pieces.append(match.group(0))
        else:
            value = (values.get(name) or "").strip()
            pieces.append(value or None)
        position = match.end()
    pieces.append(text[position:])
    pieces = [piece for piece in pieces if piece != ""]

    out = ""
    skip_space = False
    for index, piece in enumerate(pieces):
        if piece is not None:
            out += piece[1:] if skip_space and piece.startswith(" ") else piece
            skip_space = False
            continue
        if index > 0 and pieces[index - 1] is None:
            continue  # the same gap as the placeholder before it
        before = out[-1] if out else None
        after = next((p[0] for p in pieces[index + 1:] if p), None)
        if before == " " and (after is None or after.isspace() or after in _CLOSERS):
            out = out[:-1]
        elif after == " " and (before is None or before.isspace() or before in _OPENERS):
            skip_space = True
    return out
