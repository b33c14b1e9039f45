"""The OpenAPI document as integrators generate clients from it (issue 19.2): stable operation
ids, one name per schema, the product's error shape, the bearer scheme, the statuses each route
answers, and the HTTP functions outside the ASGI app."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, routing

from messenger_channel.api.app import create_api

FAMILIES = ("manage", "agent", "supervisor", "bot")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_api().openapi()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield path, method, operation


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_operation_ids_are_the_family_and_the_route_name(document: dict[str, Any]) -> None:
    ids = {(path, method): op["operationId"] for path, method, op in _operations(document)}
    assert len(set(ids.values())) == len(ids)
    assert ids["/api/manage/accounts", "post"] == "manage_create_account"
    assert ids["/api/agent/conversations/{conversation_id}/accept", "post"] == (
        "agent_accept_conversation")
    assert ids["/api/supervisor/queues", "get"] == "supervisor_live_queues"
    assert ids["/api/agent/queues", "get"] == "agent_list_queues"
    assert ids["/api/manage/queues/{id}", "get"] == "manage_get_queue"
    assert ids["/api/bot/conversations/{conversation_id}/messages", "post"] == "bot_message"
    for (path, _), name in ids.items():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", name), name
        family = path.split("/")[2]
        if family in FAMILIES:
            assert name.startswith(f"{family}_")


def test_two_routes_of_one_name_in_a_family_fail_at_start_up() -> None:
    from messenger_channel.api.openapi import check_operation_ids, operation_id

    first, second = APIRouter(prefix="/api/agent"), APIRouter(prefix="/api/agent")

    @first.get("/a")
    def listing() -> None: ...

    @second.get("/b", name="listing")
    def other() -> None: ...

    app = FastAPI(generate_unique_id_function=operation_id)
    app.include_router(first)
    app.include_router(second)
    with pytest.raises(ValueError, match="agent_listing"):
        check_operation_ids(app)


def test_every_schema_has_one_plain_name_and_every_reference_resolves(
        document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in schemas:
        # pydantic's "-Input"/"-Output" splits and module-qualified names on a clash.
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) and "__" not in name, name
    for ref in set(_refs(document)):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    assert {"Condition", "Rule", "RuleSet", "QueueOut", "QueueHealthOut", "CannedQuickReply",
            "QuickReply"} <= set(schemas)


def test_errors_are_described_in_the_products_shape(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in str(document)
    body = document["components"]["schemas"]["ValidationErrorBody"]
    assert set(body["required"]) == {"error", "message", "fields"}
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            json = response.get("content", {}).get("application/json")
            if status.startswith(("4", "5")) and json is not None and path != "/api/health":
                expected = "ValidationErrorBody" if status == "422" else "ErrorBody"
                assert json["schema"] == {"$ref": f"#/components/schemas/{expected}"}, (
                    path, method, status)


def test_the_keys_are_a_bearer_scheme_on_every_authenticated_route(
        document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, method, operation in _operations(document):
        if path.split("/")[2] in FAMILIES:
            assert operation["security"] == [{"bearer": []}], (path, method)
            assert {"401", "403"} <= set(operation["responses"]), (path, method)
        else:
            assert "security" not in operation and "401" not in operation["responses"]


def test_statuses_follow_each_routes_declaration(document: dict[str, Any]) -> None:
    def statuses(path: str, method: str) -> set[str]:
        return set(document["paths"][path][method]["responses"])

    # No id in the path, no body: neither 404 nor 422.
    assert statuses("/api/agent/me", "get") == {"200", "401", "403"}
    # An id in the path: 404; its own conflicts, declared by the route.
    assert statuses("/api/agent/conversations/{conversation_id}/accept", "post") == {
        "200", "401", "403", "404", "409"}
    assert "already_assigned" in document["paths"][
        "/api/agent/conversations/{conversation_id}/accept"]["post"]["responses"]["409"][
        "description"]
    # A JSON body: 400 (not JSON), 413 and 422; a cursor: 400 too.
    assert {"400", "413", "422"} <= statuses("/api/manage/accounts", "post")
    assert "404" not in statuses("/api/manage/accounts", "post")
    assert "400" in statuses("/api/manage/accounts", "get")


def _module_functions(module: Any) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(inspect.getsource(module))
    return {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def _api_error_statuses(function: ast.FunctionDef, functions: dict[str, ast.FunctionDef],
                        seen: set[str]) -> set[int]:
    """``ApiError(<status>, ...)`` in the function and in the same module's functions it calls."""
    found: set[int] = set()
    seen.add(function.name)
    for node in ast.walk(function):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        name = node.func.id
        if name == "ApiError" and node.args and isinstance(node.args[0], ast.Constant):
            status = node.args[0].value
            assert isinstance(status, int)
            found.add(status)
        elif name in functions and name not in seen:
            found |= _api_error_statuses(functions[name], functions, seen)
    return found


def test_every_status_a_route_raises_itself_is_documented(document: dict[str, Any]) -> None:
    app = create_api()
    checked = 0
    for context in routing.iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, routing.APIRoute) or not context.include_in_schema:
            continue
        module = inspect.getmodule(route.endpoint)
        functions = _module_functions(module)
        endpoint = functions.get(route.endpoint.__name__)
        if endpoint is None:  # made by a factory (manage_workforce's collections)
            continue
        raised = _api_error_statuses(endpoint, functions, set())
        for method in context.methods or ():
            documented = set(document["paths"][context.path_format][method.lower()]["responses"])
            assert {str(status) for status in raised} <= documented, (
                context.path_format, method, raised)
        checked += 1
    assert checked > 60


def test_the_functions_outside_the_api_are_described(document: dict[str, Any]) -> None:
    health = document["paths"]["/api/health"]["get"]
    assert set(health["responses"]) == {"200", "503"}
    webhook = document["paths"]["/api/facebook/webhook/{account_id}"]
    assert [p["name"] for p in webhook["get"]["parameters"]] == [
        "hub.mode", "hub.verify_token", "hub.challenge"]
    signature = webhook["post"]["parameters"][0]
    assert (signature["name"], signature["in"], signature["required"]) == (
        "X-Hub-Signature-256", "header", True)
    assert {"200", "400", "403", "404", "413", "503"} == set(webhook["post"]["responses"])
    assert "/api/facebook/data-deletion/{account_id}" in document["paths"]

