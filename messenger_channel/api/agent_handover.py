"""Passing a customer's Messenger thread to another app (the handover protocol):
``POST /api/agent/conversations/{id}/pass-thread`` for the agent who holds the conversation,
``POST /api/supervisor/conversations/{id}/pass-thread`` for a supervisor. The call is queued
behind the conversation's messages (``conversations/thread_control``); its outcome shows on the
conversation (``thread_control``, ``thread_owner_app_id``)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from messenger_channel.api.agent_conversations import (
    ConversationOut,
    conversation_answer,
    refusals,
)
from messenger_channel.api.auth import AgentIdDep, ServicesDep, SupervisorIdDep
from messenger_channel.api.errors import documented
from messenger_channel.conversations.assignment import any_conversation
from messenger_channel.conversations.participants import MANAGES, participating
from messenger_channel.conversations.thread_control import pass_thread

agent_router = APIRouter(prefix="/conversations", tags=["agent"])
supervisor_router = APIRouter(prefix="/api/supervisor/conversations", tags=["supervisor"])


class PassThreadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_app_id: str | None = Field(
        None, pattern=r"^\d{1,32}$",
        description="the app to pass the thread to; absent: the workstream's "
                    "handover.return_to_app_id, else the Page Inbox (263902037430900)")


_DOC = ("Queues ``pass_thread_control`` after the conversation's messages → 202 with the "
        "conversation (``thread_control.status: pending``); 409 ``handover_not_configured`` "
        "(the workstream has no ``handover``), ``thread_not_ours`` (another app controls the "
        "thread, or the target is the channel's own app).")


@agent_router.post("/{conversation_id}/pass-thread",
                   name="pass_thread", response_model=ConversationOut,
                   responses=documented({409: "handover_not_configured, thread_not_ours"}),
                   status_code=202, description=_DOC)
def agent_passes(conversation_id: str, agent_id: AgentIdDep, services: ServicesDep,
                 body: PassThreadBody | None = None) -> ConversationOut:
    with refusals(conversation_id):
        conversation = participating(services.tables, conversation_id, agent_id, MANAGES,
                                     "pass its thread")
    passed = pass_thread(services, conversation, (body or PassThreadBody()).target_app_id,
                         f"agent {agent_id}")
    return conversation_answer(services, passed, agent_id)


@supervisor_router.post("/{conversation_id}/pass-thread",
                        name="pass_thread", response_model=ConversationOut,
                        responses=documented({409: "handover_not_configured, "
                                                   "thread_not_ours"}),
                        status_code=202, description=_DOC)
def supervisor_passes(conversation_id: str, supervisor_id: SupervisorIdDep,
                      services: ServicesDep,
                      body: PassThreadBody | None = None) -> ConversationOut:
    with refusals(conversation_id):
        conversation = any_conversation(services, conversation_id)
    passed = pass_thread(services, conversation, (body or PassThreadBody()).target_app_id,
                         f"supervisor {supervisor_id}")
    return conversation_answer(services, passed)
