"""Re-enqueue archived webhook events (``POST /api/manage/replay``).

Harmless by design: replayed events carry their original message ids, so inside the queue's
duplicate-detection window (a day) Service Bus drops those already delivered; after it, the
router's idempotency (events are keyed by their id) keeps them from being applied twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from messenger_channel.facebook.webhook_events import decode_webhook, split_webhook
from messenger_channel.ingress.webhook import INBOUND_QUEUE, WebhookIngress


@dataclass(frozen=True)
class ReplayReport:
    bodies: int
    events: int


class UnknownAccount(Exception):
    pass


def replay(ingress: WebhookIngress, account_id: str, start: datetime,
           end: datetime) -> ReplayReport:
    account = ingress.directory.account(account_id, fresh=True)
    if account is None:
        raise UnknownAccount(account_id)
    bodies = events = 0
    for archived in ingress.archive.between(account_id, start, end):
        batch = split_webhook(decode_webhook(archived.body))
        if batch is None:
            continue
        messages = ingress.messages_for(account, batch.events, archived.received_at)
        if messages:
            ingress.queue.send(INBOUND_QUEUE, messages)
        bodies += 1
        events += len(messages)
    return ReplayReport(bodies=bodies, events=events)
