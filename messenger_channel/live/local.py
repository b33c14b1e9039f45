"""The devhost's adapter of the live port: the devhost serves the WebSocket itself.

It mirrors what a console sees of Azure Web PubSub's plain WebSocket clients: a client URL
``<base>/client/hubs/<hub>?access_token=<JWT>``, the JWT shaped like the service's (``aud`` the
client URL in http(s) form, ``sub`` the user id, ``webpubsub.group`` the groups joined on
connect, ``exp``), HS256-signed with a key of the devhost's own (``live.key`` in the data
directory, so tokens outlive a restart), and each hint as one JSON text frame.

The app code (publishing, negotiating) and the devhost (accepting sockets) run in one process
and share the ``LocalLive`` of the data directory, as they share the local queue.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jwt

from messenger_channel import metering
from messenger_channel.clock import Clock
from messenger_channel.live.port import (
    Audience,
    ClientAccess,
    Hint,
    check_hub,
    check_name,
    check_token_request,
)

log = logging.getLogger(__name__)

KEY_FILE = "live.key"
GROUP_CLAIM = "webpubsub.group"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class Claims:
    user_id: str
    groups: frozenset[str]
    expires_at: datetime


@dataclass(eq=False)
class Connection:
    """One open socket; ``send`` hands a text frame to it from any thread, without blocking,
    and returns False when the socket cannot take more (the devhost then closes it)."""

    hub: str
    user_id: str
    groups: frozenset[str]
    send: Callable[[str], bool]


class LocalLive:
    """Token signing and the connected sockets of one devhost, by hub, user and group."""

    def __init__(self, key: bytes, clock: Clock) -> None:
        if len(key) < 32:
            raise ValueError("the signing key must hold at least 32 bytes")
        self._key = key
        self.clock = clock
        self._lock = threading.Lock()
        self._connections: set[Connection] = set()

    # -- tokens ------------------------------------------------------------------------
    def issue(self, audience: str, user_id: str, groups: Sequence[str],
              expires_at: datetime) -> str:
        now = self.clock.now()
        claims: dict[str, Any] = {"aud": audience, "iat": int(now.timestamp()),
                                  "exp": int(expires_at.timestamp()), "sub": user_id}
        if groups:
            claims[GROUP_CLAIM] = list(groups)
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def verify(self, token: str, hub: str) -> Claims | None:
        """The token's user and groups when it is ours, unexpired (on the host's clock, which
        may be shifted) and meant for ``hub``'s client path; None otherwise."""
        try:
            claims = jwt.decode(token, self._key, algorithms=[_ALGORITHM],
                                options={"verify_aud": False, "verify_exp": False,
                                         "verify_iat": False, "require": ["exp", "aud", "sub"]})
            audience, expires = str(claims["aud"]), int(claims["exp"])
            user_id = check_name("sub", str(claims["sub"]))
            groups = claims.get(GROUP_CLAIM, [])
            if not isinstance(groups, list):
                return None
            joined = frozenset(check_name("a group", str(group)) for group in groups)
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return None
        # The host part is not compared: the devhost may be reached through a tunnel.
        if urlsplit(audience).path != client_path(hub):
            return None
        expires_at = datetime.fromtimestamp(expires, UTC)
        if expires_at <= self.clock.now():
            return None
        return Claims(user_id, joined, expires_at)

    # -- sockets -----------------------------------------------------------------------
    def connect(self, connection: Connection) -> None:
        with self._lock:
            self._connections.add(connection)

    def disconnect(self, connection: Connection) -> None:
        with self._lock:
            self._connections.discard(connection)

    def connected(self, hub: str) -> int:
        with self._lock:
            return sum(1 for c in self._connections if c.hub == hub)

    def deliver(self, hub: str, text: str, audience: Audience) -> int:
        """Send ``text`` once to each connection of the audience; returns how many took it."""
        with self._lock:
            targets = [c for c in self._connections if c.hub == hub and (
                c.user_id in audience.users or c.groups & audience.groups)]
        delivered = 0
        for connection in targets:
            if connection.send(text):
                delivered += 1
        return delivered


class LocalLivePublisher:
    """The port on ``LocalLive``: publish to the sockets, tokens for the devhost's URL."""

    def __init__(self, live: LocalLive, base_url: str, hub: str) -> None:
        scheme, _, rest = base_url.rstrip("/").partition("://")
        if scheme not in ("http", "https") or not rest:
            raise ValueError("base_url must be an http(s) URL")
        self._live = live
        self._hub = check_hub(hub)
        self._http_base = f"{scheme}://{rest}"
        self._ws_base = f"{'wss' if scheme == 'https' else 'ws'}://{rest}"

    def publish(self, hint: Hint, audience: Audience) -> None:
        delivered = self._live.deliver(self._hub, json.dumps(hint.payload()), audience)
        metering.count("live.sent", amount=delivered, type=hint.type)

    def client_access(self, user_id: str, groups: Sequence[str], minutes: int) -> ClientAccess:
        check_token_request(user_id, groups, minutes)
        # Whole seconds, as the JWT carries them.
        expires_at = (self._live.clock.now() + timedelta(minutes=minutes)).replace(microsecond=0)
        path = client_path(self._hub)
        token = self._live.issue(self._http_base + path, user_id, groups, expires_at)
        return ClientAccess(url=f"{self._ws_base}{path}?access_token={quote(token)}",
                            expires_at=expires_at)


def client_path(hub: str) -> str:
    return f"/client/hubs/{hub}"


_shared: dict[Path, LocalLive] = {}
_shared_lock = threading.Lock()


def open_local_live(data_dir: Path, clock: Clock) -> LocalLive:
    """The one ``LocalLive`` of this process for ``data_dir``: the app publishes into it and
    the devhost's socket endpoint reads from it."""
    key_path = (data_dir / KEY_FILE).resolve()
    with _shared_lock:
        live = _shared.get(key_path)
        if live is None:
            live = _shared[key_path] = LocalLive(_signing_key(key_path), clock)
        elif live.clock is not clock:
            raise ValueError(f"local live updates of {data_dir} already open with another clock")
        return live


def _signing_key(path: Path) -> bytes:
    """Read the key, or make one readable by this user only. Written aside and linked into
    place, so a concurrent reader never sees a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(secrets.token_bytes(32))
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(draft, path)
        finally:
            draft.unlink()
    key = path.read_bytes()
    if len(key) < 32:
        raise ValueError(f"{path} holds a key shorter than 32 bytes; delete it to make a new one")
    return key
