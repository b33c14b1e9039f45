"""The fake Graph API: one catch-all route that resolves, authenticates, injects faults and logs.

Every path that is not under ``/_sim`` is a Graph call, with or without a version segment, so an
unknown path gets Graph's own "Unknown path components" error instead of a framework 404.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from simulator import attachments, graph_request, handover_graph, send_api
from simulator.context import Simulator, simulator
from simulator.graph_errors import (
    GraphError,
    invalid_param,
    nonexisting_field,
    token_expired,
    token_missing,
    token_unknown,
    unknown_path,
    unsupported,
)
from simulator.graph_request import GraphRequest
from simulator.models import (
    Fault,
    FaultKind,
    Operation,
    ProfileAccess,
    RequestRecord,
    Token,
    TokenState,
)

router = APIRouter()

PAGE_FIELDS = ("id", "name")
PROFILE_FIELDS = ("id", "name", "first_name", "last_name", "profile_pic", "locale", "timezone",
                  "gender")
# The admin who generated the page tokens, as debug_token names them.
ADMIN_USER_ID = "100000000000099"
# Page webhook fields Graph accepts in subscribed_fields; anything else is its error 100.
SUBSCRIBABLE_FIELDS = frozenset({
    "messages", "message_echoes", "message_deliveries", "message_reads", "message_reactions",
    "message_edits", "messaging_postbacks", "messaging_optins", "messaging_optouts",
    "messaging_referrals", "messaging_handovers", "messaging_policy_enforcement",
    "messaging_account_linking", "messaging_feedback", "messaging_customer_information",
    "messaging_integrity", "messaging_game_plays", "messaging_checkout_updates",
    "messaging_payments", "messaging_pre_checkouts", "messaging_in_thread_lead_form_submit",
    "messaging_appointments", "messaging_direct_sends", "response_feedback", "send_cart",
    "standby", "inbox_labels", "message_context", "feed", "mention", "name", "picture",
    "category", "description", "conversations", "email", "ratings", "videos", "live_videos",
    "leadgen", "location", "hours", "phone", "website", "members", "merchant_review",
})

Handler = Callable[[Simulator, GraphRequest, Request, BackgroundTasks], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    operation: Operation
    handler: Handler
    page_id: str | None
    psid: str | None


@router.api_route("/{path:path}", methods=["GET", "POST", "DELETE"], include_in_schema=False)
async def graph(path: str, request: Request, background: BackgroundTasks) -> Response:
    sim = simulator(request)
    state = sim.state
    record = RequestRecord(
        id=state.next_record_id(), time=state.now_iso(), method=request.method,
        path=request.url.path, query=graph_request.redact(dict(request.query_params)),
    )
    try:
        call = await graph_request.parse(request, path)
        record.body = call.body_for_log
        route = _resolve(sim, call)
        record.operation, record.page_id = route.operation.value, route.page_id
        response = await _with_faults(sim, route)
        if response is None:
            response = JSONResponse(await route.handler(sim, call, request, background))
    except GraphError as error:
        response = error.response()
    record.status = response.status_code
    state.log_request(record)
    return response


def _resolve(sim: Simulator, call: GraphRequest) -> Route:
    """Which Graph operation this is, and the page and customer it concerns (for faults)."""
    segments, method = call.segments, call.method
    if not segments:
        raise unknown_path("/")
    if len(segments) > 2:
        raise unknown_path("/" + "/".join(segments[1:]))
    node, edge = segments[0], segments[1] if len(segments) == 2 else None
    token = sim.state.token(call.token) if call.token else None
    page_id = token.page_id if node == "me" and token else node
    if node == "debug_token" and edge is None and method == "GET":
        input_token = sim.state.token(call.str_param("input_token") or "")
        return Route(Operation.DEBUG_TOKEN, _debug_token,
                     input_token.page_id if input_token else None, None)
    if edge is None and method == "GET":
        if node == "me" or sim.state.page(node) is not None:
            return Route(Operation.PAGE, _page_node, page_id, None)
        return Route(Operation.PROFILE, _profile, token.page_id if token else None, node)
    if edge == "messages" and method == "POST":
        return Route(Operation.SEND, _send, page_id, _recipient_or_none(call))
    if edge == "subscribed_apps":
        return Route(Operation.SUBSCRIBED_APPS, _subscribed_apps, page_id, None)
    if edge == "message_attachments" and method == "POST":
        return Route(Operation.UPLOAD, _upload, page_id, None)
    if edge == "ids_for_pages" and method == "GET":
        return Route(Operation.IDS_FOR_PAGES, _ids_for_pages, None, None)
    if edge in handover_graph.EDGES:
        return Route(Operation.HANDOVER, _handover, page_id, handover_graph.recipient_of(call))
    if edge is None:
        raise unsupported(method, node)
    raise unknown_path(f"/{edge}")


def _recipient_or_none(call: GraphRequest) -> str | None:
    try:
        return send_api.recipient_id(call)
    except GraphError:
        return None  # the send handler reports it, after any fault


async def _with_faults(sim: Simulator, route: Route) -> Response | None:
    """The answer of an armed fault, or None to go on (a timeout fault only delays)."""
    fault = sim.state.take_fault(route.operation, route.page_id, route.psid)
    if fault is None:
        return None
    await asyncio.sleep(fault.delay_seconds)
    if fault.kind is FaultKind.TIMEOUT:
        # Graph was slow, not broken: a client that gave up may find its message went out.
        return None
    if fault.kind is FaultKind.HTTP_5XX:
        return _server_error(fault)
    assert fault.code is not None  # checked when the fault was armed
    raise GraphError(fault.code, fault.subcode, fault.message,
                     status=fault.http_status or 400)


def _server_error(fault: Fault) -> Response:
    status = fault.http_status or 503
    if fault.body == "graph":
        return GraphError(fault.code or 2, fault.subcode, fault.message, status=status).response()
    return HTMLResponse(
        "<!DOCTYPE html><html><head><title>Error</title></head><body>"
        "Sorry, something went wrong. We're working on getting this fixed as soon as we can."
        "</body></html>",
        status_code=status,
    )


def _page_token(sim: Simulator, call: GraphRequest, node: str) -> Token:
    """The valid page token of this call, whose page must be the node (or ``me``)."""
    if call.token is None:
        if node == "me":
            raise GraphError(2500, message="An active access token must be used to query "
                                           "information about the current user.")
        raise token_missing()
    token = sim.state.token(call.token)
    if token is None:
        raise token_unknown()
    now = sim.state.clock.now_s()
    state = token.effective_state(now)
    if state is TokenState.EXPIRED:
        raise token_expired(token.expires_at or now, now)
    if state is TokenState.INVALID:
        raise GraphError(190, token.invalid_subcode)
    return token


def _check_node(call: GraphRequest, token: Token) -> str:
    node = call.segments[0]
    if node not in ("me", token.page_id):
        raise unsupported(call.method, node)
    return token.page_id


def _fields(call: GraphRequest, known: tuple[str, ...], default: tuple[str, ...],
            node_type: str) -> list[str]:
    raw = call.str_param("fields")
    fields = [f.strip() for f in raw.split(",") if f.strip()] if raw else list(default)
    for field in fields:
        if field not in known:
            raise nonexisting_field(field, node_type)
    return fields


async def _page_node(sim: Simulator, call: GraphRequest, _request: Request,
                     _background: BackgroundTasks) -> dict[str, Any]:
    token = _page_token(sim, call, call.segments[0])
    page_id = _check_node(call, token)
    page = sim.state.page(page_id)
    values = {"id": page_id, "name": page.name if page else ""}
    return {f: values[f] for f in _fields(call, PAGE_FIELDS, ("name", "id"), "Page")}


async def _profile(sim: Simulator, call: GraphRequest, _request: Request,
                   _background: BackgroundTasks) -> dict[str, Any]:
    token = _page_token(sim, call, call.segments[0])
    psid = call.segments[0]
    user = sim.state.user(token.page_id, psid)
    if user is None:
        raise unsupported("get", psid)
    fields = _fields(call, PROFILE_FIELDS, ("name", "id"), "User")
    if user.profile_access is ProfileAccess.ERROR_2018218:
        raise GraphError(100, 2018218)
    if user.profile_access is ProfileAccess.EMPTY:
        # Without Business Asset User Profile Access Graph answers the node's id and nothing else.
        return {"id": psid}
    values: dict[str, Any] = {
        "id": psid, "name": f"{user.first_name} {user.last_name}".strip(),
        "first_name": user.first_name, "last_name": user.last_name,
        "profile_pic": user.profile_pic, "locale": user.locale, "timezone": user.timezone,
        "gender": user.gender,
    }
    return {f: values[f] for f in fields if values[f] is not None}


async def _debug_token(sim: Simulator, call: GraphRequest, _request: Request,
                       _background: BackgroundTasks) -> dict[str, Any]:
    _check_debug_caller(sim, call.token)
    input_value = call.str_param("input_token")
    if not input_value:
        raise invalid_param("The parameter input_token is required")
    token = sim.state.token(input_value)
    if token is None:
        return {"data": {"error": {"code": 190, "message": GraphError(190).message},
                         "is_valid": False, "scopes": []}}
    app = sim.state.app(token.app_id)
    now = sim.state.clock.now_s()
    data: dict[str, Any] = {
        "app_id": token.app_id, "type": "PAGE", "application": app.name if app else "",
        "data_access_expires_at": token.data_access_expires_at, "expires_at": token.expires_at,
        "is_valid": True, "issued_at": token.issued_at, "profile_id": token.page_id,
        "scopes": list(token.scopes),
        "granular_scopes": [
            {"scope": s, "target_ids": [token.page_id]} if s.startswith("pages_") else {"scope": s}
            for s in token.scopes
        ],
        "user_id": ADMIN_USER_ID,
    }
    state = token.effective_state(now)
    if state is not TokenState.VALID:
        error = (token_expired(token.expires_at or now, now) if state is TokenState.EXPIRED
                 else GraphError(190, token.invalid_subcode))
        data["is_valid"] = False
        data["error"] = {"code": 190, "message": error.message, "subcode": error.subcode}
    return {"data": data}


def _check_debug_caller(sim: Simulator, caller: str | None) -> None:
    """debug_token needs an app token (``app_id|app_secret``) or a valid token of the app."""
    if not caller:
        raise invalid_param("You must provide an app access token, or a user access token that "
                            "is an owner or developer of the app")
    app_id, bar, secret = caller.partition("|")
    if bar:
        app = sim.state.app(app_id)
        if app is None or app.app_secret != secret:
            raise GraphError(190, message="Invalid OAuth access token signature.")
        return
    token = sim.state.token(caller)
    if token is None:
        raise token_unknown()
    now = sim.state.clock.now_s()
    if token.effective_state(now) is TokenState.EXPIRED:
        raise token_expired(token.expires_at or now, now)
    if token.effective_state(now) is TokenState.INVALID:
        raise GraphError(190, token.invalid_subcode)


async def _ids_for_pages(sim: Simulator, call: GraphRequest, _request: Request,
                         _background: BackgroundTasks) -> dict[str, Any]:
    """Graph's ID matching API: the PSIDs of an app-scoped user on the pages of the app (its
    pages and subscribed pages stand for the business's). Needs the app token ``app_id|app_secret``;
    paged by ``limit`` and ``after`` like Graph's cursors."""
    app_id, bar, secret = (call.token or "").partition("|")
    app = sim.state.app(app_id) if bar else None
    if app is None or app.app_secret != secret:
        raise GraphError(190, message="Invalid OAuth access token signature.")
    asid = call.segments[0]
    pages = {page.page_id for page in sim.state.pages() if page.app_id == app_id} | {
        page_id for page_id, apps in sim.state.all_subscriptions().items() if app_id in apps}
    matches = sorted((user for user in sim.state.users()
                      if user.app_scoped_id == asid and user.page_id in pages),
                     key=lambda user: (user.page_id, user.psid))
    limit = int(call.str_param("limit") or 25)
    start = int(call.str_param("after") or 0)
    chosen = matches[start:start + limit]
    data = [{"id": user.psid, "page": {"id": user.page_id, "name": (
        page.name if (page := sim.state.page(user.page_id)) else "")}} for user in chosen]
    answer: dict[str, Any] = {"data": data}
    if start + limit < len(matches):
        answer["paging"] = {"cursors": {"after": str(start + limit)},
                            "next": f"/{asid}/ids_for_pages?after={start + limit}"}
    return answer


