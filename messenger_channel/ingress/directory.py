"""What the webhook needs to know about accounts and pages, cached for a few seconds.

The webhook is the hot path and Meta retries anything slower than 5 s; one table read and
one Key Vault read per request would dominate its cost.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cachetools import TTLCache

from messenger_channel.provisioning.models import Page
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.secrets import SecretNotFound, SecretStore

CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class AccountKeys:
    account_id: str
    app_id: str
    app_secret: str
    verify_token: str


class AccountDirectory:
    def __init__(
        self, tables: ChannelTables, secrets: SecretStore, ttl: float = CACHE_SECONDS
    ) -> None:
        self._tables = tables
        self._secrets = secrets
        self._lock = threading.Lock()
        # Only what was found is cached: a page or account added a moment after a miss must
        # receive its first events at once, not after the cache expires.
        self._accounts: TTLCache[str, AccountKeys] = TTLCache(maxsize=4096, ttl=ttl)
        self._pages: TTLCache[str, Page] = TTLCache(maxsize=16384, ttl=ttl)

    def account(self, account_id: str, *, fresh: bool = False) -> AccountKeys | None:
        """``fresh`` skips the cache: after a signature mismatch the secret may have rotated."""
        with self._lock:
            if not fresh and account_id in self._accounts:
                return self._accounts[account_id]
        keys = self._load_account(account_id)
        with self._lock:
            if keys is None:
                self._accounts.pop(account_id, None)
            else:
                self._accounts[account_id] = keys
        return keys

    def _load_account(self, account_id: str) -> AccountKeys | None:
        # A deleting account stays known until its pages are Deprovisioned: Facebook delivers
        # to them meanwhile, and their events are acknowledged (counted ``page_removed``).
        account = self._tables.account(account_id)
        if account is None:
            return None
        try:
            secret = self._secrets.get(account.app_secret_ref)
        except SecretNotFound:
            return None
        return AccountKeys(account.id, account.app_id, secret, account.verify_token)

    def page(self, page_id: str) -> Page | None:
        with self._lock:
            if page_id in self._pages:
                return self._pages[page_id]
        page = self._tables.page(page_id)
        if page is not None:
            with self._lock:
                self._pages[page_id] = page
        return page
