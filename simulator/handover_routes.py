"""The control API of the handover protocol (``/_sim/pages/{page_id}/...``): set a page's app
roles, read or set who owns a thread, and act as another app (a bot vendor's) that passes,
takes or requests a thread; the ``messaging_handovers`` events are posted before the answer,
so a test sees them at once. A refusal is Graph's own error body (HTTP 400), as the app's
Graph call would get it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from simulator import thread_delivery
from simulator.context import Simulator, simulator
from simulator.control_models import ThreadActIn, ThreadOwnerPut
from simulator.graph_errors import GraphError
from simulator.handover import ThreadControl
from simulator.models import PageRoles
from simulator.state import NotFound

router = APIRouter(prefix="/_sim/pages")
Sim = Annotated[Simulator, Depends(simulator)]
NumericId = Annotated[str, Path(pattern=r"^\d+$")]


@router.get("/{page_id}/roles")
def get_roles(page_id: NumericId, sim: Sim) -> PageRoles:
    roles = sim.state.roles(page_id)
    if roles is None:
        raise NotFound(f"page {page_id} has no app roles")
    return roles


@router.put("/{page_id}/roles")
def put_roles(page_id: NumericId, body: PageRoles, sim: Sim) -> PageRoles:
    """From now on the page's events go out by thread ownership (primary owns by default)."""
    return sim.state.put_roles(page_id, body)


@router.delete("/{page_id}/roles", status_code=204)
def drop_roles(page_id: NumericId, sim: Sim) -> Response:
    """Back to a single-app page; thread ownership is forgotten."""
    sim.state.drop_roles(page_id)
    return Response(status_code=204)


@router.get("/{page_id}/threads/{psid}")
def get_thread(page_id: NumericId, psid: NumericId, sim: Sim) -> dict[str, Any]:
    return {"page_id": page_id, "psid": psid,
            "owner_app_id": sim.state.thread_owner(page_id, psid)}


@router.put("/{page_id}/threads/{psid}")
def put_thread(page_id: NumericId, psid: NumericId, body: ThreadOwnerPut,
               sim: Sim) -> dict[str, Any]:
    """Set the owner (null: idle) without telling any app."""
    if sim.state.roles(page_id) is None:
        raise NotFound(f"page {page_id} has no app roles: PUT /_sim/pages/{page_id}/roles")
    sim.state.set_thread_owner(page_id, psid, body.owner_app_id)
    return get_thread(page_id, psid, sim)


@router.post("/{page_id}/threads/{psid}/{action}", response_model=None)
async def act(page_id: NumericId, psid: NumericId, action: str, body: ThreadActIn,
              sim: Sim) -> dict[str, Any] | Response:
    """``pass``, ``take`` or ``request`` thread control as the app ``body.app_id``."""
    control = ThreadControl(sim.state)
    try:
        if action == "pass":
            notices = control.pass_thread(page_id, psid, body.app_id, body.target_app_id,
                                          body.metadata)
        elif action == "take":
            notices = control.take_thread(page_id, psid, body.app_id, body.metadata)
        elif action == "request":
            notices = control.request_thread(page_id, psid, body.app_id, body.metadata)
        else:
            raise NotFound(f"no action {action}: pass, take or request")
    except GraphError as error:
        return error.response()
    deliveries = await thread_delivery.post_notices(sim.poster, sim.state, notices)
    return {**get_thread(page_id, psid, sim),
            "deliveries": [delivery.model_dump() for delivery in deliveries]}
