"""``POST /api/manage/replay``: re-enqueue the archived events of an account in a time range."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from messenger_channel.api.auth import ManagerDep, ServicesDep
from messenger_channel.errors import Missing
from messenger_channel.ingress.replay import UnknownAccount, replay
from messenger_channel.ingress.webhook import build_ingress

router = APIRouter(prefix="/api/manage", tags=["webhook"])

MAX_RANGE = timedelta(days=31)


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    account_id: str
    from_: AwareDatetime = Field(alias="from", description="ISO 8601 with a zone, inclusive")
    to: AwareDatetime = Field(description="ISO 8601 with a zone, exclusive")

    @model_validator(mode="after")
    def _range(self) -> ReplayRequest:
        if self.to <= self.from_:
            raise ValueError("to must be after from")
        if self.to - self.from_ > MAX_RANGE:
            raise ValueError("replay at most 31 days at a time")
        return self


class ReplayOut(BaseModel):
    account_id: str
    events: int


@router.post("/replay", status_code=202, response_model=ReplayOut)
def replay_events(body: ReplayRequest, services: ServicesDep, _: ManagerDep) -> ReplayOut:
    try:
        events = replay(build_ingress(services), body.account_id, body.from_, body.to)
    except UnknownAccount:
        raise Missing.of(f"account {body.account_id}") from None
    return ReplayOut(account_id=body.account_id, events=events)
