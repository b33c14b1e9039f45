"""Accounts and Pages as stored. Secrets are held by the secret store; these hold its names."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel

from messenger_channel.storage.tables import Entity


class ProvisioningState(StrEnum):
    # The Dynamics 365 labels, as API.md requires.
    DRAFT = "Draft"
    PROCESSING = "Processing"
    RUNNING = "Running"
    ERROR = "Error"
    DEPROVISIONING = "Deprovisioning"
    DEPROVISIONED = "Deprovisioned"


TokenStatus = Literal["healthy", "expiring", "expired", "invalid", "missing_permission", "unknown"]


class TokenHealth(BaseModel):
    status: TokenStatus = "unknown"
    expires_at: datetime | None = None
    data_access_expires_at: datetime | None = None
    scopes: list[str] = []
    checked_at: datetime | None = None
    rotated_at: datetime | None = None
    # Never-expiring tokens: when the seed's 60-day rotation falls due (from rotated_at, or
    # from the page's creation when never rotated).
    rotation_due_at: datetime | None = None
    problem: str | None = None


class Subscription(BaseModel):
    subscribed: bool = False
    fields: list[str] = []
    checked_at: datetime | None = None
    # Meta drops a subscription after an hour of webhook failures; the token check restores it.
    resubscribed_at: datetime | None = None
    resubscribe_count: int = 0
    problem: str | None = None


class Retention(BaseModel):
    """How many days after a conversation closes its content is kept (None: for ever)."""

    messages_days: int | None = None
    attachments_days: int | None = None
    archive_days: int | None = None


class Account(Entity):
    id: str
    name: str
    app_id: str
    app_secret_ref: str
    verify_token: str
    created_at: datetime
    updated_at: datetime
    deleting: bool = False
    retention: Retention | None = None  # privacy/retention.py applies it daily

    def partition_key(self) -> str:
        return "account"

    def row_key(self) -> str:
        return self.id


class AppIdClaim(Entity):
    """Makes an app id belong to one account: created before the account, so a second fails."""

    app_id: str
    account_id: str

    def partition_key(self) -> str:
        return "appid"

    def row_key(self) -> str:
        return self.app_id


class Page(Entity):
    page_id: str
    account_id: str
    name: str
    provisioning_state: ProvisioningState
    provisioning_error: str | None = None
    # What put the page in Error: "token" clears when the token is healthy again.
    error_source: Literal["token", "subscription", "setup", "deprovisioning"] | None = None
    token_ref: str | None = None
    # Deprovisioning: when the delete began and how many unsubscribe attempts Facebook
    # refused, so that ``teardown`` bounds it.
    deprovisioning_since: datetime | None = None
    deprovisioning_attempts: int = 0
    token_health: TokenHealth = TokenHealth()
    subscription: Subscription = Subscription()
    created_at: datetime
    updated_at: datetime

    def partition_key(self) -> str:
        return "page"

    def row_key(self) -> str:
        return self.page_id

    @property
    def connected(self) -> bool:
        """Attached to its account; a Deprovisioned page may be added again."""
        return self.provisioning_state is not ProvisioningState.DEPROVISIONED

    @property
    def removed(self) -> bool:
        """Being or already deprovisioned: its customers are no longer served."""
        return self.provisioning_state in (ProvisioningState.DEPROVISIONING,
                                           ProvisioningState.DEPROVISIONED)
