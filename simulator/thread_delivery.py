"""Webhook posts on a page with app roles (the handover protocol): each event goes to every app
with a role, under ``messaging`` for the app that controls the thread and under ``standby`` for
the others, each post signed with its app's secret; ``messaging_handovers`` events go to the
app they concern.

The page's own app (the product's) is reached at its account's webhook URL; another app at its
``webhook_url`` (absent: the post is only recorded, with the reason). While
``require_subscription`` is on, the product's app gets ``standby`` entries only if it
subscribed to ``standby``, handover events only with ``messaging_handovers``, and echoes,
deliveries and reads only with their fields, as on Facebook; customer messages under
``messaging`` are posted as on a single-app page. Other apps' subscriptions are not checked:
they stand in for a vendor's webhook that tests read back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator import webhook_payloads
from simulator.handover import Notice
from simulator.models import SentMessage, WebhookDelivery
from simulator.state import SimulatorState

if TYPE_CHECKING:
    from simulator.webhook_poster import WebhookPoster

# The subscription field under which Facebook sends each kind of post.
FIELD_FOR_KIND = {"echo": "message_echoes", "delivery": "message_deliveries",
                  "read": "message_reads", "handover": "messaging_handovers"}


def role_apps(state: SimulatorState, page_id: str) -> list[str]:
    """The apps a page's events go to: those with a role, and the page's own app."""
    roles = state.roles(page_id)
    page = state.page(page_id)
    apps = [] if roles is None else [roles.primary_receiver_app_id,
                                     *roles.secondary_receiver_app_ids]
    return list(dict.fromkeys(a for a in [*apps, page.app_id if page else None] if a))


async def post_event(poster: WebhookPoster, state: SimulatorState, page_id: str, psid: str,
                     kind: str, event: dict[str, Any]) -> WebhookDelivery | None:
    """``event`` (of the customer ``psid``) to every app; the delivery to the page's own app."""
    roles = state.roles(page_id)
    owner = state.thread_owner(page_id, psid) or (
        None if roles is None else roles.primary_receiver_app_id)
    ours = None
    for app_id in role_apps(state, page_id):
        source = "messaging" if app_id == owner else "standby"
        delivery = await _post(poster, state, app_id, page_id, kind, source, event)
        if _is_page_app(state, page_id, app_id):
            ours = delivery
    return ours


async def post_notices(poster: WebhookPoster, state: SimulatorState,
                       notices: list[Notice]) -> list[WebhookDelivery]:
    now = state.clock.now_ms()
    return [await _post(poster, state, notice.app_id, notice.page_id, "handover", "messaging",
                        notice.event(now)) for notice in notices]


async def send_followups(poster: WebhookPoster, state: SimulatorState, sent: SentMessage,
                         attachment_url: str | None) -> None:
    """The echo, delivery and read of a send, as configured, to every app of the page."""
    for kind in state.config().followups():
        event = webhook_payloads.followup_event(kind, sent, attachment_url, state.clock.now_ms())
        await post_event(poster, state, sent.page_id, sent.psid, kind, event)


def _is_page_app(state: SimulatorState, page_id: str, app_id: str) -> bool:
    page = state.page(page_id)
    return page is not None and page.app_id == app_id


async def _post(poster: WebhookPoster, state: SimulatorState, app_id: str, page_id: str,
                kind: str, source: str, event: dict[str, Any]) -> WebhookDelivery:
    payload = {"object": "page", "entry": [{"id": page_id, "time": state.clock.now_ms(),
                                            source: [event]}]}
    body = webhook_payloads.serialise(payload)
    page = state.page(page_id)
    account_id = page.account_id if page else None
    reason = None
    url = None
    if _is_page_app(state, page_id, app_id):
        field = "standby" if source == "standby" else FIELD_FOR_KIND.get(kind)
        subscribed = state.subscriptions(page_id).get(app_id, [])
        if account_id is None:
            reason = (f"no account known for page {page_id}: `say` once, or PUT "
                      f"/_sim/pages/{page_id} with account_id")
        elif (state.config().require_subscription and field is not None
              and field not in subscribed):
            reason = f"app {app_id} is not subscribed to {field} on page {page_id}"
    else:
        app = state.app(app_id)
        url = None if app is None else app.webhook_url
        account_id = None
        if url is None:
            reason = f"app {app_id} has no webhook_url (PUT /_sim/apps/{app_id})"
    if reason is not None:
        delivery = WebhookDelivery(
            id=state.next_record_id(), time=state.now_iso(), kind=kind, account_id=account_id,
            page_id=page_id, url=None, signature=None, body=body.decode(),
            error=f"not sent: {reason}", app_id=app_id, source=source)
        state.record_delivery(delivery)
        return delivery
    return await poster.post_body(kind, account_id or "", page_id, body, app_id=app_id, url=url,
                                  source=source)
