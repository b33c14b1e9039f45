"""The stored queue, where classified conversations wait for an agent, and its lookups.

Agents and workstreams name queues and look them up here; the ``Queues`` resource, which must
know who uses a queue before deleting it, is above them, in ``queue_management``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from messenger_channel.storage.tables import TableStore
from messenger_channel.workforce.resource import Record, Text100, find_record


class QueueFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text100


class QueueCreate(QueueFields):
    """The POST body."""


class Queue(Record, QueueFields):
    TABLE: ClassVar[str] = "Queues"
    PARTITION: ClassVar[str] = "queue"


def get_queue(tables: TableStore, queue_id: str) -> Queue | None:
    return find_record(tables, Queue, queue_id)


def unknown_queues(tables: TableStore,
                   references: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(field, message) for each (field, queue id) reference to a queue that does not exist."""
    exists: dict[str, bool] = {}
    problems = []
    for field, queue_id in references:
        if queue_id not in exists:
            exists[queue_id] = get_queue(tables, queue_id) is not None
        if not exists[queue_id]:
            problems.append((field, f"queue {queue_id} does not exist"))
    return problems
