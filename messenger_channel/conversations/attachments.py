"""Customers' attachments, copied to Blob storage as they arrive: Facebook's URLs expire.

Each attachment gets its own status: ``stored``; ``failed`` when the download fails or the
file is over the size cap (the message is kept all the same); ``skipped`` when there is nothing
to download (a template, a shared post without a URL) or the workstream disables customer
attachments, in which case the agent sees why and nothing is fetched. Blob names derive from
the message, so a redelivered event overwrites the same blobs.
"""

from __future__ import annotations

import logging
from posixpath import basename
from urllib.parse import urlsplit

import requests

from messenger_channel.conversations.models import AttachmentInfo, short_hash
from messenger_channel.facebook.webhook_events import Attachment
from messenger_channel.storage.blobs import BlobStore
from messenger_channel.storage.errors import StorageError

log = logging.getLogger(__name__)

CONTAINER = "attachments"
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024  # Messenger's own attachment limit
DOWNLOAD_TIMEOUT = (5, 30)  # connect, read (seconds)
DISABLED_TEXT = "the customer sent a file, but attachments are disabled"


class _TooLarge(Exception):
    pass


def blob_name(conversation_id: str, attachment_id: str) -> str:
    return f"{conversation_id}/{attachment_id}"


def copy_attachments(blobs: BlobStore, conversation_id: str, message_id: str,
                     attachments: list[Attachment], *, enabled: bool) -> list[AttachmentInfo]:
    copied = []
    for index, attachment in enumerate(attachments):
        attachment_id = f"att_{short_hash(conversation_id, message_id, str(index))}"
        name = _name(attachment, index)
        info = AttachmentInfo(id=attachment_id, name=name, type=attachment.type, status="skipped")
        if not enabled:
            copied.append(info.model_copy(update={"error": DISABLED_TEXT}))
        elif attachment.url is None:
            copied.append(info.model_copy(update={"error": "no file to download"}))
        else:
            copied.append(_download(blobs, conversation_id, info, attachment.url))
    return copied


def _name(attachment: Attachment, index: int) -> str:
    if attachment.url:
        path_name = basename(urlsplit(attachment.url).path)
        if path_name:
            return path_name[:200]
    return attachment.title or f"{attachment.type or 'attachment'}-{index + 1}"


def _download(blobs: BlobStore, conversation_id: str, info: AttachmentInfo,
              url: str) -> AttachmentInfo:
    try:
        with requests.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT) as answer:
            answer.raise_for_status()
            declared = int(answer.headers.get("content-length") or 0)
            if declared > MAX_ATTACHMENT_BYTES:
                raise _TooLarge
            data = bytearray()
            for chunk in answer.iter_content(1024 * 1024):
                data.extend(chunk)
                if len(data) > MAX_ATTACHMENT_BYTES:
                    raise _TooLarge
            content_type = (answer.headers.get("content-type") or "application/octet-stream"
                            ).split(";")[0]
        blobs.upload(CONTAINER, blob_name(conversation_id, info.id), bytes(data), content_type)
    except _TooLarge:
        return info.model_copy(update={
            "status": "failed", "error": f"larger than {MAX_ATTACHMENT_BYTES // 2**20} MB"})
    except (requests.RequestException, StorageError, ValueError) as error:
        log.warning("attachment download failed",
                    extra={"conversation_id": conversation_id, "error": type(error).__name__})
        return info.model_copy(update={"status": "failed",
                                       "error": f"download failed ({type(error).__name__})"})
    return info.model_copy(update={"status": "stored", "content_type": content_type,
                                   "size": len(data)})
