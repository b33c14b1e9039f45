"""``/api/manage/queues``, ``/agents`` and ``/workstreams``: create, list, read, patch, delete.

The three collections have the same routes, so one function adds them for each collection;
the logic lives in ``messenger_channel.workforce``, what the API shows of it in
``workforce_models``. Bodies refuse unknown fields (422 naming them): a misspelt setting is
reported rather than silently left at its default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from fastapi import APIRouter, Response
from pydantic import BaseModel

from messenger_channel.api.auth import ManagerDep, ServicesDep
from messenger_channel.api.errors import documented
from messenger_channel.api.lists import DEFAULT_LIMIT, ListPage, paginate
from messenger_channel.api.workforce_models import (
    AgentOut,
    AgentPatch,
    AgentWithKey,
    KeyRotation,
    QueueOut,
    QueuePatch,
    RecordOut,
    WorkstreamOut,
    WorkstreamPatch,
    agent_with_key,
    shown,
)
from messenger_channel.conversations.distribution import Distributor
from messenger_channel.conversations.live_hints import agents_changed
from messenger_channel.workforce.agents import AgentCreate, Agents
from messenger_channel.workforce.canned_responses import forget_personal_responses
from messenger_channel.workforce.queue_management import Queues
from messenger_channel.workforce.queues import QueueCreate
from messenger_channel.workforce.resource import Resource
from messenger_channel.workforce.workstreams import WorkstreamCreate, Workstreams

router = APIRouter(prefix="/api/manage", tags=["workforce"])


@dataclass(frozen=True)
class Collection:
    """One collection of the API: the resource it manages, its URL segment, bodies, answers."""

    resource: type[Resource[Any]]
    path: str  # "queues"
    create_body: type[BaseModel]
    patch_body: type[BaseModel]
    out: type[RecordOut]
    created: type[BaseModel]  # what POST answers
    create: Callable[[Any, Any], BaseModel]  # (the resource, the POST body) -> that answer
    conflicts: Mapping[str, str]  # route ("create", "patch", "delete") -> its 409's codes


COLLECTIONS = (
    Collection(Queues, "queues", QueueCreate, QueuePatch, QueueOut, QueueOut,
               lambda queues, body: shown(QueueOut, queues.create(body)),
               {"create": "name_taken", "patch": "name_taken",
                "delete": "queue_in_use: a workstream or an agent names it"}),
    Collection(Agents, "agents", AgentCreate, AgentPatch, AgentOut, AgentWithKey,
               lambda agents, body: agent_with_key(agents.create(body)),
               {"create": "api_key_taken: another agent has that key"}),
    Collection(Workstreams, "workstreams", WorkstreamCreate, WorkstreamPatch, WorkstreamOut,
               WorkstreamOut, lambda workstreams, body: shown(WorkstreamOut,
                                                              workstreams.create(body)),
               {"create": "page_has_workstream", "patch": "page_has_workstream"}),
)


def _add_routes(collection: Collection) -> None:
    resource, kind = collection.resource, collection.resource.KIND
    a_kind = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    collection_path = f"/{collection.path}"
    item = f"{collection_path}/{{id}}"

    def create(body: Any, services: ServicesDep, _: ManagerDep) -> Any:
        return collection.create(resource.of(services), body)

    def list_all(services: ServicesDep, _: ManagerDep, cursor: str | None = None,
                 since: str | None = None, limit: int = DEFAULT_LIMIT) -> Any:
        # Newest activity first, as every list of the API.
        records = resource.of(services).all()
        page = paginate(records, changed_at=lambda record: record.updated_at,
                        cursor=cursor, since=since, limit=limit)
        return ListPage[Any](items=[shown(collection.out, record) for record in page.items],
                             next=page.next, since=page.since)

    def read(id: str, services: ServicesDep, _: ManagerDep) -> Any:
        return shown(collection.out, resource.of(services).get(id))

    def patch(id: str, body: Any, services: ServicesDep, _: ManagerDep) -> Any:
        updated = resource.of(services).patch(id, body)
        if resource is Agents:  # presence, capacity or queues may let waiting work be offered
            Distributor(services).sweep()
            agents_changed(services.live, services.clock)
        return shown(collection.out, updated)

    def delete(id: str, services: ServicesDep, _: ManagerDep) -> Response:
        resource.of(services).delete(id)
        if resource is Agents:  # their saved replies go with them; nobody else can use them
            forget_personal_responses(services.tables, id)
        return Response(status_code=204)

    # FastAPI reads the body's model from the annotation, which differs per resource.
    create.__annotations__["body"] = collection.create_body
    patch.__annotations__["body"] = collection.patch_body
    page_model = cast(Any, ListPage)[collection.out]
    routes: list[tuple[str, Any, str, int, Any, str]] = [
        (collection_path, create, "POST", 201, collection.created, f"Create {a_kind}"),
        (collection_path, list_all, "GET", 200, page_model,
         f"List {collection.path}, newest first"),
        (item, read, "GET", 200, collection.out, f"Read {a_kind}"),
        (item, patch, "PATCH", 200, collection.out, f"Change some fields of {a_kind}"),
        (item, delete, "DELETE", 204, None, f"Delete {a_kind}"),
    ]
    # Route names (and so operation ids): create_queue, list_queues, get_queue...
    names = {"create": f"create_{kind}", "list_all": f"list_{collection.path}",
             "read": f"get_{kind}", "patch": f"patch_{kind}", "delete": f"delete_{kind}"}
    for path, endpoint, method, status, model, summary in routes:
        conflict = collection.conflicts.get(endpoint.__name__)
        router.add_api_route(path, endpoint, methods=[method], status_code=status,
                             response_model=model, summary=summary,
                             name=names[endpoint.__name__],
                             responses=documented({409: conflict}) if conflict else None)


for _collection in COLLECTIONS:
    _add_routes(_collection)


@router.post("/agents/{id}/key", response_model=AgentWithKey,
             responses=documented({409: "api_key_taken: another agent has that key"}),
             summary="Rotate an agent's key: the new key is returned once, the old one revoked")
def rotate_agent_key(id: str, services: ServicesDep, _: ManagerDep,
                     body: KeyRotation | None = None) -> AgentWithKey:
    api_key = body.api_key if body is not None else None
    return agent_with_key(Agents(services.tables, services.clock).rotate_key(id, api_key))
