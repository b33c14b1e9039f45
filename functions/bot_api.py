"""``/api/bot/...``: a workstream's bot's API (FastAPI through ASGI, the bot's key)."""

import azure.functions as func

from functions.asgi import handle

bp = func.Blueprint()


@bp.route(route="bot/{*path}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def bot_api(req: func.HttpRequest) -> func.HttpResponse:
    return await handle(req)
