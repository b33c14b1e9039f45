"""The webhook Facebook calls: verification (GET) and event delivery (POST).

Only fast, local work happens here (check, split, enqueue, answer): Meta wants a 200 within
5 s and disables a webhook that keeps failing. Archiving each event is the router's first
step, so no blob write sits on this path. The order of the checks is API.md's:
404 unknown account → 413 too large → 403 bad signature → 400 not JSON → 200 (what is not a
Messenger page payload, and each event that cannot be one, quarantined with its reason while
the body's other events go through) or 503 when the events cannot be stored.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from messenger_channel.bus.port import QueueMessage, QueueSender, QueueUnavailable
from messenger_channel.clock import Clock
from messenger_channel.facebook.signature import signature_valid
from messenger_channel.facebook.webhook_events import RawEvent, decode_webhook, split_webhook
from messenger_channel.ingress.archive import WebhookArchive
from messenger_channel.ingress.counters import IngressCounters, Reason
from messenger_channel.ingress.directory import AccountDirectory, AccountKeys
from messenger_channel.ingress.quarantine import Held, Quarantine
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.queue_messages import INBOUND, envelope_json
from messenger_channel.security import same_secret
from messenger_channel.services import Services
from messenger_channel.storage.errors import StorageError

log = logging.getLogger(__name__)

_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    body: str
    content_type: str = "application/json"

    @classmethod
    def error(cls, status: int, code: str, message: str) -> WebhookAnswer:
        return cls(status, json.dumps({"error": code, "message": message}))


ACCEPTED = WebhookAnswer(200, json.dumps({"status": "EVENT_RECEIVED"}))


class WebhookIngress:
    def __init__(self, *, directory: AccountDirectory, queue: QueueSender,
                 archive: WebhookArchive, quarantine: Quarantine, counters: IngressCounters,
                 clock: Clock, max_body_bytes: int) -> None:
        self.directory = directory
        self.queue = queue
        self.archive = archive
        self.quarantine = quarantine
        self.counters = counters
        self.clock = clock
        self.max_body_bytes = max_body_bytes

    def _account(self, account_id: str) -> AccountKeys | None:
        return self.directory.account(account_id) if _ACCOUNT_ID.match(account_id) else None

    def verify(self, account_id: str, params: Mapping[str, str]) -> WebhookAnswer:
        account = self._account(account_id)
        token = params.get("hub.verify_token", "")
        if (account is None or params.get("hub.mode") != "subscribe"
                or not same_secret(token, account.verify_token)):
            return WebhookAnswer(403, "forbidden", "text/plain")
        return WebhookAnswer(200, params.get("hub.challenge", ""), "text/plain")

    def receive(self, account_id: str, signature: str | None, body: bytes) -> WebhookAnswer:
        account = self._account(account_id)
        if account is None:
            return WebhookAnswer.error(404, "not_found", "no such account")
        if len(body) > self.max_body_bytes:
            return WebhookAnswer.error(413, "body_too_large",
                                       f"the body exceeds {self.max_body_bytes} bytes")
        if not signature_valid(signature, account.app_secret, body):
            # The app secret may have been rotated since it was cached: look once more.
            account = self.directory.account(account_id, fresh=True)
            if account is None or not signature_valid(signature, account.app_secret, body):
                log.warning("webhook signature rejected", extra={"account_id": account_id})
                return WebhookAnswer.error(403, "invalid_signature",
                                           "X-Hub-Signature-256 is missing or wrong")
        try:
            payload = decode_webhook(body)
        except ValueError:
            return WebhookAnswer.error(400, "invalid_json", "the body is not JSON")
        now = self.clock.now()
        try:
            return self._accept(account, payload, body, now)
        except (QueueUnavailable, StorageError) as problem:
            # Meta retries a 5xx; duplicate detection drops what did get through.
            log.error("webhook could not store events; Meta will retry",
                      extra={"account_id": account_id, "error": type(problem).__name__})
            return WebhookAnswer.error(503, "unavailable", "events could not be stored; retry")

    def _accept(self, account: AccountKeys, payload: object, body: bytes,
                now: datetime) -> WebhookAnswer:
        batch = split_webhook(payload)
        if batch is None:
            self.quarantine.hold_body(account.account_id, now, body, [
                Held("signed JSON that is not a Messenger page payload", payload)])
            log.warning("webhook payload quarantined", extra={"account_id": account.account_id})
            return ACCEPTED
        if batch.rejected:
            self.quarantine.hold_body(account.account_id, now, body, [
                Held(rejected.reason, rejected.raw, rejected.page_id)
                for rejected in batch.rejected])
            log.warning("webhook events quarantined", extra={
                "account_id": account.account_id, "count": len(batch.rejected)})
        messages = self.messages_for(account, batch.events, now)
        if messages:
            self.queue.send(INBOUND.name, messages)
        return ACCEPTED

    def messages_for(self, account: AccountKeys, events: Sequence[RawEvent],
                     now: datetime) -> list[QueueMessage]:
        """One queue message per event of a page this account serves (also used by replay).
        The others are counted per page, not routed: ``unknown_page`` (not this account's), or
        ``page_removed`` (being or already deprovisioned: its conversations were closed with
        it, and Facebook delivers until the app is unsubscribed, which may take a day or never
        happen). Not quarantined: a day of a busy page's traffic would bury what operators
        must look at, and keep the words of customers of a page they removed."""
        received_at = now.isoformat()
        refusals: dict[str, Reason | None] = {}  # a batch's events are nearly always for one page
        not_routed: Counter[tuple[Reason, str]] = Counter()
        messages = []
        for event in events:
            if event.page_id not in refusals:
                refusals[event.page_id] = self._refusal(account, event.page_id)
            refusal = refusals[event.page_id]
            if refusal is not None:
                not_routed[refusal, event.page_id] += 1
                continue
            messages.append(QueueMessage(body=envelope_json(account.account_id, account.app_id,
                                                                      received_at, event),
                                            session_id=event.session_id,
                                            message_id=event.event_id))
        for (reason, page_id), count in not_routed.items():
            self.counters.add(account.account_id, reason, now,
                              f"page {page_id}: {count} event(s) not routed", amount=count)
            log.warning("events not routed: %s", reason, extra={
                "account_id": account.account_id, "page_id": page_id, "count": count})
        return messages

    def _refusal(self, account: AccountKeys, page_id: str) -> Reason | None:
        """Why the page's events are not routed; None when the account serves it."""
        page = self.directory.page(page_id)
        if page is None or page.account_id != account.account_id:
            return "unknown_page"
        return "page_removed" if page.removed else None


def build_ingress(services: Services) -> WebhookIngress:
    return WebhookIngress(
        directory=AccountDirectory(ChannelTables(services.tables), services.secrets),
        queue=services.queue, archive=WebhookArchive(services.blobs),
        quarantine=build_quarantine(services),
        counters=IngressCounters(services.tables), clock=services.clock,
        max_body_bytes=services.settings.webhook_max_body_bytes)


def build_quarantine(services: Services) -> Quarantine:
    return Quarantine(services.tables, WebhookArchive(services.blobs),
                      IngressCounters(services.tables))
