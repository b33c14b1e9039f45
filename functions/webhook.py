"""``/api/facebook/webhook/{account_id}``: Meta's verification (GET) and deliveries (POST).

A plain HTTP function, not behind the ASGI app: it is the hot path and must see raw bytes.
"""

import functools

import azure.functions as func

from messenger_channel.facebook.signature import HEADER
from messenger_channel.ingress.webhook import WebhookIngress, build_ingress
from messenger_channel.services import get_services

bp = func.Blueprint()


@functools.cache
def _ingress() -> WebhookIngress:
    return build_ingress(get_services())


@bp.route(route="facebook/webhook/{account_id}", methods=["GET", "POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
def facebook_webhook(req: func.HttpRequest) -> func.HttpResponse:
    account_id = req.route_params.get("account_id", "")
    if req.method == "GET":
        answer = _ingress().verify(account_id, req.params)
    else:
        answer = _ingress().receive(account_id, req.headers.get(HEADER), req.get_body())
    return func.HttpResponse(answer.body, status_code=answer.status, mimetype=answer.content_type,
                             charset="utf-8")
