"""The document at ``/api/openapi.json``: FastAPI's, completed for integrators who generate a
client from it.

FastAPI describes bodies and answers; this module adds what it cannot see:

- every error in the product's shape (``ErrorBody``; ``ValidationErrorBody`` for 422), never
  FastAPI's ``HTTPValidationError``, which the product does not answer;
- the errors a route answers for what it is, derived from its declaration: 401 and 403 from
  its key's dependency (``auth``), 404 for an id in its path, 400 for a JSON body (not JSON)
  or a cursor (not one issued), 413 for a body over the limit, 422 for a body, a query or a
  path parameter with a pattern.
  What only a route's work knows (409 and its codes, 503) the route declares itself
  (``errors.documented``);
- the HTTP functions outside the ASGI app: health, Meta's webhook and data deletion callback
  (``openapi_functions``);
- stable operation ids: the API family and the route's name (``manage_create_account``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from messenger_channel.api.auth import (
    identify,
    require_agent,
    require_bot,
    require_manager,
    require_supervisor,
)
from messenger_channel.api.errors import ErrorBody, ValidationErrorBody
from messenger_channel.api.openapi_functions import FUNCTION_PATHS, FUNCTION_SCHEMAS

REF = "#/components/schemas/{model}"

_WHO_ELSE: dict[Callable[..., Any], str] = {
    require_manager: "a key other than the management key",
    require_agent: "a key other than an agent's",
    require_supervisor: "a key other than a supervisor's",
    require_bot: "a key other than a bot's",
}

_CURSORS = {"cursor", "since"}


def operation_id(route: routing.APIRoute) -> str:
    """``manage_create_account``: the family (``/api/<family>/...``) and the route's name,
    the family once (``bot_message``, not ``bot_bot_message``)."""
    family = route.path_format.split("/")[2]
    return route.name if route.name.startswith(f"{family}_") else f"{family}_{route.name}"


def check_operation_ids(app: FastAPI) -> None:
    """Fails at start-up, naming them, on two operations with one id (FastAPI only warns)."""
    counts = Counter(context.unique_id for context in _api_routes(app)
                     for _ in context.methods or ())
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise ValueError(f"operation ids used more than once: {', '.join(repeated)}; "
                         "give the routes distinct names (name=...)")


def install_openapi(app: FastAPI) -> None:
    """Serves the completed document (built once, on first request) at ``app.openapi_url``."""
    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def openapi_document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=app.routes, separate_input_output_schemas=False)
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(_schemas_of([ErrorBody, ValidationErrorBody]))
    schemas.update(FUNCTION_SCHEMAS)
    for route in _api_routes(app):
        for method in route.methods or ():
            operation = document["paths"][str(route.path_format)][method.lower()]
            _complete_errors(operation, _derived_errors(route, operation))
    document["paths"].update(FUNCTION_PATHS)
    return document


def _schemas_of(models: list[type[ErrorBody]]) -> dict[str, Any]:
    _, top = models_json_schema([(model, "validation") for model in models], ref_template=REF)
    defs: dict[str, Any] = top.get("$defs", {})
    return defs


def _api_routes(app: FastAPI) -> Iterator[routing.RouteContext]:
    for context in routing.iter_route_contexts(app.routes):
        if isinstance(context.original_route, routing.APIRoute) and context.include_in_schema:
            yield context


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _derived_errors(route: routing.RouteContext, operation: dict[str, Any]) -> dict[int, str]:
    calls = set(_calls(route.dependant))
    errors: dict[int, str] = {}
    if identify in calls:
        errors[401] = "no key, or one that is not valid"
    others = [words for call, words in _WHO_ELSE.items() if call in calls]
    if others:
        errors[403] = others[0]
    parameters = operation.get("parameters", [])
    if any(p["in"] == "path" for p in parameters):
        errors[404] = "no such resource, or not the caller's to see"
    body = operation.get("requestBody", {}).get("content", {})
    queries = {p["name"] for p in parameters if p["in"] == "query"}
    bad_request = (["a body that is not JSON"] if "application/json" in body else []) + (
        [f"a {name} this API did not issue" for name in sorted(queries & _CURSORS)])
    if bad_request:
        errors[400] = "; ".join(bad_request)
    if body:
        errors[413] = "a body over the limit"
    # A path parameter with a pattern (digits) is validated like a body.
    checked_path = any(p["in"] == "path" and set(p["schema"]) - {"type", "title"}
                       for p in parameters)
    if body or queries or checked_path:
        errors[422] = "invalid fields, each named"
    return errors


def _complete_errors(operation: dict[str, Any], derived: dict[int, str]) -> None:
    responses: dict[str, Any] = operation["responses"]
    if "HTTPValidationError" in str(responses.get("422", "")):
        del responses["422"]  # FastAPI's guess; the product answers ValidationErrorBody
    for status, description in derived.items():
        declared = responses.setdefault(str(status), {"description": description})
        if description not in declared["description"]:
            declared["description"] = f"{description}; {declared['description']}"
    for code, response in responses.items():
        if code.startswith(("4", "5")):
            model = ValidationErrorBody if code == "422" else ErrorBody
            response["content"] = {
                "application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}
