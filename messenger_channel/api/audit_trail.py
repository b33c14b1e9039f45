"""The audit trail of the HTTP APIs: an ASGI middleware that appends an audit entry for every
management change and for the agents' accountable acts, once the route has answered with
success, before the answer reaches the caller.

What is recorded: the actor (the management key, or the agent, supervisor or bot behind the
key that ``auth.identify`` recognised), the action (named below; a management route not named
here is still recorded, as ``manage.<verb>``), the target (the ids in the path, or the id the
answer gives a new thing) and the *names* of the body's fields with a few ids — never a value
that could be a secret or a customer's words, and never a PSID (a customer is named by a
pseudonymous hash, so the append-only log holds nothing an erasure must remove).

An entry that cannot be written is logged as an error; the act it describes is done already.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from messenger_channel.audit.log import Actor, AuditLog
from messenger_channel.privacy.subjects import customer_pseudonym
from messenger_channel.services import Services

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # larger bodies are uploads: their fields are not read
# Values safe to keep: ids and settings, never free text.
SAFE_VALUES = frozenset({"queue_id", "agent_id", "page_id", "account_id", "role", "presence",
                         "state", "from", "to", "distribution_mode", "capacity"})
MANAGE = "/api/manage"

# (method, route template) → actions. Other writes under /api/manage are ``manage.<verb>``.
ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/api/manage/accounts"): ("account.create",),
    ("PATCH", "/api/manage/accounts/{account_id}"): ("account.update",),
    ("DELETE", "/api/manage/accounts/{account_id}"): ("account.delete",),
    ("POST", "/api/manage/accounts/{account_id}/pages"): ("page.create",),
    ("PATCH", "/api/manage/accounts/{account_id}/pages/{page_id}"): ("page.update",),
    ("DELETE", "/api/manage/accounts/{account_id}/pages/{page_id}"): ("page.delete",),
    ("POST", "/api/manage/agents"): ("agent.create", "key.issued"),
    ("POST", "/api/manage/agents/{id}/key"): ("key.rotated",),
    ("POST", "/api/manage/workstreams/{id}/bot-key"): ("key.issued",),
    ("POST", "/api/manage/replay"): ("webhook.replay",),
    ("POST", "/api/manage/deadletters/{queue}/redrive"): ("deadletters.redrive",),
    ("DELETE", "/api/manage/customers/{page_id}/{psid}"): ("customer.erase",),
    ("GET", "/api/manage/customers/{page_id}/{psid}/export"): ("customer.export",),
    ("POST", "/api/agent/conversations/{conversation_id}/accept"): ("conversation.accept",),
    ("POST", "/api/agent/conversations/{conversation_id}/transfer"): (
        "conversation.transfer",),
    ("POST", "/api/agent/conversations/{conversation_id}/close"): ("conversation.close",),
    ("POST", "/api/supervisor/conversations/{conversation_id}/assign"): (
        "conversation.assign",),
    ("POST", "/api/supervisor/conversations/{conversation_id}/close"): ("conversation.close",),
    ("POST", "/api/agent/conversations/{conversation_id}/pass-thread"): (
        "conversation.pass_thread",),
    ("POST", "/api/supervisor/conversations/{conversation_id}/pass-thread"): (
        "conversation.pass_thread",),
    ("GET", "/api/agent/attachments/{attachment_id}"): ("attachment.download",),
    ("POST", "/api/bot/conversations/{conversation_id}/escalate"): ("conversation.escalate",),
}
# A field whose presence in a PATCH is an act of its own.
ROTATIONS = {"app_secret": "secret.rotated", "access_token": "token.rotated"}
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


@dataclass
class _Exchange:
    body: bytearray = field(default_factory=bytearray)
    body_complete: bool = True
    held: list[Message] = field(default_factory=list)
    status: int = 0


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")


# Matched on the request's path: nested routers do not expose their full template.
_PATTERNS = [(method, template, _pattern(template)) for method, template in ACTIONS]


def route_of(scope: Scope) -> tuple[str, dict[str, str]] | None:
    """(the route's template, its path parameters), for an audited route."""
    method, path = scope["method"], scope["path"]
    for wanted, template, pattern in _PATTERNS:
        matched = pattern.match(path) if wanted == method else None
        if matched is not None:
            return template, matched.groupdict()
    routed = getattr(scope.get("route"), "path", None)
    if isinstance(routed, str) and routed.startswith(MANAGE + "/") and method in _VERBS:
        return routed, {str(k): str(v) for k, v in scope.get("path_params", {}).items()}
    return None


def actions_of(method: str, template: str, fields: set[str]) -> tuple[str, ...]:
    named = ACTIONS.get((method, template))
    if named is None and template.startswith(MANAGE + "/") and method in _VERBS:
        named = (f"manage.{_VERBS[method]}",)
    if named is None:
        return ()
    rotated = tuple(ROTATIONS[name] for name in sorted(fields) if name in ROTATIONS
                    and method == "PATCH")
    return named + rotated


def actor_of(scope: Scope) -> Actor | None:
    caller = scope.get("state", {}).get("caller")
    if caller is None:
        return None
    if caller.is_manager:
        return Actor(kind="management", id="management_key")
    path: str = scope["path"]
    kind = ("supervisor" if path.startswith("/api/supervisor/") else
            "bot" if path.startswith("/api/bot/") else "agent")
    # A bot is known by its workstream: the key is the workstream's bot's.
    return Actor(kind=kind, id=str(caller.bot_workstream_id or caller.agent_id))


def target_of(template: str, params: dict[str, Any], answer: dict[str, Any]) -> str:
    parts = [f"{name}:{value}" for name, value in params.items() if name != "psid"]
    if "psid" in params:
        parts.append(customer_pseudonym(str(params.get("page_id", "")), str(params["psid"])))
    for name in ("erasure_id", "id", "page_id"):
        value = answer.get(name)
        if isinstance(value, str) and f"{name}:{value}" not in parts:
            parts.append(f"{name}:{value}")
            break
    return "/".join(parts) or template


def details_of(template: str, body: dict[str, Any]) -> dict[str, object]:
    details: dict[str, object] = {"route": template}
    if body:
        details["fields"] = sorted(body)
    for name in sorted(SAFE_VALUES & body.keys()):
        value = body[name]
        if isinstance(value, str | int | bool) or value is None:
            details[name] = value
    return details


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


class AuditTrail:
    """Wraps the API's ASGI app."""

    def __init__(self, app: ASGIApp, services: Callable[[], Services]) -> None:
        self.app = app
        # Gives the Services (the API's dependency, so tests' overrides apply).
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        exchange = _Exchange()

        async def tee() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if len(exchange.body) + len(chunk) <= MAX_BODY_BYTES:
                    exchange.body.extend(chunk)
                else:
                    exchange.body_complete = False
            return message

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
            audited = self._audited(scope)
            if not audited or exchange.status >= 400:
                await send(message)
                return
            if scope["method"] == "GET":  # a download streams: record before it starts
                if message["type"] == "http.response.start":
                    await self._record(scope, exchange, b"")
                await send(message)
                return
            # A change: hold the answer until it is complete, to name what it made.
            exchange.held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                body = b"".join(m.get("body", b"") for m in exchange.held
                                if m["type"] == "http.response.body")
                await self._record(scope, exchange, body)
                for held in exchange.held:
                    await send(held)
                exchange.held.clear()

        await self.app(scope, tee, answer)

    @staticmethod
    def _audited(scope: Scope) -> bool:
        return route_of(scope) is not None

    async def _record(self, scope: Scope, exchange: _Exchange, answer_body: bytes) -> None:
        found = route_of(scope)
        if found is None:
            return
        template, params = found
        request_body = _json_object(bytes(exchange.body)) if exchange.body_complete else {}
        actions = actions_of(scope["method"], template, set(request_body))
        actor = actor_of(scope)
        if actor is None:
            return
        target = target_of(template, params, _json_object(answer_body))
        details = details_of(template, request_body)
        details["status"] = exchange.status
        services: Services = self.services()

        def write() -> None:
            audit = AuditLog(services.tables, services.clock)
            for action in actions:
                audit.record(actor, action, target, details)

        try:
            await run_in_threadpool(write)
        except Exception:  # the act is done; losing its entry must not fail the answer
            log.exception("audit entry not written", extra={"route": template})
