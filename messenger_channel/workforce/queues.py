"""Queues: where classified conversations wait for an agent. Names are unique, ignoring case."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from messenger_channel.api.errors import ApiError
from messenger_channel.storage.tables import TableStore
from messenger_channel.workforce import Record, RecordOut, Resource, Text100, patch_model


class QueueFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text100


class QueueCreate(QueueFields):
    """The POST body."""


class Queue(Record, QueueFields):
    PARTITION: ClassVar[str] = "queue"


class QueueOut(RecordOut, QueueFields):
    pass


class Queues(Resource[Queue]):
    KIND = "queue"
    PATH = "queues"
    ID_PREFIX = "q_"
    TABLE = "Queues"
    RECORD = Queue
    CREATE = QueueCreate
    PATCH = patch_model(QueueFields)
    OUT = CREATED = QueueOut
    UNIQUE = "name"

    def build(self, body: Any, record_id: str, now: datetime) -> Queue:
        return Queue(id=record_id, name=body.name, created_at=now, updated_at=now)

    def unique_value(self, value: str) -> str:
        return " ".join(value.split()).casefold()  # "Sales  EU" and "sales eu" are one name

    def before_delete(self, record: Queue) -> None:
        # Imported here: agents and workstreams import this module to look queues up.
        from messenger_channel.workforce.agents import list_agents
        from messenger_channel.workforce.workstreams import list_workstreams, queue_uses

        users = [f"workstream {ws.name!r} ({ws.id}, {', '.join(uses)})"
                 for ws in list_workstreams(self.tables) if (uses := queue_uses(ws, record.id))]
        users += [f"agent {agent.name!r} ({agent.id})"
                  for agent in list_agents(self.tables) if record.id in agent.queue_ids]
        if users:
            raise ApiError(409, "queue_in_use",
                           f"queue {record.id} is in use by {'; '.join(users)}; "
                           "change or delete them first")


def get_queue(tables: TableStore, queue_id: str) -> Queue | None:
    return Queues(tables).find(queue_id)


def unknown_queues(tables: TableStore,
                   references: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(field, message) for each (field, queue id) reference to a queue that does not exist."""
    queues = Queues(tables)
    exists: dict[str, bool] = {}
    problems = []
    for field, queue_id in references:
        if queue_id not in exists:
            exists[queue_id] = queues.find(queue_id) is not None
        if not exists[queue_id]:
            problems.append((field, f"queue {queue_id} does not exist"))
    return problems
