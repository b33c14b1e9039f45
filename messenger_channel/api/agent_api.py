"""The agent's API under ``/api/agent`` (agent key)."""

from __future__ import annotations

from fastapi import APIRouter

from messenger_channel.api import agent_conversations, agent_me

router = APIRouter(prefix="/api/agent")
router.include_router(agent_me.router)
router.include_router(agent_conversations.router)
