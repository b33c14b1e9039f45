"""Re-enqueue archived events (``POST /api/manage/replay``).

Harmless by design: replayed events carry their original message ids, so inside the queue's
duplicate-detection window (a day) Service Bus drops those already delivered; after it, the
router's idempotency (events are keyed by their id) keeps them from being applied twice.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from messenger_channel.bus.port import QueueMessage
from messenger_channel.ingress.webhook import WebhookIngress
from messenger_channel.queue_messages import INBOUND, InboundEnvelope

# Sent in batches: one queue call per archived event would make a long replay slow.
BATCH = 100


class UnknownAccount(Exception):
    pass


def replay(ingress: WebhookIngress, account_id: str, start: datetime, end: datetime) -> int:
    """The number of events put back on the ``inbound`` queue."""
    if ingress.directory.account(account_id, fresh=True) is None:
        raise UnknownAccount(account_id)
    batch: list[QueueMessage] = []
    replayed = 0
    for archived in ingress.archive.between(account_id, start, end):
        try:
            envelope = InboundEnvelope.model_validate_json(archived.body)
        except ValidationError:
            continue  # not an envelope this version can read; it stays in the archive
        batch.append(QueueMessage(body=archived.body, session_id=envelope.session_id,
                                     message_id=envelope.event_id))
        if len(batch) == BATCH:
            ingress.queue.send(INBOUND.name, batch)
            replayed += len(batch)
            batch = []
    if batch:
        ingress.queue.send(INBOUND.name, batch)
        replayed += len(batch)
    return replayed
