"""A customer's text longer than a table row should hold, stored whole in Blob storage.

A Table string property holds 32 Ki UTF-16 units and a row 1 MiB, so a long text (the webhook
takes up to ``MAX_EVENT_BYTES``) is written to the attachments container, beside the
conversation's files (an erasure or the retention of its conversation removes it with them),
and the row keeps its start and the blob's name (``Message.text_blob``). Readers that show a
message (the agent API, the customer's export) call :func:`full_text`. The blob is the
message's text: the retention of messages removes it with the row, the retention of files
leaves it (``is_text_blob``), an erasure deletes it with the conversation's files.
"""

from __future__ import annotations

from messenger_channel.conversations.attachments import CONTAINER
from messenger_channel.conversations.models import Message
from messenger_channel.storage.blobs import BlobStore
from messenger_channel.storage.errors import NotFound

# Up to this many characters a text stays in its row (at most 16 Ki UTF-16 units: a row holds
# the text, an edit's earlier text and everything else well inside its limits).
MAX_ROW_TEXT_CHARS = 8000
# What a row keeps of a longer text: its start, for lists, previews and routing rules.
KEPT_CHARS = 2000
# Beside the conversation's files: a text blob's name says it is one (``is_text_blob``).
TEXT_PREFIX = "text-"


def spill(blobs: BlobStore, conversation_id: str, name: str,
          text: str | None) -> tuple[str | None, str | None]:
    """``(text for the row, blob name or None)``: a long text is uploaded (idempotently: the
    name derives from the message, so a redelivery overwrites the same bytes)."""
    if text is None or len(text) <= MAX_ROW_TEXT_CHARS:
        return text, None
    blob = f"{conversation_id}/{TEXT_PREFIX}{name}.txt"
    blobs.upload(CONTAINER, blob, text.encode("utf-8", "surrogatepass"),
                 "text/plain; charset=utf-8")
    return shortened(text), blob


def is_text_blob(blob: str) -> bool:
    """Whether a blob of the attachments container holds a message's text, not a file: the
    retention of files keeps it (it goes with its message)."""
    return blob.partition("/")[2].startswith(TEXT_PREFIX)


def shortened(text: str | None) -> str | None:
    """What a row keeps of a text that may be long (the start of a long one)."""
    return text if text is None or len(text) <= MAX_ROW_TEXT_CHARS else text[:KEPT_CHARS]


def full_text(blobs: BlobStore, message: Message) -> str | None:
    """The whole text; its start when the blob is gone (removed before this change of the
    retention of files, or a retention run stopped between the blob and the row)."""
    if message.text_blob is None:
        return message.text
    try:
        return blobs.download(CONTAINER, message.text_blob).decode("utf-8", "surrogatepass")
    except NotFound:
        return message.text
