"""One ``outbound`` queue message, whichever it is: a message for the Send API (``sender``) or
one of the channel's handover calls (``thread_control``), both in the conversation's session so
that they reach Facebook in the order they were queued."""

from __future__ import annotations

from messenger_channel.conversations.sender import process_outbound
from messenger_channel.conversations.thread_control import (
    is_thread_command,
    process_thread_command,
)
from messenger_channel.services import Services


def process_outbound_queue(services: Services, body: bytes) -> None:
    if is_thread_command(body):
        process_thread_command(services, body)
    else:
        process_outbound(services, body)
