"""``python -m simulator serve`` and ``say``, run as a developer runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulator.client import SimulatorClient
from simulator.testing import WebhookReceiver, webhook_receiver
from tests.support.eventually import eventually

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def simulator_url(hook: WebhookReceiver) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "SIMULATOR_WEBHOOK_BASE_URL": hook.url}
    server = subprocess.Popen([sys.executable, "-m", "simulator", "serve", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def healthy() -> bool:
            assert server.poll() is None, server.communicate()[0]
            return httpx.get(f"{url}/_sim/health").status_code == 200

        eventually(healthy, timeout=15, interval=0.05, ignoring=(httpx.TransportError,),
                   what="the simulator to start")
        with SimulatorClient(url) as control:
            control.put_page("1001", "Contoso Support", access_token="EAA-cli")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def say(simulator_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulator", "say", *args,
                           "--simulator-url", simulator_url],
                          cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)


def test_say_posts_a_signed_message_and_prints_the_result(simulator_url: str,
                                                          hook: WebhookReceiver) -> None:
    hook.posts.clear()
    done = say(simulator_url, "--account", "acc-1", "--page", "1001", "--psid", "2001",
               "Hallo, ich brauche Hilfe ä", "--quick-reply", "HELP", "--timestamp",
               "1795000000000")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["ok"], result["status"]) == (True, 200)
    [post] = hook.posts
    assert post.path == "/api/facebook/webhook/acc-1"
    assert post.headers["X-Hub-Signature-256"] == result["signature"]
    event = json.loads(post.body)["entry"][0]["messaging"][0]
    assert event["timestamp"] == 1795000000000
    assert event["message"]["text"] == "Hallo, ich brauche Hilfe ä"
    assert event["message"]["quick_reply"] == {"payload": "HELP"}


def test_say_sends_a_hosted_attachment(simulator_url: str, hook: WebhookReceiver) -> None:
    hook.posts.clear()
    done = say(simulator_url, "--account", "acc-1", "--page", "1001", "--psid", "2001",
               "--attachment", "image")
    assert done.returncode == 0, done.stderr
    event = json.loads(hook.posts[0].body)["entry"][0]["messaging"][0]
    url = event["message"]["attachments"][0]["payload"]["url"]
    assert url == f"{simulator_url}/_sim/files/image.png"
    assert httpx.get(url).headers["content-type"] == "image/png"


def test_say_fails_clearly(simulator_url: str) -> None:
    unknown_page = say(simulator_url, "--account", "a", "--page", "404", "--psid", "1", "Hi")
    assert unknown_page.returncode == 1
    assert "unknown page 404" in unknown_page.stderr
    nothing = say(simulator_url, "--account", "a", "--page", "1001", "--psid", "1")
    assert nothing.returncode == 2
    unreachable = say(f"http://127.0.0.1:{free_port()}", "--account", "a", "--page", "1001",
                      "--psid", "1", "Hi")
    assert unreachable.returncode == 1
    assert "cannot reach the simulator" in unreachable.stderr
