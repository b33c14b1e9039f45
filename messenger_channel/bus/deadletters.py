"""Dead letters of the two queues: how many, for which pages, and putting them back (redrive).

The health route and the token check read them through ``dead_letter_queues``, whatever the
backend: the local adapter's own tables on the devhost, the ``$deadletterqueue`` sub-queue on
Service Bus.
"""

from __future__ import annotations

from messenger_channel.bus.local import LocalQueue
from messenger_channel.bus.port import (
    MAX_COUNTED,
    DeadLetterCount,
    DeadLetterQueues,
    QueueSender,
    count_of,
)
from messenger_channel.bus.queues import QUEUES
from messenger_channel.bus.servicebus import ServiceBusQueueSender
from messenger_channel.bus.servicebus_deadletters import ServiceBusDeadLetters


class LocalDeadLetters:
    def __init__(self, queue: LocalQueue) -> None:
        self._queue = queue

    def count(self, queue: str) -> DeadLetterCount:
        counts = self._queue.counts(queue)
        found = count_of(queue, (m.session_id for m in self._queue.dead_letters(queue,
                                                                                MAX_COUNTED)))
        return DeadLetterCount(queue, counts.dead_letter, found.by_page,
                               depth=counts.active + counts.scheduled + counts.locked)

    def redrive(self, queue: str) -> int:
        return self._queue.redrive(queue)


def dead_letter_queues(sender: QueueSender) -> DeadLetterQueues | None:
    """The dead letters behind the app's queue sender; None when it cannot read them (a
    Service Bus sender built without a receiving client)."""
    if isinstance(sender, LocalQueue):
        return LocalDeadLetters(sender)
    if isinstance(sender, ServiceBusQueueSender) and sender.receivers is not None:
        return ServiceBusDeadLetters(sender.receivers, sender)
    return None


def known_queue(name: str) -> bool:
    return name in QUEUES
