"""``/api/supervisor/...``: the supervisors' API (FastAPI through ASGI, supervisor key)."""

import azure.functions as func

from functions.asgi import handle

bp = func.Blueprint()


@bp.route(route="supervisor/{*path}", methods=["GET", "POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
async def supervisor_api(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req)
