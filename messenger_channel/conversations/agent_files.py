"""Files agents upload to send to customers: checked, kept in Blob storage, shown only to
whoever may see them.

The types are those Dynamics 365 lists for Facebook, up to Messenger's 25 MB. The extension
names the type and the content must agree with it (magic bytes; Office files are ZIP or OLE
containers holding the part their format needs), so a renamed executable is refused. The
Facebook attachment type (image, audio, video, file) follows from the extension.

An upload is visible to the agent who made it; once attached to a reply, to whoever sees that
conversation. The sender reads the bytes from the blob and uploads them to Facebook itself
(Attachment Upload API), so no blob is ever public.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from datetime import datetime
from posixpath import splitext

from messenger_channel.conversations.attachments import (
    CONTAINER,
    MAX_ATTACHMENT_BYTES,
    content_disposition,
    served_type,
)
from messenger_channel.conversations.models import AttachmentInfo
from messenger_channel.errors import Invalid, TooLarge, Unsupported
from messenger_channel.facebook.graph import AttachmentType
from messenger_channel.services import Services
from messenger_channel.storage.blobs import BlobStream
from messenger_channel.storage.errors import InvalidKey
from messenger_channel.storage.tables import Entity, Table

MAX_NAME_CHARS = 200


def _zip_with(part: str) -> Callable[[bytes], bool]:
    def check(data: bytes) -> bool:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return any(name.startswith(part) for name in archive.namelist())
        except zipfile.BadZipFile:
            return False
    return check


def _mp3(data: bytes) -> bool:
    # An ID3 tag, or straight into an MPEG audio frame (11 sync bits).
    return data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF
                                       and data[1] & 0xE0 == 0xE0)


def _text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


def _magic(*prefixes: bytes) -> Callable[[bytes], bool]:
    return lambda data: data.startswith(prefixes)


_JPEG = _magic(b"\xff\xd8\xff")
_OGG = _magic(b"OggS")
_OLE = _magic(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")

# extension → (content type, Facebook attachment type, content check)
FILE_TYPES: dict[str, tuple[str, AttachmentType, Callable[[bytes], bool]]] = {
    "jpg": ("image/jpeg", "image", _JPEG),
    "jpeg": ("image/jpeg", "image", _JPEG),
    "png": ("image/png", "image", _magic(b"\x89PNG\r\n\x1a\n")),
    "gif": ("image/gif", "image", _magic(b"GIF87a", b"GIF89a")),
    "mp3": ("audio/mpeg", "audio", _mp3),
    "ogg": ("audio/ogg", "audio", _OGG),
    "oga": ("audio/ogg", "audio", _OGG),
    "amr": ("audio/amr", "audio", _magic(b"#!AMR")),
    "mp4": ("video/mp4", "video", lambda data: data[4:8] == b"ftyp"),
    "pdf": ("application/pdf", "file", _magic(b"%PDF-")),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "file",
             _zip_with("word/")),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "file",
             _zip_with("xl/")),
    "xls": ("application/vnd.ms-excel", "file", _OLE),
    "txt": ("text/plain", "file", _text),
}


class AgentFile(Entity):
    id: str
    name: str
    content_type: str
    facebook_type: AttachmentType
    size: int
    uploaded_by: str
    conversation_id: str | None = None  # set when a reply carries it
    created_at: datetime

    def partition_key(self) -> str:
        return self.id

    def row_key(self) -> str:
        return "file"

    @property
    def blob_name(self) -> str:
        return f"agent/{self.id}"

    def info(self) -> AttachmentInfo:
        return AttachmentInfo(id=self.id, name=self.name, content_type=self.content_type,
                              size=self.size, type=self.facebook_type, status="stored")


def agent_files(services: Services) -> Table[AgentFile]:
    return services.tables.table("AgentFiles", AgentFile)


def store_upload(services: Services, agent_id: str, filename: str, data: bytes) -> AgentFile:
    """Check and keep an upload. Raises ``TooLarge`` over 25 MB, ``Unsupported`` for a type
    Facebook does not take from agents or content that is not what its name says, ``Invalid``
    when empty."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:MAX_NAME_CHARS]
    extension = splitext(name)[1].lower().lstrip(".")
    if extension not in FILE_TYPES:
        raise Unsupported(f"'{extension or name}' files cannot be sent; allowed: "
                          + ", ".join(FILE_TYPES))
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise TooLarge(f"attachments are limited to {MAX_ATTACHMENT_BYTES // 2**20} MB")
    if not data:
        raise Invalid("the file is empty")
    content_type, facebook_type, matches = FILE_TYPES[extension]
    if not matches(data):
        raise Unsupported(f"the content of {name} is not a .{extension} file")
    record = AgentFile(id=f"att_{uuid.uuid4().hex}", name=name, content_type=content_type,
                       facebook_type=facebook_type, size=len(data), uploaded_by=agent_id,
                       created_at=services.clock.now())
    # The blob first: a record never points at a missing file.
    services.blobs.upload(CONTAINER, record.blob_name, data, served_type(content_type),
                          content_disposition=content_disposition(name, content_type))
    agent_files(services).create(record)
    return record


def find_file(services: Services, attachment_id: str) -> AgentFile | None:
    try:
        return agent_files(services).get(attachment_id, "file")
    except InvalidKey:  # not an id we issued
        return None


def open_file(services: Services, record: AgentFile) -> BlobStream:
    return services.blobs.open_stream(CONTAINER, record.blob_name)


def read_file(services: Services, record: AgentFile) -> bytes:
    return services.blobs.download(CONTAINER, record.blob_name)
