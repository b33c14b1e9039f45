"""``POST /api/manage/deadletters/{queue}/redrive``: put a queue's dead letters back after a fix."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from messenger_channel.api.auth import ManagerDep, ServicesDep
from messenger_channel.api.errors import ApiError, documented
from messenger_channel.bus.deadletters import dead_letter_queues, known_queue
from messenger_channel.bus.port import QueueUnavailable
from messenger_channel.errors import Missing

router = APIRouter(prefix="/api/manage", tags=["health"])


class RedriveOut(BaseModel):
    queue: str
    redriven: int


@router.post("/deadletters/{queue}/redrive",
             name="redrive_dead_letters", status_code=202, response_model=RedriveOut,
             responses=documented({503: "queue_unavailable: the dead letters cannot be "
                                        "read now"}))
def redrive(queue: str, services: ServicesDep, _: ManagerDep) -> RedriveOut:
    if not known_queue(queue):
        raise Missing(f"queue {queue} does not exist (inbound or outbound)")
    queues = dead_letter_queues(services.queue)
    if queues is None:
        raise ApiError(503, "queue_unavailable", "this queue backend cannot read dead letters")
    try:
        moved = queues.redrive(queue)
    except QueueUnavailable as error:
        raise ApiError(503, "queue_unavailable", str(error)) from None
    return RedriveOut(queue=queue, redriven=moved)
