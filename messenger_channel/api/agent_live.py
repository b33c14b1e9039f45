"""``GET /api/agent/negotiate``: a WebSocket URL for the console's live hints.

In Azure the URL is Web PubSub's client URL with a short-lived access token for the user
``agent:<id>``; on the devhost, the devhost's own socket with a token of the same shape.
Supervisors' connections also join the ``supervisors`` group. The token only opens a socket
(an open socket outlives it); the console negotiates again whenever it reconnects.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from messenger_channel.api.auth import AgentIdDep, ServicesDep
from messenger_channel.api.errors import ApiError, documented
from messenger_channel.api.types import ApiTime
from messenger_channel.live.port import SUPERVISORS, LiveUnavailable, agent_user
from messenger_channel.workforce.agents import get_agent

router = APIRouter(tags=["agent"])

TOKEN_MINUTES = 30


class Negotiated(BaseModel):
    url: str
    expires_at: ApiTime


@router.get("/negotiate", response_model=Negotiated,
            responses=documented({503: "live_updates_unavailable: poll the lists"}))
def negotiate(agent_id: AgentIdDep, services: ServicesDep, response: Response) -> Negotiated:
    agent = get_agent(services.tables, agent_id)
    if agent is None:  # deleted after the key was checked
        raise ApiError(401, "unauthorized", "the key is not valid")
    groups = [SUPERVISORS] if agent.role == "supervisor" else []
    try:
        access = services.live.client_access(agent_user(agent.id), groups, TOKEN_MINUTES)
    except LiveUnavailable:
        raise ApiError(503, "live_updates_unavailable",
                       "live updates are not available now; poll the lists") from None
    response.headers["Cache-Control"] = "no-store"  # the URL carries a token
    return Negotiated(url=access.url, expires_at=access.expires_at)
