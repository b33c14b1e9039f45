"""The ``Queues`` resource: names unique ignoring case, and a queue in use is not deleted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from messenger_channel.errors import Conflict
from messenger_channel.storage.tables import TableStore
from messenger_channel.workforce.agents import list_agents
from messenger_channel.workforce.queues import Queue, QueueCreate
from messenger_channel.workforce.resource import Resource
from messenger_channel.workforce.workstreams import list_workstreams, queue_uses


class Queues(Resource[Queue]):
    KIND = "queue"
    ID_PREFIX = "q_"
    RECORD = Queue
    UNIQUE = "name"

    def build(self, body: Any, record_id: str, now: datetime) -> Queue:
        return Queue(id=record_id, name=body.name, created_at=now, updated_at=now)

    def unique_value(self, value: str) -> str:
        return " ".join(value.split()).casefold()  # "Sales  EU" and "sales eu" are one name

    def create(self, body: QueueCreate) -> Queue:
        queue = self.new(body, self.clock.now())
        self.insert(queue)
        return queue

    def before_delete(self, record: Queue) -> None:
        users = queue_users(self.tables, record.id)
        if users:
            raise Conflict("queue_in_use", f"queue {record.id} is in use by {'; '.join(users)}; "
                                           "change or delete them first")


def queue_users(tables: TableStore, queue_id: str) -> list[str]:
    """The workstreams and agents naming the queue, each as the message names it."""
    users = [f"workstream {ws.name!r} ({ws.id}, {', '.join(uses)})"
             for ws in list_workstreams(tables) if (uses := queue_uses(ws, queue_id))]
    users += [f"agent {agent.name!r} ({agent.id})"
              for agent in list_agents(tables) if queue_id in agent.queue_ids]
    return users
