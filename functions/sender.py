"""Service Bus ``outbound`` (sessions = conversation: its messages leave in order) → the
Messenger Send API (and the channel's handover calls, queued between them).

Settled by the host: completed on return (the send record is written by then), abandoned on
an exception (redelivered, then dead-lettered after the queue's maximum delivery count).
"""

import azure.functions as func

from messenger_channel.bus.queues import OUTBOUND
from messenger_channel.conversations.outbound import process_outbound_queue
from messenger_channel.services import get_services

bp = func.Blueprint()


@bp.function_name("sender")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=OUTBOUND.name,
                              connection="ServiceBusConnection", is_sessions_enabled=True)
def sender(msg: func.ServiceBusMessage) -> None:
    process_outbound_queue(get_services(), msg.get_body())
