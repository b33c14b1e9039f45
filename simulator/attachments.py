"""The Attachment Upload API (``POST /{page-id}/message_attachments``) and uploaded bytes."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from simulator import ids
from simulator.graph_errors import GraphError, invalid_param
from simulator.graph_request import GraphRequest, UploadedFile
from simulator.models import Token, Upload
from simulator.state import SimulatorState

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
MEDIA_TYPES = ("image", "audio", "video", "file")


def upload_failure() -> GraphError:
    return GraphError(100, 2018047, "(#100) Upload attachment failure.")


async def handle_upload(state: SimulatorState, call: GraphRequest, token: Token) -> dict[str, str]:
    message = call.json_param("message")
    if not isinstance(message, dict) or not isinstance(message.get("attachment"), dict):
        raise invalid_param("param message must contain an attachment")
    attachment: dict[str, Any] = message["attachment"]
    upload = await store(state, token.page_id, attachment, call.files.get("filedata"))
    return {"attachment_id": upload.attachment_id}


async def store(state: SimulatorState, page_id: str, attachment: dict[str, Any],
                file: UploadedFile | None) -> Upload:
    """Keep an uploaded (or URL-fetched) file, checked as Graph checks it."""
    kind = attachment.get("type")
    if kind not in MEDIA_TYPES:
        raise invalid_param("param message[attachment][type] must be one of "
                            "{image, audio, video, file}")
    given = attachment.get("payload")
    payload: dict[str, Any] = given if isinstance(given, dict) else {}
    if file is None:
        file = await _fetch(str(payload.get("url") or ""))
    if len(file.content) > MAX_ATTACHMENT_BYTES:
        raise GraphError(100, 2018109)
    # Graph refuses a file whose content type does not match the declared attachment type.
    if kind != "file" and not file.content_type.startswith(f"{kind}/"):
        raise upload_failure()
    upload = Upload(
        attachment_id=ids.numeric_id(),
        page_id=page_id,
        type=kind,
        filename=file.filename,
        content_type=file.content_type,
        size=len(file.content),
        sha256=hashlib.sha256(file.content).hexdigest(),
        is_reusable=bool(payload.get("is_reusable", False)),
        time=state.now_iso(),
    )
    state.store_upload(upload, file.content)
    return upload


async def _fetch(url: str) -> UploadedFile:
    """Graph downloads an attachment given by URL; so does the simulator."""
    if not url.startswith(("http://", "https://")):
        raise invalid_param("param message[attachment][payload] needs a url or a filedata part")
    try:
        async with httpx.AsyncClient(timeout=30, follow_redirects=True) as client:
            answer = await client.get(url)
    except httpx.HTTPError:
        raise upload_failure() from None
    if answer.status_code != 200:
        raise upload_failure()
    content_type = answer.headers.get("content-type", "application/octet-stream")
    return UploadedFile(url.rsplit("/", 1)[-1] or "attachment", content_type, answer.content)
