"""The devhost's WebSocket for live hints, where Web PubSub's client endpoint would be:
``/client/hubs/{hub}?access_token=<JWT>`` (see ``messenger_channel.live.local``).

Like the service with a plain WebSocket client: no subprotocol, each hint one JSON text frame,
frames from the client ignored (there is no upstream handler). A missing, foreign or expired
token: the socket is accepted, then closed with 1008 (policy violation) and a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from starlette.websockets import WebSocket

from messenger_channel.live.local import Connection, LocalLive

log = logging.getLogger("devhost")

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
# Frames waiting for a slow client; beyond this it is closed (it catches up by polling).
MAX_PENDING_FRAMES = 1000


class LiveSockets:
    def __init__(self, live: LocalLive, max_pending: int = MAX_PENDING_FRAMES) -> None:
        self.live = live
        self.max_pending = max_pending

    async def endpoint(self, websocket: WebSocket) -> None:
        hub = websocket.path_params["hub"]
        token = websocket.query_params.get("access_token")
        claims = None if not token else self.live.verify(token, hub)
        await websocket.accept()
        if claims is None:
            await websocket.close(POLICY_VIOLATION, "invalid or expired access token")
            return
        outbox = Outbox(asyncio.get_running_loop(), self.max_pending)
        connection = Connection(hub, claims.user_id, claims.groups, outbox.put)
        self.live.connect(connection)
        try:
            await _serve(websocket, outbox)
        finally:
            self.live.disconnect(connection)


class Outbox:
    """Frames handed over from any thread (the engine's) to the socket's event loop. Past
    ``limit`` frames pending, it takes no more and tells the socket to close (None)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.loop = loop
        self.limit = limit
        self.frames: asyncio.Queue[str | None] = asyncio.Queue()
        self._lock = threading.Lock()
        self._pending = 0
        self._overflowed = False

    def put(self, text: str) -> bool:
        with self._lock:
            if self._overflowed:
                return False
            self._overflowed = self._pending >= self.limit
            if not self._overflowed:
                self._pending += 1
            frame = None if self._overflowed else text
        try:
            self.loop.call_soon_threadsafe(self.frames.put_nowait, frame)
        except RuntimeError:  # the loop is closed: the host is stopping
            return False
        return frame is not None

    async def get(self) -> str | None:
        text = await self.frames.get()
        if text is not None:
            with self._lock:
                self._pending -= 1
        return text


async def _serve(websocket: WebSocket, outbox: Outbox) -> None:
    async def send() -> None:
        while (text := await outbox.get()) is not None:
            await websocket.send_text(text)
        await websocket.close(TRY_AGAIN_LATER, "too many hints pending")

    async def receive() -> None:
        # Frames from the client are ignored, as Web PubSub does without an upstream handler.
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    tasks = [asyncio.create_task(send()), asyncio.create_task(receive())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            # The client went away mid-send, or the task was cancelled: the socket is done.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
