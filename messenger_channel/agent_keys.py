"""Agents' API keys: shown once, stored only as a SHA-256 hash, found by a point read.

A key has 256 bits of entropy, so an unsalted hash is safe to store and to index by.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from messenger_channel.storage.tables import Entity, Table, TableStore

KEY_PREFIX = "ak_"
MIN_KEY_LENGTH = 32


class AgentKey(Entity):
    key_hash: str
    agent_id: str
    created_at: datetime

    def partition_key(self) -> str:
        return "agentkey"

    def row_key(self) -> str:
        return self.key_hash


def new_agent_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class AgentKeys:
    def __init__(self, store: TableStore) -> None:
        self._table: Table[AgentKey] = store.table("AgentKeys", AgentKey)

    def register(self, agent_id: str, key: str, now: datetime) -> str:
        """Store the hash of ``key`` for ``agent_id``; the hash is returned, to revoke it later."""
        if len(key) < MIN_KEY_LENGTH:
            raise ValueError(f"an agent key has at least {MIN_KEY_LENGTH} characters")
        digest = hash_key(key)
        self._table.create(AgentKey(key_hash=digest, agent_id=agent_id, created_at=now))
        return digest

    def revoke(self, key_hash: str) -> None:
        self._table.delete("agentkey", key_hash)

    def agent_for(self, key: str) -> str | None:
        digest = hash_key(key)
        found = self._table.get("agentkey", digest)
        # The point read already matched; compare again in constant time on principle.
        if found is None or not hmac.compare_digest(found.key_hash, digest):
            return None
        return found.agent_id
