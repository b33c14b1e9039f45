"""An example bot for a bot-first workstream, served by the simulator at ``POST /_sim/bot``.

It is what a newcomer connects to see bots work (``make run``'s demo does): it checks the
product's signature (``X-Signature-256`` with ``SIMULATOR_BOT_SECRET``), answers "hours" and
"order status" from a tiny table, and escalates — with an ``intent`` attribute the routing
rules can read — when the customer asks for an agent or after two messages it did not
understand.

For tests, ``?misbehave=`` makes it a bad bot: ``slow`` (waits ``seconds``, default 30, then
answers), ``not_json``, ``error`` (HTTP 500) or ``wrong_shape``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

HOURS = "We are open Monday to Friday, 9:00 to 18:00 (Lisbon time)."
ORDERS = {"1001": "shipped on Monday; it arrives tomorrow",
          "1002": "being packed; it leaves the warehouse today",
          "1003": "delivered on Friday"}
ASK_ORDER = "Which order? Send me its number (e.g. 1001)."
DIDNT_GET = "Sorry, I did not get that. I can tell you our opening hours or where your order is."
HANDING_OVER = "I am passing you to one of our agents; they have what you told me."
MENU = [{"title": "Opening hours", "payload": "hours"},
        {"title": "Order status", "payload": "order status"},
        {"title": "Talk to an agent", "payload": "agent"}]
MISSES_BEFORE_AGENT = 2
_AGENT = re.compile(r"\b(agent|human|person|someone)\b", re.IGNORECASE)
_HOURS = re.compile(r"\b(hours?|open|opening|close|closing)\b", re.IGNORECASE)
_ORDER = re.compile(r"\b(order|orders|parcel|delivery|status)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\b(\d{4})\b")

Intent = Literal["hours", "order_status", "agent_request", "unknown"]


@dataclass
class _Memory:
    """What the bot remembers of one conversation."""

    misses: int = 0
    intent: Intent = "unknown"
    order: str | None = None


@dataclass
class ExampleBot:
    memory: dict[str, _Memory] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, conversation_id: str, text: str | None) -> dict[str, Any]:
        """The bot's answer (the product's answer shape) to one customer message."""
        words = (text or "").strip()
        with self.lock:
            seen = self.memory.setdefault(conversation_id, _Memory())
            return self._answer(seen, words)

    def _answer(self, seen: _Memory, words: str) -> dict[str, Any]:
        number = _NUMBER.search(words)
        if _AGENT.search(words):
            return _escalate(seen, "agent_request" if seen.intent == "unknown" else seen.intent)
        if number is not None and (number.group(1) in ORDERS or seen.intent == "order_status"):
            seen.intent, seen.order = "order_status", number.group(1)
            status = ORDERS.get(number.group(1))
            if status is None:
                return _say(f"I cannot find order {number.group(1)}. Check the number, "
                            "or ask for an agent.", attributes={"order": number.group(1)})
            return _say(f"Order {number.group(1)} is {status}.",
                        attributes={"intent": "order_status", "order": number.group(1)})
        if _ORDER.search(words):
            seen.intent = "order_status"
            return _say(ASK_ORDER, attributes={"intent": "order_status"})
        if _HOURS.search(words):
            seen.intent = "hours"
            return _say(HOURS, attributes={"intent": "hours"})
        seen.misses += 1
        if seen.misses >= MISSES_BEFORE_AGENT:
            return _escalate(seen, seen.intent)
        return {"messages": [{"text": DIDNT_GET, "quick_replies": MENU}]}


def _say(text: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"text": text}], "attributes": attributes}


def _escalate(seen: _Memory, intent: Intent) -> dict[str, Any]:
    attributes: dict[str, Any] = {"intent": intent, "bot_misses": seen.misses}
    if seen.order is not None:
        attributes["order"] = seen.order
    return {"messages": [{"text": HANDING_OVER}], "escalate": True, "attributes": attributes}


def signature_valid(header: str | None, secret: str, body: bytes) -> bool:
    """What any bot does first: the product's HMAC of the raw body, compared in constant time
    (the bot's own implementation, not the product's: this is the outside world)."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(header.strip().lower(), expected)


router = APIRouter(prefix="/_sim/bot", tags=["example bot"])
_bot = ExampleBot()


@router.post("", summary="The example bot: POST a customer event as the product does")
async def example_bot(request: Request, misbehave: str | None = None,
                      seconds: float = 30.0) -> Response:
    body = await request.body()
    secret: str = request.app.state.simulator.settings.bot_secret
    if not signature_valid(request.headers.get("x-signature-256"), secret, body):
        return JSONResponse({"error": "forbidden", "message": "bad X-Signature-256"},
                            status_code=403)
    if misbehave == "slow":
        await _sleep(seconds)
    elif misbehave == "not_json":
        return Response("<html>Service temporarily unavailable</html>", media_type="text/html")
    elif misbehave == "error":
        return JSONResponse({"error": "boom"}, status_code=500)
    elif misbehave == "wrong_shape":
        return JSONResponse({"messages": "hello"})
    event = await request.json()
    text = event["event"].get("payload") or event["event"].get("text")
    return JSONResponse(_bot.answer(event["conversation_id"], text))


async def _sleep(seconds: float) -> None:
    deadline = time.monotonic() + max(0.0, min(seconds, 120.0))
    while time.monotonic() < deadline:  # in steps, so a stopping server is not held up
        await asyncio.sleep(min(0.25, deadline - time.monotonic()))
