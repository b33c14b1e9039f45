"""A workstream's bot: the HTTP endpoint that answers its customers before any agent does.

Three shapes of the same setting:

- ``BotSettings``: what an operator writes (``bot`` of a workstream's POST or PATCH body). The
  ``secret`` is write-only: required the first time, kept when a PATCH leaves it out.
- ``StoredBot``: what the Workstreams table holds: the secret's *name* in the secret store
  (as an account's app secret is kept), never its value, and the hash of the bot's key.
- ``BotOut``: what the API shows: no secret, no hash; whether a key was issued.

The secret signs what the product POSTs to the bot (``X-Signature-256``); the bot's key
(``bot_keys.py``) opens ``/api/bot/...`` for that workstream's conversations.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StringConstraints,
)

from messenger_channel.errors import Invalid
from messenger_channel.secrets import SecretStore, new_secret_name
from messenger_channel.storage.tables import Entity, Table, TableStore

DEFAULT_TIMEOUT_SECONDS = 5
MAX_TIMEOUT_SECONDS = 30  # the router waits this long for one event: keep it short
MIN_SECRET_CHARS = 16
MAX_SECRET_CHARS = 256
_LOOPBACK_NAMES = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bot_url(url: str) -> str:
    """https; plain http only to this machine (a bot beside the devhost), since the
    customer's words and the signature travel in the request."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # a malformed port or bracket
        raise ValueError("an https:// URL") from None
    if any(c.isspace() for c in url) or not host:
        raise ValueError("an https:// URL")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host)):
        return url
    raise ValueError("an https:// URL (http:// only for localhost)")


BotUrl = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_bot_url)]
BotSecret = Annotated[SecretStr, Field(min_length=MIN_SECRET_CHARS, max_length=MAX_SECRET_CHARS)]
TimeoutSeconds = Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS, strict=True)]


class BotSettings(BaseModel):
    """``bot`` as an operator writes it."""

    model_config = ConfigDict(extra="forbid")

    url: BotUrl = Field(description="where each customer event is POSTed")
    secret: BotSecret | None = Field(
        None, description="signs each request (X-Signature-256); write-only: never shown, "
                          "required when the workstream first gets a bot, kept when omitted")
    timeout_seconds: TimeoutSeconds = Field(
        DEFAULT_TIMEOUT_SECONDS, description="how long the bot may take to answer an event")
    escalate_on_error: StrictBool = Field(
        True, description="a bot that times out, fails or answers nonsense hands the "
                          "customer to the agents")


class StoredBot(BaseModel):
    """``bot`` as the Workstreams table holds it."""

    url: str
    secret_ref: str  # the secret store's name for the secret
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    escalate_on_error: bool = True
    key_hash: str | None = None  # the bot key's (``bot_keys``); None until one is issued

    @property
    def key_issued(self) -> bool:
        return self.key_hash is not None


class BotOut(BaseModel):
    """``bot`` as the API shows it."""

    url: str
    timeout_seconds: int
    escalate_on_error: bool
    key_issued: bool = Field(description="POST /api/manage/workstreams/{id}/bot-key issues one")


class BotKey(Entity):
    """A bot key's hash (``bot_keys.py`` issues and finds them)."""

    key_hash: str
    workstream_id: str
    created_at: datetime

    def partition_key(self) -> str:
        return BOT_KEY_PARTITION

    def row_key(self) -> str:
        return self.key_hash


BOT_KEY_PARTITION = "botkey"


def bot_key_table(tables: TableStore) -> Table[BotKey]:
    return tables.table("BotKeys", BotKey)


class BotSecretWrite:
    """A secret written to the store ahead of a workstream change: ``ref`` is its name, or
    None when the change brought no secret. ``undo`` forgets it when the change fails."""

    def __init__(self, secrets: SecretStore | None, workstream_id: str,
                 given: BotSettings | None) -> None:
        self.secrets = secrets
        self.ref: str | None = None
        if given is None or given.secret is None:
            return
        if secrets is None:  # a code path that cannot keep secrets was handed one
            raise RuntimeError("a bot secret needs the secret store")
        self.ref = new_secret_name("bot-secret", workstream_id)
        secrets.set(self.ref, given.secret.get_secret_value())

    def undo(self) -> None:
        if self.secrets is not None and self.ref is not None:
            self.secrets.delete(self.ref)


def stored_bot(given: BotSettings | None, current: StoredBot | None,
               new_secret_ref: str | None) -> StoredBot | None:
    """The bot to store for ``given`` (None: no bot), over the ``current`` one: a secret
    left out keeps the current secret, and the key stays issued while the bot stays."""
    if given is None:
        return None
    secret_ref = new_secret_ref or (None if current is None else current.secret_ref)
    if secret_ref is None:
        raise Invalid([("bot.secret", "required when the workstream first gets a bot")])
    return StoredBot(url=given.url, secret_ref=secret_ref, timeout_seconds=given.timeout_seconds,
                     escalate_on_error=given.escalate_on_error,
                     key_hash=None if current is None else current.key_hash)


def replaced_secret(before: StoredBot | None, after: StoredBot | None) -> str | None:
    """The secret name ``before`` held that ``after`` no longer does: to delete."""
    if before is None or (after is not None and after.secret_ref == before.secret_ref):
        return None
    return before.secret_ref


def forget_bot(secrets: SecretStore | None, tables: TableStore, before: StoredBot | None,
               after: StoredBot | None) -> None:
    """After a workstream change is stored: the secret and the key that ``before`` held and
    ``after`` no longer does are deleted (a key stays with its bot until rotated)."""
    if before is None:
        return
    old_secret = replaced_secret(before, after)
    if old_secret is not None and secrets is not None:
        secrets.delete(old_secret)
    if before.key_hash is not None and (after is None or after.key_hash != before.key_hash):
        bot_key_table(tables).delete(BOT_KEY_PARTITION, before.key_hash)
