"""``GET /api/health``: anonymous reachability of storage and queues."""

import azure.functions as func

from functions.http import json_response
from messenger_channel.health import run_checks
from messenger_channel.services import get_services

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    services = get_services()
    report = run_checks(
        {
            "tables": services.tables.check,
            "blobs": services.blobs.check,
            "queues": services.queue.check,
        }
    )
    return json_response(report.as_dict(), 200 if report.ok else 503)
