"""``/api/agent``: replying, typing, and the agents' attachments.

Same visibility as the conversation routes: replying and typing need the conversation to be
held by the agent; an attachment is readable by its uploader until sent, then by whoever sees
its conversation. Anything else is a 404, like an id that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from messenger_channel.api.agent_conversations import refusals, visible_conversation, visible_to
from messenger_channel.api.auth import AgentIdDep, ServicesDep
from messenger_channel.api.errors import ApiError, documented
from messenger_channel.bus.port import QueueUnavailable
from messenger_channel.conversations.agent_files import find_file, open_file, store_upload
from messenger_channel.conversations.attachments import (
    CONTAINER,
    MAX_ATTACHMENT_BYTES,
    blob_name,
    download_headers,
)
from messenger_channel.conversations.models import ConversationTables, MessageStatus
from messenger_channel.conversations.replies import MAX_ATTACHMENTS, agent_reply, held_conversation
from messenger_channel.conversations.resend import resend
from messenger_channel.conversations.sender import send_action
from messenger_channel.errors import Missing
from messenger_channel.queue_messages import QuickReply
from messenger_channel.services import Services
from messenger_channel.storage.blobs import BlobStream

router = APIRouter(tags=["agent"])

# Room for the multipart envelope around a file at the size limit.
_MULTIPART_OVERHEAD = 64 * 1024
# A reply's text before splitting: long enough for any answer, short enough for one request.
MAX_REPLY_CHARS = 20_000


class ReplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, max_length=MAX_REPLY_CHARS)
    attachment_ids: list[str] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    canned_response_id: str | None = Field(None, min_length=1, max_length=100)
    # Messenger's limits: at most 13 buttons, titles of at most 20 characters.
    quick_replies: list[QuickReply] = Field(default_factory=list, max_length=13)


class Queued(BaseModel):
    id: str
    status: MessageStatus
    # The reply as sent: longer text and each attachment are messages of their own, in order.
    message_ids: list[str]


class TypingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: bool


class AttachmentCreated(BaseModel):
    id: str
    name: str
    content_type: str
    size: int


@router.post("/conversations/{conversation_id}/messages", status_code=202,
             response_model=Queued, responses=documented({
                 409: "outside_messaging_window, attachments_disabled, conversation_closed, "
                      "page_token_invalid",
                 503: "queue_unavailable: try again"}))
def reply(conversation_id: str, body: ReplyBody, agent_id: AgentIdDep,
          services: ServicesDep) -> Queued:
    """Queued for the sender; 409 with the reason when Facebook would refuse it
    (``outside_messaging_window``, ``attachments_disabled``, ``conversation_closed``,
    ``page_token_invalid``)."""
    try:
        with refusals(conversation_id):
            made = agent_reply(services, conversation_id, agent_id, body.text,
                               body.attachment_ids, quick_replies=body.quick_replies,
                               canned_response_id=body.canned_response_id)
    except QueueUnavailable:
        raise _queue_unavailable() from None
    return Queued(id=made[0].id, status="queued", message_ids=[m.id for m in made])


@router.post("/conversations/{conversation_id}/messages/{message_id}/retry",
             name="retry_message", status_code=202,
             response_model=Queued, responses=documented({
                 409: "not_failed, outside_messaging_window, attachments_disabled, "
                      "conversation_closed, page_token_invalid",
                 503: "queue_unavailable: try again"}))
def retry(conversation_id: str, message_id: str, agent_id: AgentIdDep,
          services: ServicesDep) -> Queued:
    """Send a ``failed`` message again, after checking its failure no longer holds (409 with
    the reason when it does: ``outside_messaging_window``, ``page_token_invalid``...)."""
    try:
        with refusals(conversation_id):
            queued = resend(services, conversation_id, agent_id, message_id)
    except QueueUnavailable:
        raise _queue_unavailable() from None
    return Queued(id=queued.id, status="queued", message_ids=[queued.id])


def _queue_unavailable() -> ApiError:
    return ApiError(503, "queue_unavailable", "the message could not be queued; try again "
                                              "shortly")


@router.post("/conversations/{conversation_id}/typing", name="send_typing", status_code=204,
             response_class=Response)
def typing(conversation_id: str, body: TypingBody, agent_id: AgentIdDep,
           services: ServicesDep) -> Response:
    """``typing_on``/``typing_off`` to the customer, best effort (a lost indicator costs
    nothing): 204 once asked, whatever Facebook said."""
    with refusals(conversation_id):
        context = held_conversation(services, conversation_id, agent_id)
    send_action(services, context.conversation, "typing_on" if body.on else "typing_off")
    return Response(status_code=204)


@router.post("/attachments",
             name="upload_attachment", status_code=201, response_model=AttachmentCreated,
             responses=documented({415: "a type of file not accepted"}))
def upload(request: Request, file: Annotated[UploadFile, File()], agent_id: AgentIdDep,
           services: ServicesDep) -> AttachmentCreated:
    """A file to attach to a reply (multipart field ``file``): jpg, jpeg, png, gif, mp3, ogg,
    oga, amr, mp4, pdf, docx, txt, xlsx, xls, up to 25 MB, checked by content."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > (
            MAX_ATTACHMENT_BYTES + _MULTIPART_OVERHEAD):
        raise ApiError(413, "body_too_large",
                       f"attachments are limited to {MAX_ATTACHMENT_BYTES // 2**20} MB")
    data = file.file.read(MAX_ATTACHMENT_BYTES + 1)
    with refusals("attachment"):
        record = store_upload(services, agent_id, file.filename or "", data)
    return AttachmentCreated(id=record.id, name=record.name, content_type=record.content_type,
                             size=record.size)


@router.get("/attachments/{attachment_id}",
            name="download_attachment", response_class=StreamingResponse)
def download(attachment_id: str, agent_id: AgentIdDep, services: ServicesDep,
             conversation_id: str | None = None) -> StreamingResponse:
    """An agent's upload, or, with ``conversation_id``, a file the customer sent in it."""
    if conversation_id is not None:
        return _customer_file(services, agent_id, conversation_id, attachment_id)
    record = find_file(services, attachment_id)
    if record is None:
        raise Missing.of(f"attachment {attachment_id}")
    if record.conversation_id is None:
        allowed = record.uploaded_by == agent_id
    else:
        conversation = ConversationTables(services.tables).conversation(record.conversation_id)
        allowed = conversation is not None and visible_to(conversation, agent_id)
    if not allowed:
        raise Missing.of(f"attachment {attachment_id}")
    return _stream(open_file(services, record), record.name, record.content_type)


def _customer_file(services: Services, agent_id: str, conversation_id: str,
                   attachment_id: str) -> StreamingResponse:
    conversation = visible_conversation(services, conversation_id, agent_id)
    for message in ConversationTables(services.tables).history(conversation.id):
        for attachment in message.attachments:
            if attachment.id == attachment_id and attachment.status == "stored" and (
                    message.direction == "in"):
                stream = services.blobs.open_stream(
                    CONTAINER, blob_name(conversation.id, attachment.id))
                return _stream(stream, attachment.name, attachment.content_type)
    raise Missing.of(f"attachment {attachment_id}")


def _stream(stream: BlobStream, name: str, content_type: str | None) -> StreamingResponse:
    headers = download_headers(name, content_type, stream.properties.size)
    return StreamingResponse(iter(stream), media_type=headers.pop("Content-Type"),
                             headers=headers)
