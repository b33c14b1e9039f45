"""Service Bus ``outbound`` (sessions = conversation: its messages leave in order) → the
Messenger Send API (and the channel's handover calls, queued between them).

Settled by the host: completed on return (the send record is written by then), abandoned on
an exception (redelivered, then dead-lettered after the queue's maximum delivery count).
Runs in the trace the message carries: the customer's message or the agent's request.
"""

import azure.functions as func

from messenger_channel.bus.queues import OUTBOUND
from messenger_channel.conversations.outbound import process_outbound_queue
from messenger_channel.services import get_services
from messenger_channel.telemetry.spans import queue_run

bp = func.Blueprint()


@bp.function_name("sender")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=OUTBOUND.name,
                              connection="ServiceBusConnection", is_sessions_enabled=True)
def sender(msg: func.ServiceBusMessage) -> None:
    with queue_run("sender", msg.application_properties, queue=OUTBOUND.name,
                   enqueued_at=msg.enqueued_time_utc,
                   scheduled_at=msg.scheduled_enqueue_time_utc, queue_message_id=msg.message_id,
                   conversation_id=msg.session_id):
        process_outbound_queue(get_services(), msg.get_body())