async def _subscribed_apps(sim: Simulator, call: GraphRequest, _request: Request,
                           _background: BackgroundTasks) -> dict[str, Any]:
    token = _page_token(sim, call, call.segments[0])
    page_id = _check_node(call, token)
    if call.method == "GET":
        data = []
        for app_id, fields in sim.state.subscriptions(page_id).items():
            app = sim.state.app(app_id)
            data.append({"id": app_id, "name": app.name if app else "",
                         "subscribed_fields": fields})
        return {"data": data}
    if "pages_manage_metadata" not in token.scopes:
        raise GraphError(200)
    if call.method == "DELETE":
        sim.state.unsubscribe(page_id, token.app_id)
        return {"success": True}
    sim.state.subscribe(page_id, token.app_id, _subscribed_fields(call))
    return {"success": True}


def _subscribed_fields(call: GraphRequest) -> list[str]:
    value = call.params.get("subscribed_fields")
    if value is None or value == "":
        raise invalid_param("The parameter subscribed_fields is required")
    if isinstance(value, str) and value.lstrip().startswith("["):
        value = call.json_param("subscribed_fields")
    fields = ([str(f).strip() for f in value] if isinstance(value, list)
              else [f.strip() for f in str(value).split(",")])
    for field in fields:
        if field not in SUBSCRIBABLE_FIELDS:
            raise invalid_param(f'Param subscribed_fields must be one of the Page webhook fields '
                                f'- got "{field}"')
    return fields


async def _send(sim: Simulator, call: GraphRequest, request: Request,
                background: BackgroundTasks) -> dict[str, str]:
    token = _page_token(sim, call, call.segments[0])
    _check_node(call, token)
    result = await send_api.handle_send(sim.state, call, token, str(request.base_url))
    if result.sent is not None:
        # Runs after the answer has gone out, as Facebook's own echo and delivery do.
        background.add_task(sim.poster.send_followups, result.sent, result.attachment_url)
    return result.answer


async def _handover(sim: Simulator, call: GraphRequest, _request: Request,
                    background: BackgroundTasks) -> dict[str, Any]:
    token = _page_token(sim, call, call.segments[0])
    _check_node(call, token)
    return handover_graph.handle(sim, call, token, background)


async def _upload(sim: Simulator, call: GraphRequest, _request: Request,
                  _background: BackgroundTasks) -> dict[str, str]:
    token = _page_token(sim, call, call.segments[0])
    _check_node(call, token)
    return await attachments.handle_upload(sim.state, call, token)
