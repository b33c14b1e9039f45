"""The OpenAPI description of the HTTP functions that are not FastAPI routes (``functions/
health.py``, ``webhook.py``, ``privacy.py``): they answer before or beside the ASGI app, so
``openapi.py`` merges these path items into the served document.

The models below only describe those functions' answers; the e2e test of the generated client
parses the real answers with them (``tests/e2e/test_generated_client.py``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from messenger_channel.api.errors import ErrorBody
from messenger_channel.facebook.signature import HEADER

_REF = "#/components/schemas/{model}"


class HealthCheck(BaseModel):
    status: Literal["ok", "failing"]
    elapsed_ms: int | None = Field(None, description="how long the check took, when ok")
    error: str | None = Field(None, description="the failure's kind, when failing")


class HealthReport(BaseModel):
    status: Literal["ok", "failing"]
    checks: dict[str, HealthCheck] = Field(description="tables, blobs and queues")


class WebhookAccepted(BaseModel):
    status: Literal["EVENT_RECEIVED"]


class MessengerWebhook(BaseModel):
    """Meta's delivery: ``{"object": "page", "entry": [...]}`` (Messenger Platform reference,
    webhook events). A signed JSON body of another shape is answered 200 and quarantined."""

    object: str
    entry: list[dict[str, Any]]


class DataDeletionAnswer(BaseModel):
    url: str = Field(description="the status page of the deletion")
    confirmation_code: str


class DataDeletionForm(BaseModel):
    signed_request: str = Field(description="Meta's signed request: base64url signature, '.', "
                                            "base64url JSON payload")


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ErrorBody, description)


def _text(media_type: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


def _path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, description: str, *, required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": {"type": "string"},
            "description": description}


FUNCTION_PATHS: dict[str, dict[str, Any]] = {
    "/api/health": {"get": {
        "tags": ["health"], "operationId": "health", "summary": "Health",
        "description": "Anonymous: whether storage and the queues answer.",
        "responses": {"200": _json(HealthReport, "every check is ok"),
                      "503": _json(HealthReport, "a check fails")},
    }},
    "/api/facebook/webhook/{account_id}": {
        "parameters": [_path_parameter("account_id")],
        "get": {
            "tags": ["facebook"], "operationId": "facebook_verify_webhook",
            "summary": "Meta's webhook verification",
            "parameters": [
                _query("hub.mode", "subscribe"),
                _query("hub.verify_token", "the account's verify token"),
                _query("hub.challenge", "answered back as the body"),
            ],
            "responses": {"200": _text("text/plain", "the challenge"),
                          "403": _text("text/plain", "not the account's verify token")},
        },
        "post": {
            "tags": ["facebook"], "operationId": "facebook_receive_webhook",
            "summary": "Meta's webhook deliveries",
            "description": f"Checked in this order: the account, the body's size, the "
                           f"signature ({HEADER}), JSON. 200 once every event is durably "
                           f"enqueued.",
            "parameters": [{
                "name": HEADER, "in": "header", "required": True,
                "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
                "description": "sha256=<hex HMAC-SHA256 of the raw body with the account's "
                               "app secret>",
            }],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref(MessengerWebhook)}}},
            "responses": {
                "200": _json(WebhookAccepted, "every event enqueued (or the body quarantined)"),
                "400": _error("signed, but not JSON"),
                "403": _error("the signature is missing or wrong; nothing enqueued"),
                "404": _error("no such account"),
                "413": _error("the body is over WEBHOOK_MAX_BODY_BYTES"),
                "503": _error("the events could not be stored; Meta retries"),
            },
        },
    },
    "/api/facebook/data-deletion/{account_id}": {"post": {
        "tags": ["facebook"], "operationId": "facebook_data_deletion",
        "summary": "Meta's data deletion callback",
        "parameters": [_path_parameter("account_id")],
        "requestBody": {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": _ref(DataDeletionForm)}}},
        "responses": {
            "200": _json(DataDeletionAnswer, "an erasure started for every matching customer"),
            "400": _error("no signed_request field"),
            "403": _error("the signed request does not verify; nothing is erased"),
            "404": _error("no such account"),
            "503": _error("Graph or the secret store failed; Meta retries"),
        },
    }},
    "/api/facebook/data-deletion/{account_id}/{code}": {"get": {
        "tags": ["facebook"], "operationId": "facebook_data_deletion_status",
        "summary": "The status page of a data deletion",
        "parameters": [_path_parameter("account_id"), _path_parameter("code")],
        "responses": {"200": _text("text/html", "the code, when it came, in progress or done"),
                      "404": _text("text/html", "no such request")},
    }},
}

FUNCTION_SCHEMAS: dict[str, Any] = models_json_schema(
    [(model, "validation") for model in (HealthReport, WebhookAccepted, MessengerWebhook,
                                         DataDeletionAnswer, DataDeletionForm)],
    ref_template=_REF)[1]["$defs"]
