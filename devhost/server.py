"""The devhost itself: an ASGI app serving the function app's HTTP triggers and the admin routes,
plus background threads for queue and timer triggers."""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
from opentelemetry.trace import SpanKind, get_current_span
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from devhost.config import DevhostConfig
from devhost.http_bridge import BodyTooLarge, read_body, to_function_request, to_starlette_response
from devhost.invoke import invoke_async
from devhost.live_socket import LiveSockets
from devhost.loader import describe_functions, import_app
from devhost.queue_runner import QueueFunctionRunner, max_lock_renewal
from devhost.timer_runner import TimerFunctionRunner
from messenger_channel import metering
from messenger_channel.agent_keys import AgentKeys
from messenger_channel.bus.factory import LOCAL_QUEUE_FILE
from messenger_channel.bus.local import open_local_queue
from messenger_channel.clock import Clock, isoformat, system_clock
from messenger_channel.live.local import open_local_live
from messenger_channel.security import bearer_token, same_secret
from messenger_channel.services import get_services
from messenger_channel.settings import SettingsError
from messenger_channel.storage.errors import StorageError
from messenger_channel.telemetry import spans
from messenger_channel.telemetry.setup import configure_json_log
from messenger_channel.workforce.bot_keys import BotKeys

log = logging.getLogger("devhost")

def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def route_prefix(app_file: Path | None) -> str:
    """``extensions.http.routePrefix`` from the app's host.json, ``api`` by default."""
    if app_file is None or not (app_file.parent / "host.json").exists():
        return "api"
    host = json.loads((app_file.parent / "host.json").read_text())
    return str(host.get("extensions", {}).get("http", {}).get("routePrefix", "api")).strip("/")


