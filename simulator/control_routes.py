"""The control API under ``/_sim``: set the world up, break it, and read back what happened.

No authentication: the simulator binds to 127.0.0.1 and stands in for Facebook on a developer's
machine or in CI, never on a network.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from simulator.clock import isoformat
from simulator.context import Simulator, simulator
from simulator.control_models import (
    AppPut,
    ClockPut,
    ConfigPatch,
    FaultIn,
    PagePut,
    TokenPut,
    UserPut,
)
from simulator.models import (
    App,
    Fault,
    Page,
    RequestRecord,
    SenderAction,
    SentMessage,
    SimConfig,
    Token,
    Upload,
    User,
    WebhookDelivery,
)
from simulator.state import NotFound

router = APIRouter(prefix="/_sim")
Sim = Annotated[Simulator, Depends(simulator)]
# Graph ids are numeric strings; the simulator refuses others so that a typo shows up at once.
NumericId = Annotated[str, Path(pattern=r"^\d+$")]


@router.get("/health")
def health(sim: Sim) -> dict[str, Any]:
    s = sim.settings
    return {"status": "ok", "graph_version": s.graph_version, "app_id": s.app_id,
            "webhook_base_url": s.webhook_base_url, "now": sim.state.now_iso(),
            "clock_offset_seconds": sim.state.clock.offset_seconds}


@router.post("/reset", status_code=204)
def reset(sim: Sim) -> Response:
    sim.state.reset()
    return Response(status_code=204)


@router.get("/config")
def get_config(sim: Sim) -> SimConfig:
    return sim.state.config()


@router.put("/config")
def put_config(body: ConfigPatch, sim: Sim) -> SimConfig:
    return sim.state.update_config(body.model_dump(exclude_none=True))


@router.get("/clock")
def get_clock(sim: Sim) -> dict[str, Any]:
    return _clock(sim)


@router.put("/clock")
def put_clock(body: ClockPut, sim: Sim) -> dict[str, Any]:
    sim.state.clock.set_offset(body.offset_seconds)
    return _clock(sim)


def _clock(sim: Sim) -> dict[str, Any]:
    clock = sim.state.clock
    now = clock.now()
    return {"offset_seconds": clock.offset_seconds, "now": isoformat(now),
            "now_ms": int(now.timestamp() * 1000)}


@router.get("/apps")
def list_apps(sim: Sim) -> list[App]:
    return sim.state.apps()


@router.put("/apps/{app_id}")
def put_app(app_id: NumericId, body: AppPut, sim: Sim) -> App:
    existing = sim.state.app(app_id)
    name = body.name or (existing.name if existing else f"App {app_id}")
    return sim.state.put_app(App(app_id=app_id, app_secret=body.app_secret, name=name,
                                 webhook_url=body.webhook_url))


@router.get("/pages")
def list_pages(sim: Sim) -> list[Page]:
    return sim.state.pages()


@router.put("/pages/{page_id}")
def put_page(page_id: NumericId, body: PagePut, sim: Sim) -> dict[str, Any]:
    page, token = sim.state.put_page(page_id, body)
    return {**page.model_dump(), "access_token": token.token if token else None}


@router.get("/tokens/{token}")
def get_token(token: str, sim: Sim) -> Token:
    found = sim.state.token(token)
    if found is None:
        raise NotFound("unknown token")
    return found


@router.put("/tokens/{token}")
def put_token(token: str, body: TokenPut, sim: Sim) -> Token:
    return sim.state.put_token(token, body)


@router.get("/users")
def list_users(sim: Sim, page_id: str | None = None) -> list[User]:
    return sim.state.users(page_id)


@router.put("/users/{psid}")
def put_user(psid: NumericId, body: UserPut, sim: Sim) -> User:
    return sim.state.put_user(psid, body)


@router.get("/subscriptions")
def list_subscriptions(sim: Sim) -> dict[str, dict[str, list[str]]]:
    return sim.state.all_subscriptions()


@router.delete("/subscriptions/{page_id}", status_code=204)
def drop_subscriptions(page_id: str, sim: Sim) -> Response:
    """What Meta does after a webhook failed for an hour: every app unsubscribed from the page."""
    sim.state.unsubscribe(page_id)
    return Response(status_code=204)


@router.get("/faults")
def list_faults(sim: Sim) -> list[Fault]:
    return sim.state.faults()


@router.post("/faults", status_code=201)
def add_fault(body: FaultIn, sim: Sim) -> Fault:
    return sim.state.add_fault(body)


@router.delete("/faults", status_code=204)
def clear_faults(sim: Sim) -> Response:
    sim.state.clear_faults()
    return Response(status_code=204)


@router.delete("/faults/{fault_id}", status_code=204)
def remove_fault(fault_id: str, sim: Sim) -> Response:
    sim.state.remove_fault(fault_id)
    return Response(status_code=204)


@router.get("/requests")
def list_requests(
    sim: Sim,
    path_contains: str | None = None,
    page_id: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> list[RequestRecord]:
    return sim.state.requests(path_contains, page_id, limit)


@router.delete("/requests", status_code=204)
def clear_requests(sim: Sim) -> Response:
    sim.state.clear_requests()
    return Response(status_code=204)


@router.get("/sent")
def list_sent(sim: Sim, page_id: str | None = None, psid: str | None = None) -> list[SentMessage]:
    return sim.state.sent(page_id, psid)


@router.get("/sender-actions")
def list_sender_actions(sim: Sim, page_id: str | None = None,
                        psid: str | None = None) -> list[SenderAction]:
    return sim.state.sender_actions(page_id, psid)


@router.get("/uploads")
def list_uploads(sim: Sim, page_id: str | None = None) -> list[Upload]:
    return sim.state.uploads(page_id)


@router.get("/uploads/{attachment_id}/content")
def upload_content(attachment_id: str, sim: Sim) -> Response:
    found = sim.state.upload(attachment_id)
    if found is None:
        raise NotFound(f"unknown attachment {attachment_id}")
    upload, content = found
    return Response(content, media_type=upload.content_type)


@router.get("/webhook-deliveries")
def list_deliveries(sim: Sim, page_id: str | None = None, kind: str | None = None,
                    app_id: str | None = None) -> list[WebhookDelivery]:
    return sim.state.deliveries(page_id, kind, app_id)


@router.delete("/webhook-deliveries", status_code=204)
def clear_deliveries(sim: Sim) -> Response:
    sim.state.clear_deliveries()
    return Response(status_code=204)
