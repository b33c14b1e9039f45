"""``/api/bot``: a workstream's bot writing to its customers and escalating, with the bot's own
key (``POST /api/manage/workstreams/{id}/bot-key``). The core's ``bot_calls`` decides."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from messenger_channel.api.agent_conversations import ConversationOut, conversation_out
from messenger_channel.api.auth import BotWorkstreamDep, ServicesDep
from messenger_channel.api.errors import documented
from messenger_channel.conversations.bot_answers import MAX_ATTRIBUTES, AttributeValue, BotMessage
from messenger_channel.conversations.bot_calls import bot_escalates, bot_writes
from messenger_channel.conversations.models import MessageStatus
from messenger_channel.routing.rules import Name

router = APIRouter(prefix="/api/bot", tags=["bot"])


class BotQueued(BaseModel):
    id: str
    status: MessageStatus
    message_ids: list[str]  # a message with text and a file is two Messenger messages


class EscalateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attributes: dict[Name, AttributeValue] = Field(
        default_factory=dict, max_length=MAX_ATTRIBUTES,
        description="what the bot learned; routing rules read them as attributes.<name>")


@router.post("/conversations/{conversation_id}/messages", status_code=202,
             responses=documented({409: "not_with_bot, outside_messaging_window, "
                                        "page_token_invalid"}),
             response_model=BotQueued, summary="Send the customer a message from the bot")
def bot_message(conversation_id: str, body: BotMessage, workstream_id: BotWorkstreamDep,
                services: ServicesDep) -> BotQueued:
    made = bot_writes(services, workstream_id, conversation_id, body)
    return BotQueued(id=made[-1].id, status="queued", message_ids=[m.id for m in made])


@router.post("/conversations/{conversation_id}/escalate", response_model=ConversationOut,
             responses=documented({409: "not_with_bot, no_bot"}),
             summary="Hand the conversation to the agents, with what the bot learned")
def bot_escalate(conversation_id: str, workstream_id: BotWorkstreamDep, services: ServicesDep,
                 body: EscalateBody | None = None) -> ConversationOut:
    escalated = bot_escalates(services, workstream_id, conversation_id,
                              {} if body is None else body.attributes)
    return conversation_out(services, escalated)
