"""The agent's API under ``/api/agent`` (agent key)."""

from __future__ import annotations

from fastapi import APIRouter

from messenger_channel.api import agent_contacts, agent_conversations, agent_me, agent_replies

router = APIRouter(prefix="/api/agent")
router.include_router(agent_me.router)
router.include_router(agent_conversations.router)
router.include_router(agent_replies.router)
router.include_router(agent_contacts.router)
