"""Helpers for tests: the simulator in-process or in a thread, and a webhook to post to.

    with webhook_receiver() as hook, serve_in_thread(
            load_settings(SIMULATOR_WEBHOOK_BASE_URL=hook.url)) as base_url:
        SimulatorClient(base_url).health()
"""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import uvicorn
from starlette.exceptions import StarletteDeprecationWarning

from simulator.app import create_app
from simulator.settings import SimulatorSettings

with warnings.catch_warnings():
    # Starlette 1.x nudges towards its httpx2 fork; the httpx the project pins works as well.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient as TestClient  # re-exported for tests


def in_process_client(settings: SimulatorSettings) -> TestClient:
    """The simulator app behind a TestClient: no port, background tasks done on return."""
    return TestClient(create_app(settings))


@contextmanager
def serve_in_thread(settings: SimulatorSettings, *, startup_timeout: float = 10.0) -> Iterator[str]:
    """Serve the simulator on a free port of 127.0.0.1 and yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class ReceivedPost:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A stand-in for the product's webhook: records every POST and answers ``status``."""

    status: int = 200
    posts: list[ReceivedPost] = field(default_factory=list)
    url: str = ""

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedPost]:
        """The posts, once at least ``count`` have arrived (automatic events come a bit later)."""
        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.posts)


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """Run a :class:`WebhookReceiver` on a free port; its ``url`` is the webhook base URL."""
    receiver = WebhookReceiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            post = ReceivedPost(self.path, dict(self.headers.items()), self.rfile.read(length))
            with lock:
                receiver.posts.append(post)
            self.send_response(receiver.status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"EVENT_RECEIVED")

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: tests read the recorded posts instead."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/api/facebook/webhook"
    # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
