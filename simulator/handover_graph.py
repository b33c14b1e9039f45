"""The handover protocol's Graph calls (``/{page-id}`` or ``/me`` + edge), on a token whose app
acts; the rules are in :mod:`simulator.handover`.

=========================== ====== ==========================================================
edge                        method answer
=========================== ====== ==========================================================
``pass_thread_control``     POST   ``{recipient: {id}, target_app_id?, metadata?}`` →
                                   ``{"success": true}``
``take_thread_control``     POST   ``{recipient: {id}, metadata?}`` → ``{"success": true}``
``request_thread_control``  POST   ``{recipient: {id}, metadata?}`` → ``{"success": true}``
``thread_owner``            GET    ``?recipient=<PSID>`` → ``{"data": [{"thread_owner":
                                   {"app_id"}}]}`` (empty ``data`` when idle)
``secondary_receivers``     GET    ``{"data": [{id, name}]}``
=========================== ====== ==========================================================

The ``messaging_handovers`` events go out after the answer, as Facebook's do.
"""

from __future__ import annotations

from typing import Any

from fastapi import BackgroundTasks

from simulator import thread_delivery
from simulator.context import Simulator
from simulator.graph_errors import GraphError, invalid_param, unsupported
from simulator.graph_request import GraphRequest
from simulator.handover import ThreadControl
from simulator.models import Token
from simulator.send_api import recipient_id

POST_EDGES = ("pass_thread_control", "take_thread_control", "request_thread_control")
GET_EDGES = ("thread_owner", "secondary_receivers")
EDGES = (*POST_EDGES, *GET_EDGES)
MAX_METADATA = 1000


def recipient_of(call: GraphRequest) -> str | None:
    """The customer a handover call concerns, where it can be read (for faults)."""
    if call.method == "GET":
        value = call.str_param("recipient")
        return value if value and value.isdigit() else None
    try:
        return recipient_id(call)
    except GraphError:
        return None


def handle(sim: Simulator, call: GraphRequest, token: Token,
           background: BackgroundTasks) -> dict[str, Any]:
    edge = call.segments[1]
    wanted = "POST" if edge in POST_EDGES else "GET"
    if call.method != wanted:
        raise unsupported(call.method, f"{call.segments[0]}/{edge}")
    control = ThreadControl(sim.state)
    page_id, app_id = token.page_id, token.app_id
    if edge == "secondary_receivers":
        return control.secondary_receivers(page_id, app_id)
    psid = _customer(sim, call, page_id)
    if edge == "thread_owner":
        return control.owner_answer(page_id, psid, app_id)
    metadata = call.str_param("metadata")
    if metadata is not None and len(metadata) > MAX_METADATA:
        raise invalid_param(f"param metadata must be at most {MAX_METADATA} characters")
    if edge == "pass_thread_control":
        target = call.str_param("target_app_id")
        if target is not None and not target.isdigit():
            raise invalid_param("param target_app_id must be a valid app ID")
        notices = control.pass_thread(page_id, psid, app_id, target, metadata)
    elif edge == "take_thread_control":
        notices = control.take_thread(page_id, psid, app_id, metadata)
    else:
        notices = control.request_thread(page_id, psid, app_id, metadata)
    background.add_task(thread_delivery.post_notices, sim.poster, sim.state, notices)
    return {"success": True}


def _customer(sim: Simulator, call: GraphRequest, page_id: str) -> str:
    if call.method == "GET":
        psid = call.str_param("recipient")
        if not psid or not psid.isdigit():
            raise invalid_param("The parameter recipient is required")
    else:
        psid = recipient_id(call)
    if sim.state.user(page_id, psid) is None:
        raise GraphError(100, 2018001)
    return psid
