"""The agent's API under ``/api/agent`` (agent key)."""

from __future__ import annotations

from fastapi import APIRouter

from messenger_channel.api import (
    agent_collaboration,
    agent_contacts,
    agent_conversations,
    agent_directory,
    agent_handover,
    agent_live,
    agent_me,
    agent_replies,
)
from messenger_channel.api.agent_history import router as history_router
from messenger_channel.api.canned_responses import agent_router as canned_router

router = APIRouter(prefix="/api/agent")
router.include_router(agent_me.router)
router.include_router(agent_live.router)
router.include_router(agent_conversations.router)
router.include_router(agent_replies.router)
router.include_router(agent_contacts.router)
router.include_router(agent_collaboration.router)
router.include_router(agent_handover.agent_router)
router.include_router(agent_directory.router)
router.include_router(history_router)
router.include_router(canned_router)
