"""Bodies of the control API (``/_sim``), also the shape of the ``SIMULATOR_STATE_FILE`` seed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simulator.models import (
    App,
    FaultKind,
    FaultSpec,
    PageRoles,
    ProfileAccess,
    SimConfig,
    TokenState,
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AppPut(_Body):
    app_secret: str = Field(min_length=1)
    name: str | None = None
    webhook_url: str | None = Field(None, pattern=r"^https?://")


class PagePut(_Body):
    name: str = Field(min_length=1)
    app_id: str | None = Field(None, pattern=r"^\d+$")
    # Absent: the simulator makes one up and answers it.
    access_token: str | None = Field(None, min_length=1)
    account_id: str | None = None


class TokenPut(_Body):
    state: TokenState | None = None
    expires_at: int | None = Field(None, ge=0)
    data_access_expires_at: int | None = Field(None, ge=0)
    scopes: list[str] | None = None
    invalid_subcode: int | None = None
    # Only to create a further token (a rotated one) for a page.
    page_id: str | None = None
    # With page_id: a token of another app on that page (an app with a handover role),
    # so that a test can call Graph as that app.
    app_id: str | None = Field(None, pattern=r"^\d+$")


class UserPut(_Body):
    page_id: str = Field(pattern=r"^\d+$")
    first_name: str | None = None
    last_name: str | None = None
    profile_pic: str | None = None
    locale: str | None = None
    timezone: float | None = None
    gender: str | None = None
    profile_access: ProfileAccess | None = None
    last_message_at: int | None = Field(None, ge=0)
    # The person's app-scoped id: Graph's ID matching API (ids_for_pages) maps it to PSIDs.
    app_scoped_id: str | None = Field(None, pattern=r"^\d+$")


class FaultIn(FaultSpec):
    # The validator below fills in a default; assignment must not re-run it.
    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    @model_validator(mode="after")
    def _complete(self) -> FaultIn:
        if self.kind is FaultKind.GRAPH_ERROR and self.code is None:
            raise ValueError("code is required for a graph_error fault")
        if self.kind is FaultKind.TIMEOUT and not self.delay_seconds:
            # Longer than any sensible client timeout, short enough not to hang a test run.
            self.delay_seconds = 30.0
        return self


class ConfigPatch(_Body):
    auto_echo: bool | None = None
    auto_delivery: bool | None = None
    auto_read: bool | None = None
    require_subscription: bool | None = None


class ClockPut(_Body):
    offset_seconds: float


SignatureMode = Literal["valid", "none", "wrong"]


class AttachmentIn(_Body):
    type: Literal["image", "audio", "video", "file"]
    url: str | None = None
    # A file the simulator hosts under /_sim/files/ (default: one that fits the type).
    name: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AttachmentIn:
        if self.url and self.name:
            raise ValueError("give url or name, not both")
        return self


class SayIn(_Body):
    account_id: str = Field(min_length=1)
    page_id: str = Field(pattern=r"^\d+$")
    psid: str = Field(pattern=r"^\d+$")
    text: str | None = None
    timestamp: int | None = Field(None, ge=0)
    quick_reply_payload: str | None = None
    attachment: AttachmentIn | None = None
    mid: str | None = None
    reply_to_mid: str | None = None
    signature: SignatureMode = "valid"

    @model_validator(mode="after")
    def _content(self) -> SayIn:
        # On Messenger a text and an attachment are two messages, each with its own mid.
        if (self.text is None) == (self.attachment is None):
            raise ValueError("give exactly one of text or attachment")
        if self.quick_reply_payload is not None and self.text is None:
            raise ValueError("quick_reply_payload comes with a text (the button's title)")
        return self


class WebhookIn(_Body):
    account_id: str = Field(min_length=1)
    payload: dict[str, Any] | None = None
    # Exact body text, for bodies that are not JSON at all.
    raw: str | None = None
    signature: SignatureMode = "valid"
    # Whose secret signs; by default the app of the page in payload.entry[0].id, else the
    # default app.
    app_id: str | None = None

    @model_validator(mode="after")
    def _one_body(self) -> WebhookIn:
        if (self.payload is None) == (self.raw is None):
            raise ValueError("give exactly one of payload or raw")
        return self


class ThreadOwnerPut(_Body):
    """Set who owns a thread without any webhook (test setup); null: the thread is idle."""

    owner_app_id: str | None = Field(pattern=r"^\d+$")


class ThreadActIn(_Body):
    """Another app calls pass, take or request thread control (as its Graph call would)."""

    app_id: str = Field(pattern=r"^\d+$")
    target_app_id: str | None = Field(None, pattern=r"^\d+$")
    metadata: str | None = Field(None, max_length=1000)


class SeedPage(PagePut):
    page_id: str = Field(pattern=r"^\d+$")


class SeedToken(TokenPut):
    token: str = Field(min_length=1)


class SeedUser(UserPut):
    psid: str = Field(pattern=r"^\d+$")


class Seed(_Body):
    """The ``SIMULATOR_STATE_FILE`` document; ``POST /_sim/reset`` returns to it."""

    apps: list[App] = Field(default_factory=list)
    pages: list[SeedPage] = Field(default_factory=list)
    tokens: list[SeedToken] = Field(default_factory=list)
    users: list[SeedUser] = Field(default_factory=list)
    # page_id -> app_id -> subscribed fields
    subscriptions: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    config: SimConfig | None = None
    # page_id -> the handover protocol's app roles
    roles: dict[str, PageRoles] = Field(default_factory=dict)