class Devhost:
    def __init__(self, app_target: str, config: DevhostConfig, clock: Clock = system_clock) -> None:
        self.config = config
        self.clock = clock
        clock.set_offset(config.clock_offset_seconds)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        # Before the app is imported: its Azure Monitor set-up then leaves the spans here.
        configure_json_log()
        self.queue = open_local_queue(
            config.data_dir / LOCAL_QUEUE_FILE, clock,
            None if config.queue_lock_seconds is None
            else timedelta(seconds=config.queue_lock_seconds))
        # The app's local live publisher hands its hints to these sockets (one LocalLive).
        self.live = LiveSockets(open_local_live(config.data_dir, clock))
        function_app = import_app(app_target)
        self.functions = {spec.name: spec for spec in describe_functions(function_app)}
        self.prefix = route_prefix(_app_file(app_target))
        # Literal segments win over parameters when two routes match one path.
        self.http = sorted(
            (s for s in self.functions.values() if s.kind == "http"),
            key=lambda s: -(s.route.literal_score if s.route else 0),
        )
        app_file = _app_file(app_target)
        renewal = max_lock_renewal(None if app_file is None else app_file.parent / "host.json")
        self.queue_runners = {
            s.name: QueueFunctionRunner(s, self.queue, config.queue_concurrency, renewal)
            for s in self.functions.values()
            if s.kind == "queue"
        }
        self.timer_runners = {
            s.name: TimerFunctionRunner(s, clock)
            for s in self.functions.values()
            if s.kind == "timer"
        }
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- background triggers -------------------------------------------------------------
    def start_background(self) -> None:
        runners: list[QueueFunctionRunner | TimerFunctionRunner] = [
            *self.queue_runners.values(),
            *self.timer_runners.values(),
        ]
        for runner in runners:
            thread = threading.Thread(
                target=runner.run_forever,
                args=(self._stop,),
                name=f"trigger-{runner.spec.name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop_background(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()

    # -- ASGI ------------------------------------------------------------------------------
    def asgi(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            if self.config.run_triggers:
                self.start_background()
            try:
                yield
            finally:
                await anyio.to_thread.run_sync(self.stop_background)

        every_method = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        return Starlette(
            routes=[
                Route("/admin/functions", self.list_functions, methods=["GET"]),
                Route("/admin/functions/{name}", self.run_function, methods=["POST"]),
                Route("/admin/clock", self.clock_route, methods=["GET", "PUT"]),
                Route("/admin/metering", self.metering_route, methods=["GET"]),
                Route("/admin/metering/reset", self.metering_reset, methods=["POST"]),
                # Web PubSub's client endpoint, served here (the Functions host has no /client).
                WebSocketRoute("/client/hubs/{hub}", self.live.endpoint),
                Route("/{path:path}", self.dispatch_http, methods=every_method),
            ],
            lifespan=lifespan,
        )

    async def dispatch_http(self, request: Request) -> Response:
        """One span per request (a line of the JSON log: duration, status, outcome), in the
        trace of the caller's ``traceparent`` when it sends one, as the Functions host does."""
        operation = f"{request.method} {operation_of(request.path_params['path'])}"
        with spans.run(operation, SpanKind.SERVER, {
                "http.request.method": request.method, "http.route": operation},
                carrier=request.headers) as span:
            response = await self._dispatch_http(request)
            status = response.status_code
            span.set_attributes({"http.response.status_code": status, "outcome": (
                "failed" if status >= 500 else "refused" if status >= 400 else "ok")})
            return response

    async def _dispatch_http(self, request: Request) -> Response:
        path = request.path_params["path"]
        if self.prefix:
            head, _, rest = path.partition("/")
            if head.lower() != self.prefix.lower():
                return error(404, "not_found", f"no function serves /{path}")
            path = rest
        matched = [
            (spec, params)
            for spec in self.http
            if spec.route is not None and (params := spec.route.match(path)) is not None
        ]
        if not matched:
            return error(404, "not_found", f"no function serves {request.url.path}")
        allowed = [(spec, params) for spec, params in matched if request.method in spec.methods]
        if not allowed:
            return error(405, "method_not_allowed", f"{request.method} is not allowed here")
        spec, params = allowed[0]
        get_current_span().set_attribute("function", spec.name)  # on the request's line
        try:
            body = await read_body(request, self.config.max_request_bytes)
        except BodyTooLarge:
            return error(413, "body_too_large", "the request body exceeds the host's limit")
        try:
            result = await invoke_async(spec, to_function_request(request, body, params),
                                        operation=f"{request.method} {operation_of(path)}")
            return to_starlette_response(result)
        except Exception:
            # The real host answers 500 on an unhandled exception; the app should never let one out.
            log.exception("HTTP function failed", extra={"function": spec.name})
            return error(500, "internal_error", "the function failed; see the host log")

    # -- admin -----------------------------------------------------------------------------
    async def _authorised(self, request: Request) -> Response | None:
        """None for the management key; 403 for an agent's or a bot's key (a valid key of
        another family, as on the app's routes); 401 for no key or an unknown one."""
        key = bearer_token(request.headers.get("authorization"))
        if key is not None and same_secret(key, self.config.management_api_key):
            return None
        if key is not None and await anyio.to_thread.run_sync(_key_of_another_family, key):
            return error(403, "forbidden", "the admin routes need the management key, not an "
                                           "agent's or a bot's key")
        return error(
            401, "unauthorized", "the admin routes need the management key as a Bearer token"
        )

    async def list_functions(self, request: Request) -> Response:
        if (denied := await self._authorised(request)) is not None:
            return denied
        return JSONResponse({"functions": [s.describe() for s in self.functions.values()]})

    async def run_function(self, request: Request) -> Response:
        if (denied := await self._authorised(request)) is not None:
            return denied
        name = request.path_params["name"]
        spec = self.functions.get(name)
        if spec is None:
            return error(404, "not_found", f"there is no function {name!r}")
        if name in self.queue_runners:
            drained = await anyio.to_thread.run_sync(self.queue_runners[name].drain)
            return JSONResponse({"processed": drained.processed, "failed": drained.failed})
        if name in self.timer_runners:
            ok = await anyio.to_thread.run_sync(self.timer_runners[name].run_once)
            return JSONResponse({"processed": 1, "failed": 0 if ok else 1})
        return error(400, "not_invocable", f"{name!r} is an HTTP function; call its route instead")

    async def clock_route(self, request: Request) -> Response:
        if (denied := await self._authorised(request)) is not None:
            return denied
        if request.method == "PUT":
            try:
                body: Any = json.loads(await request.body())
                offset = float(body["offset_seconds"])
            except (ValueError, KeyError, TypeError):
                return JSONResponse(
                    {
                        "error": "validation_error",
                        "message": "offset_seconds must be a number",
                        "fields": [{"field": "offset_seconds", "message": "a number is required"}],
                    },
                    status_code=422,
                )
            self.clock.set_offset(offset)
        return JSONResponse(
            {"offset_seconds": self.clock.offset_seconds, "now": isoformat(self.clock.now())}
        )

    async def metering_route(self, request: Request) -> Response:
        """The operation counters of this process since start or the last reset; with
        ``?name=queue.sent&name=...``, only those names (with their labels)."""
        if (denied := await self._authorised(request)) is not None:
            return denied
        counters = metering.snapshot()
        if names := set(request.query_params.getlist("name")):
            counters = {k: v for k, v in counters.items() if k.partition("{")[0] in names}
        return JSONResponse({"counters": counters})

    async def metering_reset(self, request: Request) -> Response:
        """Zero the counters; answers what they held."""
        if (denied := await self._authorised(request)) is not None:
            return denied
        return JSONResponse({"counters": metering.reset()})


def operation_of(path: str) -> str:
    """The request path as an operation name for the counters: segments holding a digit (ids,
    page numbers) become ``{id}``, so ``agent/conversations/cv_1f/accept`` is
    ``agent/conversations/{id}/accept``."""
    segments = [s for s in path.strip("/").split("/") if s][:6]
    return "/".join("{id}" if any(c.isdigit() for c in s) else s for s in segments)


def _key_of_another_family(key: str) -> bool:
    """Whether ``key`` is an agent's or a workstream bot's (the app's stores, as the app's own
    authentication reads them); a store that cannot answer, or an app without one (a host
    serving another function app), counts as no."""
    try:
        services = get_services()
        return (AgentKeys(services.tables).agent_for(key) is not None
                or BotKeys(services.tables, services.clock).workstream_for(key) is not None)
    except (SettingsError, StorageError) as problem:
        log.warning("admin key check: no key store answered",
                    extra={"error": type(problem).__name__})
        return False


def _app_file(app_target: str) -> Path | None:
    location = app_target.partition(":")[0]
    if location.endswith(".py"):
        return Path(location).resolve()
    spec = importlib.util.find_spec(location)
    return Path(spec.origin) if spec is not None and spec.origin else None
