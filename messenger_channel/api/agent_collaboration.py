"""``/api/agent/conversations/{id}/...``: working together — notes, transfer, consultation,
labels. The rules (who may, what races) live in the core modules named in each route; a
refusal reaches the API's handler as it is (404 not theirs, 403 not their role, 409, 422)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from messenger_channel.api.agent_conversations import (
    ConversationOut,
    MessageOut,
    conversation_answer,
    message_out,
    refusals,
)
from messenger_channel.api.auth import AgentIdDep, ServicesDep
from messenger_channel.api.errors import documented
from messenger_channel.conversations.consult import end_consult, start_consult
from messenger_channel.conversations.labels import Labels, set_labels
from messenger_channel.conversations.notes import MAX_NOTE_CHARS, add_note
from messenger_channel.conversations.transfer import transfer

router = APIRouter(prefix="/conversations", tags=["agent"])


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class TransferBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue_id: str | None = Field(None, min_length=1, max_length=100)
    agent_id: str | None = Field(None, min_length=1, max_length=100)
    note: str | None = Field(None, max_length=MAX_NOTE_CHARS)

    @model_validator(mode="after")
    def _one_target(self) -> TransferBody:
        if (self.queue_id is None) == (self.agent_id is None):
            raise ValueError("give queue_id or agent_id, not both")
        return self


class ConsultBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=100)


class LabelsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: Labels


@router.post("/{conversation_id}/notes",
             name="add_note", status_code=201, response_model=MessageOut)
def note(conversation_id: str, body: NoteBody, agent_id: AgentIdDep,
         services: ServicesDep) -> MessageOut:
    """An internal note (owner or consultant): agents, consultants and supervisors read it;
    it is never sent to Facebook."""
    with refusals(conversation_id):
        made = add_note(services, conversation_id, agent_id, body.text)
    return message_out(services, made)


@router.post("/{conversation_id}/transfer", response_model=ConversationOut,
             responses=documented({409: "conversation_closed, conversation_changed, no_capacity, "
                                        "agent_unavailable, no_workstream"}))
def transfer_conversation(conversation_id: str, body: TransferBody, agent_id: AgentIdDep,
                          services: ServicesDep) -> ConversationOut:
    """To a queue (it waits there like a new conversation) or to a named agent (offered to
    them alone; 409 ``agent_unavailable`` or ``no_capacity`` when they cannot take it). It
    leaves the caller at once; the answer shows it as it now is (``role`` null)."""
    with refusals(conversation_id):
        moved = transfer(services, conversation_id, agent_id, queue_id=body.queue_id,
                         to_agent_id=body.agent_id, note=body.note)
    return conversation_answer(services, moved, agent_id)


@router.post("/{conversation_id}/consult",
             name="start_consultation", status_code=201, response_model=ConversationOut,
             responses=documented({409: "agent_unavailable, conversation_closed, "
                                        "conversation_changed"}))
def consult(conversation_id: str, body: ConsultBody, agent_id: AgentIdDep,
            services: ServicesDep) -> ConversationOut:
    """The owner asks a colleague to consult: they read it and write notes, never to the
    customer."""
    with refusals(conversation_id):
        updated = start_consult(services, conversation_id, agent_id, body.agent_id)
    return conversation_answer(services, updated, agent_id)


@router.delete("/{conversation_id}/consult/{consultant_id}", status_code=204,
               response_class=Response)
def end_consultation(conversation_id: str, consultant_id: str, agent_id: AgentIdDep,
                     services: ServicesDep) -> Response:
    """The owner ends a consultation, or the consultant leaves it."""
    with refusals(conversation_id):
        end_consult(services, conversation_id, agent_id, consultant_id)
    return Response(status_code=204)


@router.put("/{conversation_id}/labels", name="set_labels", response_model=ConversationOut)
def labels(conversation_id: str, body: LabelsBody, agent_id: AgentIdDep,
           services: ServicesDep) -> ConversationOut:
    """Replace the labels: each ``[a-z0-9][a-z0-9_-]{0,31}``, at most 20."""
    with refusals(conversation_id):
        updated = set_labels(services, conversation_id, agent_id, body.labels)
    return conversation_answer(services, updated, agent_id)
