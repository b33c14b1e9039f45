"""Messenger webhook payloads, serialised and signed the way Meta sends them."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from simulator.models import SentMessage

# Events by which a customer opens (or reopens) the standard messaging window.
_WINDOW_OPENERS = ("message", "postback", "reaction", "referral", "optin")


def serialise(payload: dict[str, Any]) -> bytes:
    """Compact JSON with every non-ASCII character escaped (ä -> \\u00e4), as Meta posts it.

    The product must verify the signature over these exact bytes: parsing and re-serialising
    them would not give the same bytes back.
    """
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def signature(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value for ``body``."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def page_payload(page_id: str, event: dict[str, Any], time_ms: int) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": page_id, "time": time_ms, "messaging": [event]}]}


def customer_message(
    *,
    page_id: str,
    psid: str,
    timestamp: int,
    mid: str,
    text: str | None = None,
    quick_reply_payload: str | None = None,
    attachment: tuple[str, str] | None = None,
    reply_to_mid: str | None = None,
) -> dict[str, Any]:
    """A customer's message event; ``attachment`` is (type, url)."""
    message: dict[str, Any] = {"mid": mid}
    if text is not None:
        message["text"] = text
    if quick_reply_payload is not None:
        message["quick_reply"] = {"payload": quick_reply_payload}
    if attachment is not None:
        kind, url = attachment
        message["attachments"] = [{"type": kind, "payload": {"url": url}}]
    if reply_to_mid is not None:
        message["reply_to"] = {"mid": reply_to_mid}
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": timestamp,
            "message": message}


def echo_event(sent: SentMessage, attachment_url: str | None) -> dict[str, Any]:
    """The page's own message as Meta echoes it: same mid, sender the page, app id a number."""
    message: dict[str, Any] = {"mid": sent.message_id, "is_echo": True, "app_id": int(sent.app_id)}
    if sent.metadata is not None:
        message["metadata"] = sent.metadata
    if "text" in sent.message:
        message["text"] = sent.message["text"]
    attachment = sent.message.get("attachment")
    if isinstance(attachment, dict):
        if attachment.get("type") == "template" or attachment_url is None:
            message["attachments"] = [
                {"type": attachment.get("type"), "payload": attachment.get("payload", {})}
            ]
        else:
            message["attachments"] = [{"type": attachment["type"],
                                       "payload": {"url": attachment_url}}]
    return {"sender": {"id": sent.page_id}, "recipient": {"id": sent.psid},
            "timestamp": sent.timestamp, "message": message}


def delivery_event(sent: SentMessage, timestamp: int) -> dict[str, Any]:
    return {"sender": {"id": sent.psid}, "recipient": {"id": sent.page_id},
            "timestamp": timestamp,
            "delivery": {"mids": [sent.message_id], "watermark": sent.timestamp}}


def read_event(sent: SentMessage, timestamp: int) -> dict[str, Any]:
    return {"sender": {"id": sent.psid}, "recipient": {"id": sent.page_id},
            "timestamp": timestamp, "read": {"watermark": sent.timestamp}}


def followup_event(kind: str, sent: SentMessage, attachment_url: str | None,
                   timestamp: int) -> dict[str, Any]:
    """The echo, delivery or read event of a send (``kind``)."""
    if kind == "echo":
        return echo_event(sent, attachment_url)
    if kind == "delivery":
        return delivery_event(sent, timestamp)
    return read_event(sent, timestamp)


def customer_activity(payload: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(page_id, psid, timestamp) of each event in ``payload`` that opens a messaging window."""
    found: list[tuple[str, str, int]] = []
    entries = payload.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        page_id = str(entry.get("id", "")) if isinstance(entry, dict) else ""
        events = entry.get("messaging") if isinstance(entry, dict) else None
        for event in events if isinstance(events, list) else []:
            if not isinstance(event, dict) or not any(k in event for k in _WINDOW_OPENERS):
                continue
            message = event.get("message")
            if isinstance(message, dict) and message.get("is_echo"):
                continue
            sender = event.get("sender")
            psid = str(sender.get("id", "")) if isinstance(sender, dict) else ""
            timestamp = event.get("timestamp")
            if page_id.isdigit() and psid.isdigit() and isinstance(timestamp, int):
                found.append((page_id, psid, timestamp))
    return found
