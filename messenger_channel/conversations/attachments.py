"""Customers' attachments, copied to Blob storage as they arrive: Facebook's URLs expire.

Each attachment gets its own status: ``stored``; ``failed`` when the download fails or the
file is over the size cap (the message is kept all the same); ``skipped`` when there is nothing
to download (a template, a shared post without a URL) or the workstream disables customer
attachments, in which case the agent sees why and nothing is fetched. Blob names derive from
the message, so a redelivered event overwrites the same blobs.

Whatever a customer sends is hostile until shown otherwise: an ``.html`` or ``.svg`` opened as a
document would run its script on the console's origin, where the agent's key is. So only
raster images, audio and video are ever served as themselves (``shown_inline``); every other
file is ``application/octet-stream`` with ``Content-Disposition: attachment``, and every
download carries ``Content-Security-Policy: sandbox`` and ``nosniff`` (``download_headers``).
The blob's own content settings say the same, should it ever be served directly.
"""

from __future__ import annotations

import logging
from posixpath import basename
from urllib.parse import quote, urlsplit

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


# Raster images a browser only ever decodes as pictures (SVG is a document: not here).
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp",
                           "image/avif"})
# A browser plays these or downloads them; with nosniff it never renders them as a page.
INLINE_MEDIA = ("audio/", "video/")
DOWNLOAD_TYPE = "application/octet-stream"


class _TooLarge(Exception):
    pass


def _base_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def shown_inline(content_type: str | None) -> bool:
    """True for a raster image, audio or video: the only files served as themselves."""
    base = _base_type(content_type)
    return base in INLINE_IMAGES or base.startswith(INLINE_MEDIA)


def served_type(content_type: str | None) -> str:
    """The ``Content-Type`` a file is served with: its own when shown inline, else a download."""
    return _base_type(content_type) if shown_inline(content_type) else DOWNLOAD_TYPE


def content_disposition(name: str, content_type: str | None) -> str:
    kind = "inline" if shown_inline(content_type) else "attachment"
    return f"{kind}; filename*=UTF-8''{quote(name, safe='')}"


def download_headers(name: str, content_type: str | None, size: int) -> dict[str, str]:
    """The headers of every attachment download (agents' and customers' files alike)."""
    return {"Content-Type": served_type(content_type),
            "Content-Disposition": content_disposition(name, content_type),
            "Content-Length": str(size),
            # Opened as a document anyway (a saved link, a direct URL), it runs nothing and
            # reaches no origin's storage.
            "Content-Security-Policy": "sandbox",
            "X-Content-Type-Options": "nosniff"}


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
        blobs.upload(CONTAINER, blob_name(conversation_id, info.id), bytes(data),
                     served_type(content_type),
                     content_disposition=content_disposition(info.name, content_type))
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
