"""``/api/manage/queues``, ``/agents`` and ``/workstreams``: create, list, read, patch, delete.

The three collections have the same routes, so one function adds them for each resource;
the logic lives in ``messenger_channel.workforce``. Bodies refuse unknown fields (422 naming
them): a misspelt setting is reported rather than silently left at its default.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter, Response

from messenger_channel.api.auth import ManagerDep, ServicesDep
from messenger_channel.api.errors import ErrorBody, ValidationErrorBody
from messenger_channel.api.lists import DEFAULT_LIMIT, ListPage
from messenger_channel.routing.distribution import Distributor
from messenger_channel.workforce import Resource
from messenger_channel.workforce.agents import Agents, AgentWithKey, KeyRotation
from messenger_channel.workforce.queues import Queues
from messenger_channel.workforce.workstreams import Workstreams

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no key, or an unknown one"},
    403: {"model": ErrorBody, "description": "an agent's key"},
    404: {"model": ErrorBody, "description": "no such resource"},
    409: {"model": ErrorBody, "description": "a conflict: name taken, in use, page bound..."},
    422: {"model": ValidationErrorBody, "description": "invalid fields, each named"},
}

router = APIRouter(prefix="/api/manage", tags=["workforce"], responses=_ERRORS)


def _add_routes(resource: type[Resource[Any]]) -> None:
    kind, collection = resource.KIND, f"/{resource.PATH}"
    a_kind = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    item = f"{collection}/{{id}}"

    def create(body: Any, services: ServicesDep, _: ManagerDep) -> Any:
        return resource(services.tables, services.clock).create(body)

    def list_all(services: ServicesDep, _: ManagerDep, cursor: str | None = None,
                 since: str | None = None, limit: int = DEFAULT_LIMIT) -> Any:
        return resource(services.tables, services.clock).page(cursor=cursor, since=since,
                                                               limit=limit)

    def read(id: str, services: ServicesDep, _: ManagerDep) -> Any:
        records = resource(services.tables, services.clock)
        return records.out(records.get(id))

    def patch(id: str, body: Any, services: ServicesDep, _: ManagerDep) -> Any:
        updated = resource(services.tables, services.clock).patch(id, body)
        if resource is Agents:  # presence, capacity or queues may let waiting work be offered
            Distributor(services).sweep()
        return updated

    def delete(id: str, services: ServicesDep, _: ManagerDep) -> Response:
        resource(services.tables, services.clock).delete(id)
        return Response(status_code=204)

    # FastAPI reads the body's model from the annotation, which differs per resource.
    create.__annotations__["body"] = resource.CREATE
    patch.__annotations__["body"] = resource.PATCH
    page_model = cast(Any, ListPage)[resource.OUT]
    routes: list[tuple[str, Any, str, int, Any, str]] = [
        (collection, create, "POST", 201, resource.CREATED, f"Create {a_kind}"),
        (collection, list_all, "GET", 200, page_model, f"List {resource.PATH}, newest first"),
        (item, read, "GET", 200, resource.OUT, f"Read {a_kind}"),
        (item, patch, "PATCH", 200, resource.OUT, f"Change some fields of {a_kind}"),
        (item, delete, "DELETE", 204, None, f"Delete {a_kind}"),
    ]
    for path, endpoint, method, status, model, summary in routes:
        router.add_api_route(path, endpoint, methods=[method], status_code=status,
                             response_model=model, summary=summary,
                             name=f"{endpoint.__name__}_{resource.PATH}")


for _resource in (Queues, Agents, Workstreams):
    _add_routes(_resource)


@router.post("/agents/{id}/key", response_model=AgentWithKey,
             summary="Rotate an agent's key: the new key is returned once, the old one revoked")
def rotate_agent_key(id: str, services: ServicesDep, _: ManagerDep,
                     body: KeyRotation | None = None) -> AgentWithKey:
    api_key = body.api_key if body is not None else None
    return Agents(services.tables, services.clock).rotate_key(id, api_key)
