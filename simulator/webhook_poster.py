"""Posting to the product's webhook the way Facebook does, and remembering every attempt.

Failures (refused connection, timeout, non-2xx) are recorded in the delivery log, never raised:
Facebook does not tell the sender of a message that a webhook was down either.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx

from simulator import thread_delivery, webhook_payloads
from simulator.control_models import SignatureMode
from simulator.models import SentMessage, WebhookDelivery
from simulator.settings import SimulatorSettings
from simulator.state import SimulatorState

_MAX_RESPONSE_KEPT = 2000
# The subscription field under which Facebook sends each automatic event.
_FIELD_FOR_KIND = {"echo": "message_echoes", "delivery": "message_deliveries",
                   "read": "message_reads"}


class WebhookPoster:
    def __init__(self, settings: SimulatorSettings, state: SimulatorState) -> None:
        self._settings = settings
        self._state = state

    def url_for(self, account_id: str) -> str:
        return f"{self._settings.webhook_base_url}/{account_id}"

    def secret_for(self, page_id: str | None, app_id: str | None = None) -> str:
        """The signing secret: the given app's, else the page's app's, else the default app's."""
        page = self._state.page(page_id) if page_id else None
        app = self._state.app(app_id or (page.app_id if page else self._settings.app_id))
        return app.app_secret if app else self._settings.app_secret

    async def post_payload(
        self,
        kind: str,
        account_id: str,
        page_id: str | None,
        payload: dict[str, Any],
        *,
        app_id: str | None = None,
        signature_mode: SignatureMode = "valid",
    ) -> WebhookDelivery:
        body = webhook_payloads.serialise(payload)
        return await self.post_body(kind, account_id, page_id, body, app_id=app_id,
                                    signature_mode=signature_mode)

    async def post_body(
        self,
        kind: str,
        account_id: str,
        page_id: str | None,
        body: bytes,
        *,
        app_id: str | None = None,
        signature_mode: SignatureMode = "valid",
        url: str | None = None,
        source: str | None = None,
    ) -> WebhookDelivery:
        """Post ``body``, signed with ``app_id``'s secret (else the page's app's), to the
        account's webhook or to ``url`` (another app's webhook, on a page with app roles)."""
        secret = self.secret_for(page_id, app_id)
        header: str | None = None
        if signature_mode == "valid":
            header = webhook_payloads.signature(body, secret)
        elif signature_mode == "wrong":
            # Well-formed but made with another key: what a forged request looks like.
            header = "sha256=" + hmac.new(b"not-the-app-secret", body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json"}
        if header is not None:
            headers["X-Hub-Signature-256"] = header
        url = url or self.url_for(account_id)
        delivery = WebhookDelivery(
            id=self._state.next_record_id(), time=self._state.now_iso(), kind=kind,
            account_id=account_id or None, page_id=page_id, url=url, signature=header,
            body=body.decode("utf-8", errors="replace"), app_id=app_id, source=source,
        )
        started = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=self._settings.webhook_timeout_seconds) as client:
                answer = await client.post(url, content=body, headers=headers)
            delivery.status = answer.status_code
            delivery.response_body = answer.text[:_MAX_RESPONSE_KEPT]
        except httpx.HTTPError as error:
            delivery.error = f"{type(error).__name__}: {error}"
        delivery.elapsed_ms = int((time.monotonic() - started) * 1000)
        self._state.record_delivery(delivery)
        return delivery

    async def send_followups(self, sent: SentMessage, attachment_url: str | None) -> None:
        """After a successful send: the echo, the delivery and the read, as configured."""
        if self._state.roles(sent.page_id) is not None:
            await thread_delivery.send_followups(self, self._state, sent, attachment_url)
            return
        config = self._state.config()
        for kind in config.followups():
            now = self._state.clock.now_ms()
            event = webhook_payloads.followup_event(kind, sent, attachment_url, now)
            payload = webhook_payloads.page_payload(sent.page_id, event, now)
            try:
                account_id = self._account_for(sent.page_id, kind, config.require_subscription)
            except _NotSent as reason:
                self._record_unsent(kind, sent.page_id, payload, str(reason))
                continue
            await self.post_payload(kind, account_id, sent.page_id, payload)

    def _account_for(self, page_id: str, kind: str, require_subscription: bool) -> str:
        page = self._state.page(page_id)
        if page is None or page.account_id is None:
            raise _NotSent(f"no account known for page {page_id}: `say` once, or "
                           "PUT /_sim/pages/{page_id} with account_id")
        field = _FIELD_FOR_KIND[kind]
        subscribed = self._state.subscriptions(page_id).get(page.app_id, [])
        if require_subscription and field not in subscribed:
            raise _NotSent(f"app {page.app_id} is not subscribed to {field} on page {page_id}")
        return page.account_id

    def _record_unsent(self, kind: str, page_id: str, payload: dict[str, Any],
                       reason: str) -> None:
        page = self._state.page(page_id)
        self._state.record_delivery(WebhookDelivery(
            id=self._state.next_record_id(), time=self._state.now_iso(), kind=kind,
            account_id=page.account_id if page else None, page_id=page_id, url=None,
            signature=None, body=webhook_payloads.serialise(payload).decode(),
            error=f"not sent: {reason}",
        ))


class _NotSent(Exception):
    """Why an automatic event was not posted (recorded in the delivery log instead)."""
