"""While a customer's erasure runs, the router holds their events (``privacy/erasures.py``).

============== ============ ======== =====================================================
table          PartitionKey RowKey   why
============== ============ ======== =====================================================
ErasureHolds   page id      PSID     one point read per routed event tells whether the
                                     customer is being erased; the row goes when it is done
============== ============ ======== =====================================================

An event received *before* the erasure was asked for is part of what is erased: the router
drops it (it is not archived, nothing is stored). An event received *after* is the customer
writing again: it is put back on the queue ``HOLD_FOR`` later, and once the erasure is done it
is routed like any first message: a new contact, a fresh conversation. Nothing erased comes
back, and nothing new is lost.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from messenger_channel.bus.port import QueueMessage
from messenger_channel.bus.queues import INBOUND
from messenger_channel.conversations.models import short_hash
from messenger_channel.queue_messages import InboundEnvelope
from messenger_channel.services import Services
from messenger_channel.storage.tables import Entity, Table, TableStore

log = logging.getLogger(__name__)

HOLD_FOR = timedelta(seconds=30)


class ErasureHold(Entity):
    page_id: str
    psid: str
    erasure_id: str
    requested_at: datetime

    def partition_key(self) -> str:
        return self.page_id

    def row_key(self) -> str:
        return self.psid


def erasure_holds(store: TableStore) -> Table[ErasureHold]:
    return store.table("ErasureHolds", ErasureHold)


def held_for_erasure(services: Services, envelope: InboundEnvelope, body: bytes) -> bool:
    """True when the event was dropped or put back because its customer is being erased."""
    psid = envelope.customer_psid
    if psid is None:
        return False
    hold = erasure_holds(services.tables).get(envelope.page_id, psid)
    if hold is None:
        return False
    context = {"page_id": envelope.page_id, "event_id": envelope.event_id,
               "erasure_id": hold.erasure_id}
    if envelope.received_at < hold.requested_at:
        log.info("event of a customer being erased dropped", extra=context)
        return True
    now = services.clock.now()
    # A new id each minute: an earlier copy's id would be dropped as a duplicate.
    copy_id = f"held-{short_hash(envelope.event_id, hold.erasure_id, f'{now:%Y%m%d%H%M}')}"
    services.queue.send(INBOUND.name, [QueueMessage(
        body=body, session_id=envelope.session_id, message_id=copy_id,
        scheduled_at=now + HOLD_FOR)])
    log.info("event held until the customer's erasure is done", extra=context)
    return True
