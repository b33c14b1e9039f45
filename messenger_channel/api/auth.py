"""Who is calling: the operators' management key, an agent's key or a workstream's bot key
(``Authorization: Bearer``); a supervisor is an agent whose ``role`` is ``supervisor``.

No or an unknown key → 401; a valid key of another family (or an agent's key on the
supervisor's routes) → 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from messenger_channel.agent_keys import AgentKeys
from messenger_channel.api.errors import ApiError
from messenger_channel.security import same_secret
from messenger_channel.services import Services, get_services
from messenger_channel.workforce.agents import get_agent
from messenger_channel.workforce.bot_keys import BotKeys


@dataclass(frozen=True)
class Caller:
    is_manager: bool
    agent_id: str | None = None
    bot_workstream_id: str | None = None  # a bot key: the workstream whose bot it is


def api_services() -> Services:
    """A dependency of its own so tests can override it with stores of their own."""
    return get_services()


ServicesDep = Annotated[Services, Depends(api_services)]

# Declares the scheme in the OpenAPI document; ``auto_error=False`` so that a missing key is
# answered in the API's own error shape below, not FastAPI's.
bearer = HTTPBearer(
    scheme_name="bearer", auto_error=False,
    description="The management key (/api/manage), an agent's key (/api/agent; a supervisor's "
                "also opens /api/supervisor) or a workstream's bot key (/api/bot).")

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def identify(request: Request, credentials: Credentials, services: ServicesDep) -> Caller:
    if credentials is None:
        raise ApiError(401, "unauthorized", "send your key as 'Authorization: Bearer <key>'")
    key = credentials.credentials
    if same_secret(key, services.settings.management_api_key.get_secret_value()):
        return _known(request, Caller(is_manager=True))
    agent_id = AgentKeys(services.tables).agent_for(key)
    if agent_id is not None:
        return _known(request, Caller(is_manager=False, agent_id=agent_id))
    workstream = BotKeys(services.tables, services.clock).workstream_for(key)
    if workstream is not None:
        return _known(request, Caller(is_manager=False, bot_workstream_id=workstream.id))
    raise ApiError(401, "unauthorized", "the key is not valid")


def _known(request: Request, caller: Caller) -> Caller:
    request.state.caller = caller  # the audit trail (``audit_trail``) names the actor from it
    return caller


CallerDep = Annotated[Caller, Depends(identify)]


def require_manager(caller: CallerDep) -> Caller:
    if not caller.is_manager:
        raise ApiError(403, "forbidden", "this route needs the management key, not an agent's "
                                         "or a bot's key")
    return caller


def require_agent(caller: CallerDep) -> str:
    if caller.agent_id is None:
        raise ApiError(403, "forbidden", "this route needs an agent's key, not the management key")
    return caller.agent_id


def require_supervisor(caller: CallerDep, services: ServicesDep) -> str:
    if caller.agent_id is None:
        raise ApiError(403, "forbidden", "this route needs a supervisor's key")
    agent = get_agent(services.tables, caller.agent_id)
    if agent is None or agent.role != "supervisor":
        raise ApiError(403, "forbidden", "this route needs a supervisor's key, not an agent's")
    return caller.agent_id


def require_bot(caller: CallerDep) -> str:
    """The workstream whose bot is calling."""
    if caller.bot_workstream_id is None:
        raise ApiError(403, "forbidden", "this route needs a bot's key (POST "
                                         "/api/manage/workstreams/{id}/bot-key issues one)")
    return caller.bot_workstream_id


ManagerDep = Annotated[Caller, Depends(require_manager)]
AgentIdDep = Annotated[str, Depends(require_agent)]
SupervisorIdDep = Annotated[str, Depends(require_supervisor)]
BotWorkstreamDep = Annotated[str, Depends(require_bot)]
