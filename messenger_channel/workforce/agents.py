"""Agents: the people who take conversations, with their queues, capacity, presence and key.

An agent's API key is shown once, when it is made or rotated; only its hash is kept,
in ``AgentKeys`` (where authentication finds it) and on the agent (to revoke it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from messenger_channel.agent_keys import AgentKeys, hash_key, new_agent_key
from messenger_channel.clock import Clock, system_clock
from messenger_channel.errors import Conflict, Invalid
from messenger_channel.routing.rules import QueueRef
from messenger_channel.storage.errors import AlreadyExists
from messenger_channel.storage.tables import TableStore
from messenger_channel.workforce.queues import unknown_queues
from messenger_channel.workforce.resource import Record, Resource, Text100

Presence = Literal["available", "busy", "away", "offline"]
Role = Literal["agent", "supervisor"]
MAX_AGENT_QUEUES = 100
# Printable ASCII without spaces: what an `Authorization: Bearer` header carries intact.
ApiKey = Annotated[str, StringConstraints(pattern=r"^[!-~]{32,256}$")]


class AgentFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text100
    queue_ids: list[QueueRef] = Field(
        default_factory=list, max_length=MAX_AGENT_QUEUES,
        description="the queues whose conversations the agent may be offered; each must exist",
    )
    capacity: int = Field(
        100, ge=1, le=1000, strict=True,
        description="units of work at once; each conversation takes its workstream's "
                    "capacity_per_conversation",
    )
    presence: Presence = "offline"
    role: Role = Field(
        "agent", description="a supervisor's key also opens /api/supervisor: every "
                             "conversation, the live view, assignments and reports")

    @field_validator("queue_ids")
    @classmethod
    def _once_each(cls, queue_ids: list[str]) -> list[str]:
        return list(dict.fromkeys(queue_ids))  # a queue listed twice is the same membership


class AgentCreate(AgentFields):
    api_key: ApiKey | None = Field(
        None,
        description="Normally omitted: a random key is generated. A key of your own (32 to "
                    "256 printable ASCII characters, no spaces) lets a development setup, such "
                    "as the local demo, seed an agent with a fixed, known key. Either way the "
                    "key is returned once, in this answer, and only its hash is stored.",
    )


class Agent(Record, AgentFields):
    TABLE: ClassVar[str] = "Agents"
    PARTITION: ClassVar[str] = "agent"

    key_hash: str | None = None


@dataclass(frozen=True)
class IssuedKey:
    """An agent as stored, and the key just issued to it: shown this once, only its hash kept."""

    agent: Agent
    api_key: str


class Agents(Resource[Agent]):
    KIND = "agent"
    ID_PREFIX = "ag_"
    RECORD = Agent

    def __init__(self, tables: TableStore, clock: Clock = system_clock) -> None:
        super().__init__(tables, clock)
        self.keys = AgentKeys(tables)

    def build(self, body: Any, record_id: str, now: datetime) -> Agent:
        fields = body.model_dump(include=set(AgentFields.model_fields))
        return Agent(id=record_id, created_at=now, updated_at=now, **fields)

    def check(self, record: Agent, previous: Agent | None) -> None:
        references = [(f"queue_ids[{i}]", queue_id) for i, queue_id in enumerate(record.queue_ids)]
        problems = unknown_queues(self.tables, references)
        if problems:
            raise Invalid(problems)

    def create(self, body: AgentCreate) -> IssuedKey:
        key = body.api_key or new_agent_key()
        now = self.clock.now()
        record = self.new(body, now)
        self._register(record.id, key, now)
        record.key_hash = hash_key(key)
        try:
            self.insert(record)
        except BaseException:
            self.keys.revoke(record.key_hash)
            raise
        return IssuedKey(record, key)

    def rotate_key(self, agent_id: str, api_key: str | None = None) -> IssuedKey:
        """A new key for the agent (``api_key``, or a random one), returned once; the old
        one stops working. Giving the agent's current key again changes nothing, so a
        setup script may repeat itself."""
        agent = self.get(agent_id)
        key = api_key or new_agent_key()
        if not self._register(agent_id, key, self.clock.now()):
            return IssuedKey(agent, key)
        digest = hash_key(key)
        updated = self.exchange(agent_id, {"key_hash": digest}, acquired=digest,
                                release=self.keys.revoke, held=lambda agent: agent.key_hash)
        return IssuedKey(updated, key)

    def _register(self, agent_id: str, key: str, now: datetime) -> bool:
        """Store the key's hash for the agent: True if new, False if it is the agent's
        already; ``Conflict`` if it is another agent's."""
        try:
            self.keys.register(agent_id, key, now)
        except AlreadyExists:
            if self.keys.agent_for(key) == agent_id:
                return False
            raise Conflict("api_key_taken",
                           "this api_key belongs to another agent; omit it to get a new one"
                           ) from None
        return True

    def before_delete(self, record: Agent) -> None:
        # The key goes first: an agent left without a key is harmless; a key left without
        # its agent would still authenticate.
        if record.key_hash is not None:
            self.keys.revoke(record.key_hash)


def get_agent(tables: TableStore, agent_id: str) -> Agent | None:
    return Agents(tables).find(agent_id)


def list_agents(tables: TableStore) -> list[Agent]:
    return Agents(tables).all()
