"""``/api/console/...``: the agent and management console, static files from ``console/``."""

import os

import azure.functions as func

from messenger_channel.console_files import content_security_policy, serve

bp = func.Blueprint()


@bp.route(route="console/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def console(req: func.HttpRequest) -> func.HttpResponse:
    path = req.route_params.get("path") or ""
    if not path and not req.url.split("?", 1)[0].endswith("/"):
        # Relative links in index.html need the trailing slash.
        return func.HttpResponse(status_code=308, headers={"Location": "/api/console/"})
    # Read alone: static files must not need the whole settings (nor fail with them).
    found = serve(path, csp=content_security_policy(os.environ.get("FACEBOOK_GRAPH_URL"),
                                                    os.environ.get("WEB_PUBSUB_ENDPOINT")))
    return func.HttpResponse(found.body, status_code=found.status, headers=found.headers)
