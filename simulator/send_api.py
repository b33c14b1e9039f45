"""The Send API (``POST /{page-id}/messages``): validation, the messaging windows, recording.

It checks what the product uses, in Graph's order: permission, parameters, recipient, window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator import attachments, ids
from simulator.graph_errors import GraphError, invalid_param
from simulator.graph_request import GraphRequest
from simulator.handover import ThreadControl
from simulator.models import SenderAction, SentMessage, Token, User
from simulator.state import SimulatorState

MAX_TEXT = 2000
MAX_METADATA = 1000
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_PAYLOAD = 1000
STANDARD_WINDOW_MS = 24 * 3600 * 1000
TAG_WINDOW_MS = 7 * 24 * 3600 * 1000

MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
# Tags that may still be sent, with the window each allows after the customer's last message.
TAG_WINDOWS = {"HUMAN_AGENT": TAG_WINDOW_MS, "CUSTOMER_FEEDBACK": TAG_WINDOW_MS}
# Withdrawn on 27 April 2026: Graph answers them with error 100.
RETIRED_TAGS = ("ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE")
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen", "react", "unreact")
ATTACHMENT_TYPES = (*attachments.MEDIA_TYPES, "template")


@dataclass
class SendResult:
    answer: dict[str, str]
    sent: SentMessage | None = None
    # Where the echo says the attachment can be fetched (None for text and templates).
    attachment_url: str | None = None


async def handle_send(state: SimulatorState, call: GraphRequest, token: Token,
                      base_url: str) -> SendResult:
    if "pages_messaging" not in token.scopes:
        raise GraphError(230)
    psid = recipient_id(call)
    sender_action = call.str_param("sender_action")
    message = call.json_param("message")
    if sender_action is not None and message is not None:
        raise invalid_param("param sender_action cannot be sent together with message")
    if sender_action is not None:
        return _sender_action(state, call, token, psid, sender_action)
    if not isinstance(message, dict):
        raise invalid_param("Must send either message or sender_action")
    messaging_type, tag = _messaging_type(call)
    metadata = _validate_message(message, call)
    user = state.user(token.page_id, psid)
    if user is None:
        raise GraphError(100, 2018001)
    # On a page with app roles, only the app that controls the thread may message in it.
    ThreadControl(state).check_send(token.page_id, psid, token.app_id)
    _check_window(state, user, messaging_type, tag)
    attachment_url = await _resolve_attachment(state, call, token, message, base_url)
    now = state.clock.now_ms()
    sent = SentMessage(
        message_id=ids.message_id(), page_id=token.page_id, psid=psid, app_id=token.app_id,
        messaging_type=messaging_type, tag=tag, message=message, metadata=metadata,
        timestamp=now, time=state.now_iso(),
    )
    state.record_sent(sent)
    return SendResult({"recipient_id": psid, "message_id": sent.message_id}, sent, attachment_url)


def recipient_id(call: GraphRequest) -> str:
    recipient = call.json_param("recipient")
    if recipient is None:
        raise invalid_param("The parameter recipient is required")
    identifier = recipient.get("id") if isinstance(recipient, dict) else None
    if not isinstance(identifier, str | int) or not str(identifier).isdigit():
        # user_ref, phone_number, comment_id and post_id recipients are not simulated.
        raise invalid_param('param recipient[id] must be a valid ID string (e.g., "123")')
    return str(identifier)


def _sender_action(state: SimulatorState, call: GraphRequest, token: Token, psid: str,
                   action: str) -> SendResult:
    if action not in SENDER_ACTIONS:
        raise invalid_param(f"param sender_action must be one of {{{', '.join(SENDER_ACTIONS)}}}")
    if action in ("react", "unreact"):
        payload = call.json_param("payload")
        if not isinstance(payload, dict) or not payload.get("message_id"):
            raise invalid_param("param payload[message_id] is required for react and unreact")
    if state.user(token.page_id, psid) is None:
        raise GraphError(100, 2018001)
    # Not window-checked: a typing indicator carries no content to refuse.
    state.record_sender_action(SenderAction(page_id=token.page_id, psid=psid,
                                            sender_action=action,
                                            timestamp=state.clock.now_ms(),
                                            time=state.now_iso()))
    return SendResult({"recipient_id": psid})


def _messaging_type(call: GraphRequest) -> tuple[str, str | None]:
    messaging_type = call.str_param("messaging_type")
    if messaging_type not in MESSAGING_TYPES:
        raise invalid_param("param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}")
    tag = call.str_param("tag")
    if messaging_type != "MESSAGE_TAG":
        return messaging_type, None
    if tag in RETIRED_TAGS:
        raise invalid_param(f"The message tag {tag} is no longer supported")
    if tag not in TAG_WINDOWS:
        raise invalid_param(f"param tag must be one of {{{', '.join(TAG_WINDOWS)}}}")
    return messaging_type, tag


def _validate_message(message: dict[str, Any], call: GraphRequest) -> str | None:
    """Check the message object; answer its metadata."""
    text = message.get("text")
    attachment = message.get("attachment")
    if text is not None and attachment is not None:
        raise invalid_param("Only one of message[text] and message[attachment] may be set")
    if text is None and attachment is None and "filedata" not in call.files:
        raise invalid_param("param message must have text or an attachment")
    if text is not None:
        if not isinstance(text, str) or not text:
            raise invalid_param("param message[text] must be a non-empty UTF-8 encoded string")
        if len(text) > MAX_TEXT:
            raise invalid_param(f"Length of param message[text] must be less than or equal to "
                                f"{MAX_TEXT}")
    if attachment is not None:
        _validate_attachment(attachment, has_file="filedata" in call.files)
    _validate_quick_replies(message.get("quick_replies"))
    metadata = message.get("metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > MAX_METADATA):
        raise invalid_param(f"param message[metadata] must be a string of at most {MAX_METADATA} "
                            "characters")
    return metadata


def _validate_attachment(attachment: Any, *, has_file: bool) -> None:
    if not isinstance(attachment, dict) or attachment.get("type") not in ATTACHMENT_TYPES:
        raise invalid_param("param message[attachment][type] must be one of "
                            "{image, audio, video, file, template}")
    payload = attachment.get("payload")
    if not isinstance(payload, dict):
        raise invalid_param("param message[attachment][payload] must be an object")
    if attachment["type"] == "template":
        if not payload.get("template_type"):
            raise invalid_param("param message[attachment][payload][template_type] is required")
        return
    sources = [s for s in ("url", "attachment_id") if payload.get(s)] + (["filedata"] * has_file)
    if len(sources) != 1:
        raise invalid_param("An attachment needs exactly one of payload[url], "
                            "payload[attachment_id] or a filedata part")
    url = payload.get("url")
    if url is not None and not str(url).startswith(("http://", "https://")):
        raise invalid_param("param message[attachment][payload][url] must be a valid URL")


def _validate_quick_replies(quick_replies: Any) -> None:
    if quick_replies is None:
        return
    if not isinstance(quick_replies, list) or not 0 < len(quick_replies) <= MAX_QUICK_REPLIES:
        raise invalid_param(f"param message[quick_replies] must have 1 to {MAX_QUICK_REPLIES} "
                            "elements")
    for reply in quick_replies:
        if not isinstance(reply, dict):
            raise invalid_param("param message[quick_replies] must hold objects")
        if reply.get("content_type", "text") != "text":
            continue
        title, payload = reply.get("title"), reply.get("payload")
        if not isinstance(title, str) or not 0 < len(title) <= MAX_QUICK_REPLY_TITLE:
            raise invalid_param("param message[quick_replies][title] must be 1 to "
                                f"{MAX_QUICK_REPLY_TITLE} characters")
        if not isinstance(payload, str | int) or len(str(payload)) > MAX_PAYLOAD:
            raise invalid_param("param message[quick_replies][payload] must be at most "
                                f"{MAX_PAYLOAD} characters")


def _check_window(state: SimulatorState, user: User, messaging_type: str, tag: str | None) -> None:
    window = TAG_WINDOWS[tag] if messaging_type == "MESSAGE_TAG" and tag else STANDARD_WINDOW_MS
    last = user.last_message_at
    if last is None or state.clock.now_ms() - last >= window:
        raise GraphError(10, 2018278)


async def _resolve_attachment(state: SimulatorState, call: GraphRequest, token: Token,
                              message: dict[str, Any], base_url: str) -> str | None:
    """Store a file sent along (filedata) and answer the URL the echo will carry."""
    attachment = message.get("attachment")
    if "filedata" in call.files:
        spec = attachment if isinstance(attachment, dict) else {}
        upload = await attachments.store(state, token.page_id, spec, call.files["filedata"])
        return f"{base_url}_sim/uploads/{upload.attachment_id}/content"
    if not isinstance(attachment, dict) or attachment.get("type") == "template":
        return None
    payload = attachment["payload"]
    if payload.get("url"):
        return str(payload["url"])
    attachment_id = str(payload["attachment_id"])
    stored = state.upload(attachment_id)
    if stored is None or stored[0].page_id != token.page_id:
        raise invalid_param(f"Attachment id {attachment_id} was not found for this page")
    return f"{base_url}_sim/uploads/{attachment_id}/content"
