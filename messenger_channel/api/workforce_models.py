"""What the management API shows of queues, agents and workstreams, and its PATCH bodies."""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model

from messenger_channel.api.types import ApiTime
from messenger_channel.workforce.agents import Agent, AgentFields, ApiKey, IssuedKey
from messenger_channel.workforce.queues import QueueFields
from messenger_channel.workforce.resource import Record
from messenger_channel.workforce.workstream_bot import BotOut
from messenger_channel.workforce.workstreams import WorkstreamCreate, WorkstreamFields


class RecordOut(BaseModel):
    """The fields every resource shows besides its own."""

    id: str
    created_at: ApiTime
    updated_at: ApiTime


Out = TypeVar("Out", bound=RecordOut)


def shown(out: type[Out], record: Record) -> Out:
    """``record`` as the API shows it: the fields of ``out``, times to the second."""
    return out.model_validate(record, from_attributes=True)


def patch_model(model: type[BaseModel], name: str | None = None) -> type[BaseModel]:
    """The PATCH body for ``model``: the same fields and checks, each optional. A field that
    is absent stays as it is; ``null`` is refused unless the field itself admits it."""
    model_name = name or f"{model.__name__.removesuffix('Fields')}Patch"
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        optional = copy.copy(info)
        # Defaults are not validated, so the default None only means "absent"; a null in
        # the body is still checked against the field's own type.
        optional.default, optional.default_factory = None, None
        fields[field_name] = (info.annotation, optional)
    return create_model(model_name, __base__=model, **fields)


# --------------------------------------------------------------------------------- queues


class QueueOut(RecordOut, QueueFields):
    pass


QueuePatch = patch_model(QueueFields)


# --------------------------------------------------------------------------------- agents


class AgentOut(RecordOut, AgentFields):
    pass


class AgentWithKey(AgentOut):
    api_key: str = Field(description="shown this once: only its hash is stored")


AgentPatch = patch_model(AgentFields)


class KeyRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: ApiKey | None = Field(
        None, description="Normally omitted: a random key is generated. As in POST, a key of "
                          "your own is for development setups; giving the agent's current key "
                          "again changes nothing.")


def agent_out(agent: Agent) -> AgentOut:
    return shown(AgentOut, agent)


def agent_with_key(issued: IssuedKey) -> AgentWithKey:
    return AgentWithKey(**dict(agent_out(issued.agent)), api_key=issued.api_key)


# ---------------------------------------------------------------------------- workstreams


class WorkstreamOut(RecordOut, WorkstreamFields):
    bot: BotOut | None = Field(None, description="no secret: it is write-only")


WorkstreamPatch = patch_model(WorkstreamCreate, name="WorkstreamPatch")
