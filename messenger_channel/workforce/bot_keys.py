"""Bots' API keys: one per workstream's bot, shown once, stored only as a SHA-256 hash (as
agents' keys are, ``agent_keys.py``), found by a point read.

The key's hash is also kept on the workstream's bot (``StoredBot.key_hash``): a key opens
``/api/bot/...`` only while it is the workstream's current one, so a rotation interrupted
before the old row was deleted still revokes the old key.
"""

from __future__ import annotations

import hmac
import secrets

from messenger_channel.agent_keys import hash_key
from messenger_channel.clock import Clock, system_clock
from messenger_channel.errors import Conflict
from messenger_channel.storage.errors import NotFound
from messenger_channel.storage.tables import Table, TableStore
from messenger_channel.workforce.workstream_bot import BOT_KEY_PARTITION, BotKey, bot_key_table
from messenger_channel.workforce.workstreams import Workstream, Workstreams

KEY_PREFIX = "bk_"


class _BotGone(Exception):
    pass


class BotKeys:
    def __init__(self, tables: TableStore, clock: Clock = system_clock) -> None:
        self.tables = tables
        self.clock = clock
        self._table: Table[BotKey] = bot_key_table(tables)

    def issue(self, workstream_id: str) -> str:
        """A new key for the workstream's bot, returned once; the previous key stops working."""
        workstreams = Workstreams(self.tables, self.clock)
        workstream = workstreams.get(workstream_id)
        if workstream.bot is None:
            raise _no_bot(workstream_id)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        digest = hash_key(key)
        self._table.create(BotKey(key_hash=digest, workstream_id=workstream_id,
                                  created_at=self.clock.now()))
        previous: list[str | None] = []

        def mutate(current: Workstream) -> Workstream:
            if current.bot is None:
                raise _BotGone
            previous.append(current.bot.key_hash)
            return current.model_copy(update={
                "bot": current.bot.model_copy(update={"key_hash": digest}),
                "updated_at": self.clock.now()})

        try:
            workstreams.table.update(Workstream.PARTITION, workstream_id, mutate)
        except (_BotGone, NotFound):
            self.revoke(digest)
            raise _no_bot(workstream_id) from None
        except BaseException:
            self.revoke(digest)
            raise
        if previous and previous[-1] not in (None, digest):
            self.revoke(previous[-1])
        return key

    def revoke(self, key_hash: str | None) -> None:
        if key_hash is not None:
            self._table.delete(BOT_KEY_PARTITION, key_hash)  # idempotent

    def workstream_for(self, key: str) -> Workstream | None:
        """The workstream whose bot ``key`` is the current key of, or None."""
        digest = hash_key(key)
        found = self._table.get(BOT_KEY_PARTITION, digest)
        if found is None:
            return None
        workstream = Workstreams(self.tables, self.clock).find(found.workstream_id)
        current = None if workstream is None or workstream.bot is None else (
            workstream.bot.key_hash)
        # The point read already matched; compare in constant time on principle.
        if current is None or not hmac.compare_digest(current, digest):
            return None
        return workstream


def _no_bot(workstream_id: str) -> Conflict:
    return Conflict("no_bot", f"workstream {workstream_id} has no bot; set its bot "
                              "(url and secret) first")
