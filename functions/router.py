"""Service Bus ``inbound`` (sessions: one customer's events in order) → the conversation engine.

Settled by the host: completed on return, abandoned on an exception (redelivered, then
dead-lettered with the reason after the queue's maximum delivery count). Runs in the trace
the message carries (``traceparent`` in its application properties): the webhook's.
"""

import azure.functions as func

from messenger_channel.bus.queues import INBOUND
from messenger_channel.conversations.inbound import process_inbound
from messenger_channel.services import get_services
from messenger_channel.telemetry.spans import queue_run

bp = func.Blueprint()


@bp.function_name("router")
@bp.service_bus_queue_trigger(arg_name="msg", queue_name=INBOUND.name,
                              connection="ServiceBusConnection", is_sessions_enabled=True)
def router(msg: func.ServiceBusMessage) -> None:
    with queue_run("router", msg.application_properties, queue=INBOUND.name,
                   enqueued_at=msg.enqueued_time_utc,
                   scheduled_at=msg.scheduled_enqueue_time_utc, queue_message_id=msg.message_id,
                   event_id=msg.message_id):
        process_inbound(get_services(), msg.get_body())
