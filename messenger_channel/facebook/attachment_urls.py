"""The Send API's attachment type for a file sent by URL, from the URL's file extension: the
type must match what Facebook finds there (image, video, audio), else it refuses the send
(100/2018047); ``file`` fits anything."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import urlsplit

AttachmentType = Literal["image", "video", "audio", "file"]

_BY_EXTENSION: dict[str, AttachmentType] = {
    **dict.fromkeys((".jpg", ".jpeg", ".png", ".gif", ".webp"), "image"),
    **dict.fromkeys((".mp4", ".mov", ".m4v"), "video"),
    **dict.fromkeys((".mp3", ".m4a", ".aac", ".wav", ".ogg"), "audio"),
}


def attachment_type_of_url(url: str) -> AttachmentType:
    return _BY_EXTENSION.get(PurePosixPath(urlsplit(url).path).suffix.lower(), "file")


def file_name_of_url(url: str) -> str:
    """What a transcript calls the file: the URL's last path segment, or its host."""
    parts = urlsplit(url)
    return PurePosixPath(parts.path).name or parts.hostname or "file"
