"""Choose the queue adapter the settings ask for: Service Bus in Azure, a local file on devhost."""

from __future__ import annotations

from messenger_channel.bus.local import open_local_queue
from messenger_channel.bus.port import QueueSender
from messenger_channel.bus.servicebus import ServiceBusQueueSender
from messenger_channel.clock import Clock
from messenger_channel.settings import Settings

LOCAL_QUEUE_FILE = "queues.sqlite"


def queue_sender_from_settings(settings: Settings, clock: Clock) -> QueueSender:
    if settings.queue_backend == "local":
        # The devhost opens the same file (its LOCAL_QUEUE_FILE), so both share one instance.
        return open_local_queue(settings.local_data_dir / LOCAL_QUEUE_FILE, clock)
    if settings.servicebus_connection_string:
        return ServiceBusQueueSender.from_connection_string(
            settings.servicebus_connection_string.get_secret_value())
    assert settings.servicebus_namespace  # the settings validator requires one of the two
    return ServiceBusQueueSender.from_namespace(settings.servicebus_namespace)
