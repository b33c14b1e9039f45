"""The one ASGI app (FastAPI) behind the management and agent Blueprints."""

from __future__ import annotations

import azure.functions as func

from functions.http import json_response
from messenger_channel.api.app import create_api

# JSON bodies of the management and agent routes are small; uploads have their own limit.
MAX_JSON_BODY_BYTES = 1024 * 1024

_middleware = func.AsgiMiddleware(create_api())


async def handle(
    req: func.HttpRequest, max_body_bytes: int = MAX_JSON_BODY_BYTES
) -> func.HttpResponse:
    if len(req.get_body()) > max_body_bytes:
        return json_response(
            {"error": "body_too_large", "message": f"the body exceeds {max_body_bytes} bytes"}, 413
        )
    response: func.HttpResponse = await _middleware.handle_async(req)
    return response
