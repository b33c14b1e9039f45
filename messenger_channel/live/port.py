"""The live-updates port, shared by the Web PubSub adapter and the devhost's local one.

A hint says only that something changed (``{type, conversation_id?, at}``); clients then read
the REST routes with ``since``, which stay the truth. Limits are Web PubSub's, checked here so
that what the local adapter accepts, Azure accepts too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, get_args

from messenger_channel.clock import isoformat

HintType = Literal[
    "conversation.offered",
    "conversation.updated",
    "message.created",
    "message.updated",
    "queue.updated",
]
HINT_TYPES: frozenset[str] = frozenset(get_args(HintType))

# Every supervisor's connection joins this group; agents are reached as users.
SUPERVISORS = "supervisors"
# Web PubSub: a hub name is a letter then up to 127 of these; group and user ids 1 to 1024
# characters, not only white space.
HUB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}")
MAX_NAME_LENGTH = 1024
MAX_CONVERSATION_ID_LENGTH = 128
# A client token is short-lived: it is checked when the socket opens, not afterwards.
MIN_TOKEN_MINUTES = 1
MAX_TOKEN_MINUTES = 24 * 60


class LiveUnavailable(Exception):
    """The live service could not be reached or refused the request. A publisher's caller logs
    it and goes on: hints are best effort."""


def agent_user(agent_id: str) -> str:
    """The Web PubSub user id of an agent's (or a supervisor's) connections."""
    return f"agent:{agent_id}"


def check_name(label: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"{label} must be 1 to {MAX_NAME_LENGTH} characters, not only spaces")
    return value


def check_hub(hub: str) -> str:
    if not HUB_NAME.fullmatch(hub):
        raise ValueError("a hub name is a letter then up to 127 letters, digits or _`,.[]")
    return hub


@dataclass(frozen=True)
class Hint:
    type: HintType
    at: datetime
    conversation_id: str | None = None

    def __post_init__(self) -> None:
        if self.type not in HINT_TYPES:
            raise ValueError(f"unknown hint type {self.type!r}")
        if self.at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        if self.conversation_id is not None and not (
                0 < len(self.conversation_id) <= MAX_CONVERSATION_ID_LENGTH):
            raise ValueError(
                f"conversation_id must be 1 to {MAX_CONVERSATION_ID_LENGTH} characters")

    def payload(self) -> dict[str, Any]:
        """The JSON object a client receives as one text frame."""
        body: dict[str, Any] = {"type": self.type}
        if self.conversation_id is not None:
            body["conversation_id"] = self.conversation_id
        body["at"] = isoformat(self.at)
        return body


@dataclass(frozen=True)
class Audience:
    """Who gets a hint: users (``agent:<id>``) and groups (``supervisors``)."""

    users: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for user in self.users:
            check_name("a user id", user)
        for group in self.groups:
            check_name("a group name", group)

    @classmethod
    def of(cls, users: Iterable[str] = (), groups: Iterable[str] = ()) -> Audience:
        return cls(frozenset(users), frozenset(groups))

    def __bool__(self) -> bool:
        return bool(self.users or self.groups)


@dataclass(frozen=True)
class ClientAccess:
    """A WebSocket URL with its access token, and when that token stops opening sockets."""

    url: str
    expires_at: datetime


def check_token_request(user_id: str, groups: Sequence[str], minutes: int) -> None:
    check_name("user_id", user_id)
    for group in groups:
        check_name("a group name", group)
    if not MIN_TOKEN_MINUTES <= minutes <= MAX_TOKEN_MINUTES:
        raise ValueError(
            f"minutes must be {MIN_TOKEN_MINUTES} to {MAX_TOKEN_MINUTES}")


class LivePublisher(Protocol):
    def publish(self, hint: Hint, audience: Audience) -> None:
        """Hand ``hint`` to every connection of the audience's users and groups (none
        connected is not an error), or raise ``LiveUnavailable``."""
        ...

    def client_access(self, user_id: str, groups: Sequence[str], minutes: int) -> ClientAccess:
        """A client URL whose token opens one socket as ``user_id`` joined to ``groups``
        within ``minutes``; ``LiveUnavailable`` when tokens cannot be made now."""
        ...
