"""Facebook toward the product's webhook: a customer writes, or a test posts any payload.

Also hosts the files that customers' attachment URLs point at.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from simulator import ids, thread_delivery, webhook_payloads
from simulator.context import Simulator, simulator
from simulator.control_models import SayIn, WebhookIn
from simulator.files import DEFAULT_FOR_TYPE, hosted_files
from simulator.models import WebhookDelivery
from simulator.state import NotFound

router = APIRouter(prefix="/_sim")
Sim = Annotated[Simulator, Depends(simulator)]


@router.post("/say")
async def say(body: SayIn, request: Request, sim: Sim) -> dict[str, Any]:
    """A customer sends the page a message; Facebook posts it, signed, to the product."""
    state = sim.state
    page = state.page(body.page_id)
    if page is None:
        raise NotFound(f"unknown page {body.page_id}: PUT /_sim/pages/{body.page_id} first")
    state.remember_account(body.page_id, body.account_id)
    timestamp = body.timestamp if body.timestamp is not None else state.clock.now_ms()
    mid = body.mid or ids.message_id()
    attachment = None
    if body.attachment is not None:
        url = body.attachment.url or _file_url(
            request, body.attachment.name or DEFAULT_FOR_TYPE[body.attachment.type])
        attachment = (body.attachment.type, url)
    event = webhook_payloads.customer_message(
        page_id=body.page_id, psid=body.psid, timestamp=timestamp, mid=mid, text=body.text,
        quick_reply_payload=body.quick_reply_payload, attachment=attachment,
        reply_to_mid=body.reply_to_mid,
    )
    payload = webhook_payloads.page_payload(body.page_id, event, state.clock.now_ms())
    # The customer wrote on Facebook whatever the webhook answers: the window opens regardless.
    user = state.customer_wrote(body.page_id, body.psid, timestamp)
    if state.roles(body.page_id) is not None and body.signature == "valid":
        # App roles: the thread's owner gets it as messaging, every other app as standby.
        ours = await thread_delivery.post_event(sim.poster, state, body.page_id, body.psid,
                                                "message", event)
        assert ours is not None  # the page's own app always gets a copy
        return {"mid": mid, "timestamp": timestamp, "payload": json.loads(ours.body),
                "user": user.model_dump(), **_delivery_fields(ours)}
    delivery = await sim.poster.post_payload("message", body.account_id, body.page_id, payload,
                                             signature_mode=body.signature)
    return {"mid": mid, "timestamp": timestamp, "payload": payload, "user": user.model_dump(),
            **_delivery_fields(delivery)}


@router.post("/webhook")
async def post_webhook(body: WebhookIn, sim: Sim) -> dict[str, Any]:
    """Post any payload (postback, reaction, edit, referral...) or raw body, signed as asked."""
    state = sim.state
    page_id: str | None = None
    if body.payload is not None:
        entries = body.payload.get("entry")
        first = entries[0] if isinstance(entries, list) and entries else None
        page_id = str(first.get("id")) if isinstance(first, dict) and "id" in first else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and "id" in entry:
                state.remember_account(str(entry["id"]), body.account_id)
        for event_page, psid, timestamp in webhook_payloads.customer_activity(body.payload):
            if state.page(event_page) is not None:
                state.customer_wrote(event_page, psid, timestamp)
        raw = webhook_payloads.serialise(body.payload)
    else:
        raw = (body.raw or "").encode()
    delivery = await sim.poster.post_body("custom", body.account_id, page_id, raw,
                                          app_id=body.app_id, signature_mode=body.signature)
    return _delivery_fields(delivery)


def _delivery_fields(delivery: WebhookDelivery) -> dict[str, Any]:
    return {"url": delivery.url, "status": delivery.status, "ok": delivery.ok,
            "error": delivery.error, "body": delivery.body, "signature": delivery.signature,
            "response_body": delivery.response_body, "elapsed_ms": delivery.elapsed_ms}


def _file_url(request: Request, name: str) -> str:
    if name not in hosted_files():
        raise NotFound(f"no hosted file {name}; GET /_sim/files lists them")
    # The address the caller reached the simulator at: the product reaches it there too.
    return f"{request.base_url}_sim/files/{name}"


@router.get("/files")
def list_files(request: Request) -> list[dict[str, Any]]:
    return [{"name": f.name, "content_type": f.content_type, "size": len(f.content),
             "url": f"{request.base_url}_sim/files/{f.name}"} for f in hosted_files().values()]


@router.get("/files/{name}")
def get_file(name: str) -> Response:
    found = hosted_files().get(name)
    if found is None:
        raise NotFound(f"no hosted file {name}")
    return Response(found.content, media_type=found.content_type)
