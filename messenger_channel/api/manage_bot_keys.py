"""``POST /api/manage/workstreams/{id}/bot-key``: issue (or rotate) the key of a workstream's
bot, shown once; the previous key stops working."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from messenger_channel.api.auth import ManagerDep, ServicesDep
from messenger_channel.api.errors import documented
from messenger_channel.workforce.bot_keys import BotKeys

router = APIRouter(prefix="/api/manage", tags=["workforce"])


class BotKeyOut(BaseModel):
    api_key: str = Field(description="shown this once: only its hash is stored")


@router.post("/workstreams/{id}/bot-key", status_code=201, response_model=BotKeyOut,
             responses=documented({409: "no_bot: the workstream has no bot"}),
             summary="Issue the key of the workstream's bot (the previous one is revoked)")
def issue_bot_key(id: str, services: ServicesDep, _: ManagerDep) -> BotKeyOut:
    return BotKeyOut(api_key=BotKeys(services.tables, services.clock).issue(id))
