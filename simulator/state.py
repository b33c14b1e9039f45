"""The simulator's memory: everything Graph knows plus the records tests read back.

One lock guards it all: uvicorn serves from one event loop, but the TestClient, the CLI and
background webhook posts reach it from other threads. Every getter answers a copy, so a caller
can never change the state without going through a method.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import uuid
from collections import deque
from typing import Any

from simulator import ids
from simulator.clock import SimClock, isoformat
from simulator.control_models import FaultIn, PagePut, Seed, TokenPut, UserPut
from simulator.models import (
    DATA_ACCESS_SECONDS,
    App,
    Fault,
    Operation,
    Page,
    PageRoles,
    RequestRecord,
    SenderAction,
    SentMessage,
    SimConfig,
    Token,
    Upload,
    User,
    WebhookDelivery,
)
from simulator.settings import SimulatorSettings

# Enough history for any test run without letting a long-lived simulator grow without bound.
MAX_RECORDS = 10_000

_FIRST_NAMES = ("Alex", "Maria", "Jonas", "Aiko", "Lena", "Omar", "Priya", "Tom", "Sofia", "Yusuf")
_LAST_NAMES = ("Meyer", "Garcia", "Tanaka", "Novak", "Okafor", "Larsen", "Rossi", "Kim", "Dubois")


class NotFound(LookupError):
    """A control call named something the simulator does not know."""


class SimulatorState:
    def __init__(self, settings: SimulatorSettings, seed: Seed | None = None) -> None:
        self._settings = settings
        self._seed = seed or Seed()
        self._lock = threading.RLock()
        self.clock = SimClock(settings.clock_offset_seconds)
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything, then load the default app and the seed again."""
        with self._lock:
            self._apps: dict[str, App] = {}
            self._pages: dict[str, Page] = {}
            self._tokens: dict[str, Token] = {}
            self._users: dict[tuple[str, str], User] = {}
            self._subscriptions: dict[str, dict[str, list[str]]] = {}
            self._faults: dict[str, Fault] = {}
            self._requests: deque[RequestRecord] = deque(maxlen=MAX_RECORDS)
            self._sent: deque[SentMessage] = deque(maxlen=MAX_RECORDS)
            self._sender_actions: deque[SenderAction] = deque(maxlen=MAX_RECORDS)
            self._uploads: dict[str, tuple[Upload, bytes]] = {}
            self._deliveries: deque[WebhookDelivery] = deque(maxlen=MAX_RECORDS)
            self._roles: dict[str, PageRoles] = {}
            # (page, psid) -> owning app, None for an idle thread; absent: the primary's.
            self._owners: dict[tuple[str, str], str | None] = {}
            self._config = SimConfig()
            self._record_ids = itertools.count(1)
            self.clock.set_offset(self._settings.clock_offset_seconds)
            s = self._settings
            self.put_app(App(app_id=s.app_id, app_secret=s.app_secret, name=s.app_name))
            self._apply_seed(self._seed)

    def _apply_seed(self, seed: Seed) -> None:
        for app in seed.apps:
            self.put_app(app)
        for page in seed.pages:
            self.put_page(page.page_id, PagePut(**page.model_dump(exclude={"page_id"})))
        for token in seed.tokens:
            self.put_token(token.token, TokenPut(**token.model_dump(exclude={"token"})))
        for user in seed.users:
            self.put_user(user.psid, UserPut(**user.model_dump(exclude={"psid"})))
        for page_id, apps in seed.subscriptions.items():
            for app_id, fields in apps.items():
                self.subscribe(page_id, app_id, fields)
        if seed.config is not None:
            self._config = seed.config.model_copy()
        for page_id, roles in seed.roles.items():
            self.put_roles(page_id, roles)

    def now_iso(self) -> str:
        return isoformat(self.clock.now())

    # -- apps, pages, tokens -----------------------------------------------------------------

    def put_app(self, app: App) -> App:
        with self._lock:
            self._apps[app.app_id] = app.model_copy()
            return app.model_copy()

    def app(self, app_id: str) -> App | None:
        with self._lock:
            found = self._apps.get(app_id)
            return found.model_copy() if found else None

    def apps(self) -> list[App]:
        with self._lock:
            return [a.model_copy() for a in self._apps.values()]

    def put_page(self, page_id: str, body: PagePut) -> tuple[Page, Token | None]:
        """Create or update a page; a given (or, for a new page, generated) token is valid."""
        with self._lock:
            app_id = body.app_id or self._settings.app_id
            if app_id not in self._apps:
                raise NotFound(f"unknown app {app_id}: PUT /_sim/apps/{app_id} first")
            existing = self._pages.get(page_id)
            account_id = body.account_id or (existing.account_id if existing else None)
            page = Page(page_id=page_id, name=body.name, app_id=app_id, account_id=account_id)
            self._pages[page_id] = page
            token: Token | None = None
            if body.access_token or existing is None:
                now = self.clock.now_s()
                token = Token(
                    token=body.access_token or ids.page_token(),
                    page_id=page_id,
                    app_id=app_id,
                    issued_at=now,
                    data_access_expires_at=now + DATA_ACCESS_SECONDS,
                )
                self._tokens[token.token] = token
            return page.model_copy(), token.model_copy() if token else None

    def page(self, page_id: str) -> Page | None:
        with self._lock:
            found = self._pages.get(page_id)
            return found.model_copy() if found else None

    def pages(self) -> list[Page]:
        with self._lock:
            return [p.model_copy() for p in self._pages.values()]

    def remember_account(self, page_id: str, account_id: str) -> None:
        """Note which product account receives this page's events (as its callback URL)."""
        with self._lock:
            page = self._pages.get(page_id)
            if page is not None:
                page.account_id = account_id

    def put_token(self, token_value: str, body: TokenPut) -> Token:
        with self._lock:
            token = self._tokens.get(token_value)
            if token is None:
                page = self._pages.get(body.page_id or "")
                if page is None:
                    raise NotFound("unknown token: give page_id (of a known page) to create one")
                app_id = body.app_id or page.app_id
                if app_id not in self._apps:
                    raise NotFound(f"unknown app {app_id}: PUT /_sim/apps/{app_id} first")
                now = self.clock.now_s()
                token = Token(token=token_value, page_id=page.page_id, app_id=app_id,
                              issued_at=now, data_access_expires_at=now + DATA_ACCESS_SECONDS)
            changes = body.model_dump(exclude_none=True, exclude={"page_id", "app_id"})
            token = Token.model_validate({**token.model_dump(), **changes})
            self._tokens[token_value] = token
            return token.model_copy()

    def token(self, token_value: str) -> Token | None:
        with self._lock:
            found = self._tokens.get(token_value)
            return found.model_copy() if found else None

    # -- users -------------------------------------------------------------------------------

    def put_user(self, psid: str, body: UserPut) -> User:
        with self._lock:
            if body.page_id not in self._pages:
                raise NotFound(f"unknown page {body.page_id}: PUT /_sim/pages/{body.page_id} first")
            key = (body.page_id, psid)
            user = self._users.get(key) or self._generated_user(body.page_id, psid)
            changes = body.model_dump(exclude_none=True, exclude={"page_id"})
            user = User.model_validate({**user.model_dump(), **changes})
            self._users[key] = user
            return user.model_copy()

    def user(self, page_id: str, psid: str) -> User | None:
        with self._lock:
            found = self._users.get((page_id, psid))
            return found.model_copy() if found else None

    def users(self, page_id: str | None = None) -> list[User]:
        with self._lock:
            return [u.model_copy() for (p, _), u in self._users.items()
                    if page_id is None or p == page_id]

    def customer_wrote(self, page_id: str, psid: str, timestamp_ms: int) -> User:
        """A customer wrote to the page: create them if new and reopen the messaging window."""
        with self._lock:
            key = (page_id, psid)
            user = self._users.get(key) or self._generated_user(page_id, psid)
            # Out-of-order events must not close a window a later message opened.
            if user.last_message_at is None or timestamp_ms > user.last_message_at:
                user.last_message_at = timestamp_ms
            self._users[key] = user
            return user.model_copy()

    def _generated_user(self, page_id: str, psid: str) -> User:
        # Derived from the PSID so that the same customer gets the same name in every run.
        digest = int(hashlib.sha256(psid.encode()).hexdigest(), 16)
        s = self._settings
        return User(
            psid=psid,
            page_id=page_id,
            first_name=_FIRST_NAMES[digest % len(_FIRST_NAMES)],
            last_name=_LAST_NAMES[(digest // len(_FIRST_NAMES)) % len(_LAST_NAMES)],
            profile_pic=f"http://{s.host}:{s.port}/_sim/files/avatar.png",
        )

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe(self, page_id: str, app_id: str, fields: list[str]) -> None:
        with self._lock:
            self._subscriptions.setdefault(page_id, {})[app_id] = list(dict.fromkeys(fields))

    def unsubscribe(self, page_id: str, app_id: str | None = None) -> None:
        """Remove one app's subscription, or all of the page's (Meta disabling the webhook)."""
        with self._lock:
            if app_id is None:
                self._subscriptions.pop(page_id, None)
            else:
                self._subscriptions.get(page_id, {}).pop(app_id, None)

    def subscriptions(self, page_id: str) -> dict[str, list[str]]:
        with self._lock:
            return {a: list(f) for a, f in self._subscriptions.get(page_id, {}).items()}

    def all_subscriptions(self) -> dict[str, dict[str, list[str]]]:
        with self._lock:
            return {p: {a: list(f) for a, f in apps.items()}
                    for p, apps in self._subscriptions.items()}

    # -- handover protocol: app roles and thread ownership ------------------------------------

    def put_roles(self, page_id: str, roles: PageRoles) -> PageRoles:
        with self._lock:
            if page_id not in self._pages:
                raise NotFound(f"unknown page {page_id}: PUT /_sim/pages/{page_id} first")
            for app_id in {roles.primary_receiver_app_id, *roles.secondary_receiver_app_ids}:
                if app_id is not None and app_id not in self._apps:
                    raise NotFound(f"unknown app {app_id}: PUT /_sim/apps/{app_id} first")
            self._roles[page_id] = roles.model_copy()
            return roles.model_copy()

    def roles(self, page_id: str) -> PageRoles | None:
        """The page's app roles; None for a single-app page (no handover protocol)."""
        with self._lock:
            found = self._roles.get(page_id)
            return found.model_copy() if found else None

    def drop_roles(self, page_id: str) -> None:
        with self._lock:
            self._roles.pop(page_id, None)
            for key in [key for key in self._owners if key[0] == page_id]:
                del self._owners[key]

    def thread_owner(self, page_id: str, psid: str) -> str | None:
        """The app that controls the thread: set by pass/take, else the primary receiver's
        (as on Messenger); None when idle."""
        with self._lock:
            if (page_id, psid) in self._owners:
                return self._owners[(page_id, psid)]
            roles = self._roles.get(page_id)
            return None if roles is None else roles.primary_receiver_app_id

    def set_thread_owner(self, page_id: str, psid: str, app_id: str | None) -> None:
        with self._lock:
            self._owners[(page_id, psid)] = app_id

    # -- faults ------------------------------------------------------------------------------

    def add_fault(self, body: FaultIn) -> Fault:
        with self._lock:
            fault = Fault(id=uuid.uuid4().hex[:12], **body.model_dump())
            self._faults[fault.id] = fault
            return fault.model_copy()

    def faults(self) -> list[Fault]:
        with self._lock:
            return [f.model_copy() for f in self._faults.values()]

    def remove_fault(self, fault_id: str) -> None:
        with self._lock:
            if self._faults.pop(fault_id, None) is None:
                raise NotFound(f"unknown fault {fault_id}")

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, operation: Operation, page_id: str | None,
                   psid: str | None) -> Fault | None:
        """The oldest armed fault for this call, counted as used once."""
        with self._lock:
            for fault in self._faults.values():
                if fault.matches(operation, page_id, psid):
                    fault.hits += 1
                    if fault.times is not None and fault.hits >= fault.times:
                        del self._faults[fault.id]
                    return fault.model_copy()
            return None

    # -- records -----------------------------------------------------------------------------

    def next_record_id(self) -> int:
        with self._lock:
            return next(self._record_ids)

    def log_request(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def requests(self, path_contains: str | None = None, page_id: str | None = None,
                 limit: int | None = None) -> list[RequestRecord]:
        with self._lock:
            found = [r.model_copy() for r in self._requests
                     if (path_contains is None or path_contains in r.path)
                     and (page_id is None or r.page_id == page_id)]
        return found[-limit:] if limit else found

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def record_sent(self, sent: SentMessage) -> None:
        with self._lock:
            self._sent.append(sent)

    def sent(self, page_id: str | None = None, psid: str | None = None) -> list[SentMessage]:
        with self._lock:
            return [m.model_copy() for m in self._sent
                    if (page_id is None or m.page_id == page_id)
                    and (psid is None or m.psid == psid)]

    def record_sender_action(self, action: SenderAction) -> None:
        with self._lock:
            self._sender_actions.append(action)

    def sender_actions(self, page_id: str | None = None,
                       psid: str | None = None) -> list[SenderAction]:
        with self._lock:
            return [a.model_copy() for a in self._sender_actions
                    if (page_id is None or a.page_id == page_id)
                    and (psid is None or a.psid == psid)]

    def store_upload(self, upload: Upload, content: bytes) -> None:
        with self._lock:
            self._uploads[upload.attachment_id] = (upload, content)

    def upload(self, attachment_id: str) -> tuple[Upload, bytes] | None:
        with self._lock:
            found = self._uploads.get(attachment_id)
            return (found[0].model_copy(), found[1]) if found else None

    def uploads(self, page_id: str | None = None) -> list[Upload]:
        with self._lock:
            return [u.model_copy() for u, _ in self._uploads.values()
                    if page_id is None or u.page_id == page_id]

    def record_delivery(self, delivery: WebhookDelivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def deliveries(self, page_id: str | None = None, kind: str | None = None,
                   app_id: str | None = None) -> list[WebhookDelivery]:
        with self._lock:
            return [d.model_copy() for d in self._deliveries
                    if (page_id is None or d.page_id == page_id)
                    and (kind is None or d.kind == kind)
                    and (app_id is None or d.app_id == app_id)]

    def clear_deliveries(self) -> None:
        with self._lock:
            self._deliveries.clear()

    # -- config ------------------------------------------------------------------------------

    def config(self) -> SimConfig:
        with self._lock:
            return self._config.model_copy()

    def update_config(self, changes: dict[str, Any]) -> SimConfig:
        with self._lock:
            self._config = SimConfig.model_validate({**self._config.model_dump(), **changes})
            return self._config.model_copy()
