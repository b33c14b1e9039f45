"""What the simulator knows: apps, pages, tokens, users, faults and the records it keeps."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

DEFAULT_SCOPES = ("pages_messaging", "pages_manage_metadata", "pages_show_list",
                  "pages_read_engagement")
# About 90 days: how long Meta lets an app read a user's data after the token was last used.
DATA_ACCESS_SECONDS = 90 * 24 * 3600


class TokenState(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"


class ProfileAccess(StrEnum):
    FULL = "full"
    # No Business Asset User Profile Access, or a private profile: Graph answers the id only.
    EMPTY = "empty"
    # A Messenger account created with a phone number: Graph refuses with 100/2018218.
    ERROR_2018218 = "error_2018218"


class Operation(StrEnum):
    """The Graph calls a fault can be aimed at."""

    SEND = "send"
    PROFILE = "profile"
    PAGE = "page"
    DEBUG_TOKEN = "debug_token"  # noqa: S105  (an operation name, not a secret)
    SUBSCRIBED_APPS = "subscribed_apps"
    UPLOAD = "upload"
    IDS_FOR_PAGES = "ids_for_pages"
    # pass, take and request thread control, thread_owner, secondary_receivers
    HANDOVER = "handover"


class FaultKind(StrEnum):
    GRAPH_ERROR = "graph_error"
    HTTP_5XX = "http_5xx"
    TIMEOUT = "timeout"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class App(_Model):
    app_id: str = Field(pattern=r"^\d+$")
    app_secret: str = Field(min_length=1)
    name: str
    # Where another app (a bot vendor's) receives its webhooks; the product's app is reached
    # through its account's URL instead. None: its posts are only recorded.
    webhook_url: str | None = None


class PageRoles(_Model):
    """The handover protocol's app roles on a page (Messenger settings, "App roles"). A page
    without roles is a single-app page: every event goes to its app as ``messaging``."""

    primary_receiver_app_id: str | None = Field(None, pattern=r"^\d+$")
    secondary_receiver_app_ids: list[str] = Field(default_factory=list)


class Page(_Model):
    page_id: str = Field(pattern=r"^\d+$")
    name: str
    app_id: str
    # The product's account whose webhook receives this page's events (learnt from `say`).
    account_id: str | None = None


class Token(_Model):
    token: str = Field(min_length=1)
    page_id: str
    app_id: str
    state: TokenState = TokenState.VALID
    expires_at: int = 0
    data_access_expires_at: int = 0
    issued_at: int = 0
    scopes: list[str] = Field(default_factory=lambda: list(DEFAULT_SCOPES))
    # Which 190 subcode an invalid token reports: 460 password changed, 467 logged out, ...
    invalid_subcode: int = 460

    def effective_state(self, now_s: int) -> TokenState:
        """A valid token whose expiry time has passed answers as expired, as on Graph."""
        if self.state is TokenState.VALID and 0 < self.expires_at <= now_s:
            return TokenState.EXPIRED
        return self.state


class User(_Model):
    psid: str = Field(pattern=r"^\d+$")
    page_id: str
    first_name: str
    last_name: str
    profile_pic: str = ""
    locale: str = "en_US"
    timezone: float = 0
    gender: str | None = None
    profile_access: ProfileAccess = ProfileAccess.FULL
    # Timestamp (ms) of the customer's latest message to the page: opens the messaging window.
    last_message_at: int | None = None
    app_scoped_id: str | None = None  # the same person as the app knows them (ids_for_pages)


class FaultSpec(_Model):
    """What a fault matches and how it answers; the control API's body adds nothing else."""

    page_id: str | None = None
    psid: str | None = None
    operation: Operation | None = None
    kind: FaultKind = FaultKind.GRAPH_ERROR
    code: int | None = None
    subcode: int | None = None
    http_status: int | None = Field(None, ge=400, le=599)
    message: str | None = None
    # "text" answers a 5xx with an HTML page, as a load balancer does; "graph" with a Graph body.
    body: Literal["text", "graph"] = "text"
    times: int | None = Field(None, ge=1)
    delay_seconds: float = Field(0.0, ge=0, le=600)


class Fault(FaultSpec):
    id: str
    hits: int = 0

    def matches(self, operation: Operation, page_id: str | None, psid: str | None) -> bool:
        return (
            (self.operation is None or self.operation is operation)
            and (self.page_id is None or self.page_id == page_id)
            and (self.psid is None or self.psid == psid)
        )


class SimConfig(_Model):
    auto_echo: bool = True
    auto_delivery: bool = True
    auto_read: bool = False
    # Facebook only posts the fields an app subscribed to; off, automatic events always go out.
    require_subscription: bool = True

    def followups(self) -> list[str]:
        """The events that follow a successful send, in Facebook's order."""
        return [kind for kind, on in (("echo", self.auto_echo), ("delivery", self.auto_delivery),
                                      ("read", self.auto_read)) if on]


class RequestRecord(_Model):
    id: int
    time: str
    method: str
    path: str
    query: dict[str, str]
    body: Any = None
    status: int = 0
    operation: str | None = None
    page_id: str | None = None


class SentMessage(_Model):
    message_id: str
    page_id: str
    psid: str
    app_id: str
    messaging_type: str
    tag: str | None = None
    message: dict[str, Any]
    metadata: str | None = None
    timestamp: int
    time: str


class SenderAction(_Model):
    page_id: str
    psid: str
    sender_action: str
    timestamp: int
    time: str


class Upload(_Model):
    attachment_id: str
    page_id: str
    type: str
    filename: str
    content_type: str
    size: int
    sha256: str
    is_reusable: bool
    time: str


class WebhookDelivery(_Model):
    id: int
    time: str
    kind: str
    account_id: str | None
    page_id: str | None
    url: str | None
    # On a page with app roles: which app the post was for, and under which entry list.
    app_id: str | None = None
    source: str | None = None
    signature: str | None
    body: str
    status: int | None = None
    response_body: str | None = None
    error: str | None = None
    elapsed_ms: int | None = None

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented pattern
    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300
