"""``/api/manage/...`` and ``/api/openapi.json``: the operators' API (FastAPI through ASGI)."""

import azure.functions as func

from functions.asgi import handle

bp = func.Blueprint()

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@bp.route(route="manage/{*path}", methods=METHODS, auth_level=func.AuthLevel.ANONYMOUS)
async def manage_api(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req)


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req)
