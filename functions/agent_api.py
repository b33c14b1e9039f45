"""``/api/agent/...``: the agents' API (FastAPI through ASGI, agent key)."""

import azure.functions as func

from functions.asgi import handle

bp = func.Blueprint()


@bp.route(route="agent/{*path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
          auth_level=func.AuthLevel.ANONYMOUS)
async def agent_api(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req)
