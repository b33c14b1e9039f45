"""POSTing one customer event to a workstream's bot, signed, within its time limit.

    answer = ask_bot(url, secret, body, timeout_seconds)   # BotAnswer | BotFailure

The body is signed as Meta signs its webhooks (``facebook/signature.py``):
``X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the bot's secret>``, so a bot
verifies the exact bytes it received. ``timeout_seconds`` bounds the whole exchange (connect,
wait and read), not only each socket read, and the answer is read up to ``MAX_ANSWER_BYTES``:
a slow or endless bot never holds the customer's session longer than that.
"""

from __future__ import annotations

import threading
import time

import requests
from requests.adapters import HTTPAdapter

from messenger_channel.conversations.bot_answers import BotAnswer, BotFailure, parse_answer
from messenger_channel.facebook.signature import sign

SIGNATURE_HEADER = "X-Signature-256"
MAX_ANSWER_BYTES = 256 * 1024
_CHUNK = 16 * 1024
USER_AGENT = "messenger-channel-bot-client/1"

_session_lock = threading.Lock()
_session: requests.Session | None = None


def _shared_session() -> requests.Session:
    """One pooled session per process (the router's threads share it), made on first use."""
    global _session
    with _session_lock:
        if _session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=8, pool_maxsize=16, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _session = session
        return _session


def signed_headers(secret: str, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body),
            "User-Agent": USER_AGENT}


def ask_bot(url: str, secret: str, body: bytes, timeout_seconds: float, *,
            session: requests.Session | None = None) -> BotAnswer | BotFailure:
    deadline = time.monotonic() + timeout_seconds
    try:
        # No redirects: the signed body goes only where the operator said.
        with (session or _shared_session()).post(
                url, data=body, headers=signed_headers(secret, body),
                timeout=timeout_seconds, stream=True, allow_redirects=False) as response:
            received = bytearray()
            for chunk in response.iter_content(_CHUNK):
                received += chunk
                if len(received) > MAX_ANSWER_BYTES:
                    return BotFailure("too_large", f"the answer is over {MAX_ANSWER_BYTES} bytes")
                if time.monotonic() > deadline:
                    return _timed_out(timeout_seconds)
            if time.monotonic() > deadline:
                return _timed_out(timeout_seconds)
            return parse_answer(response.status_code, bytes(received))
    except requests.Timeout:
        return _timed_out(timeout_seconds)
    except requests.RequestException as error:
        # The exception's text carries the URL and maybe the request: only its kind is kept.
        return BotFailure("unreachable", f"the bot could not be reached ({type(error).__name__})")


def _timed_out(timeout_seconds: float) -> BotFailure:
    return BotFailure("timeout", f"the bot did not answer within {timeout_seconds:g} s")
