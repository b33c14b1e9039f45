"""A synchronous Graph API client: token checks, provisioning, profiles, the Send API, uploads.

One ``GraphClient`` per process, shared by threads: its ``requests.Session`` pools connections,
and no call changes the session. Failures raise ``GraphError`` (see ``graph_errors``), never a
``requests`` exception. The client does not retry: the sender retries in order through its
queue, and only it knows whether a second send would duplicate a message.

Tokens travel in the ``Authorization: Bearer`` header, which Graph accepts in place of the
``access_token`` parameter, so they never appear in a URL that a library logs. The one
exception is ``debug_token``'s ``input_token``, which Graph reads only from the query string;
the client redacts it from urllib3's request log lines.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from http.cookiejar import DefaultCookiePolicy
from types import TracebackType
from typing import Any, Literal, TypeVar

import requests
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, field_validator
from requests.adapters import HTTPAdapter

from messenger_channel import metering
from messenger_channel.facebook.graph_errors import (
    NO_GRAPH_CODE,
    GraphError,
    GraphUnavailable,
    error_from_response,
    redact,
)
from messenger_channel.telemetry import metrics, spans

logger = logging.getLogger(__name__)

SenderAction = Literal["typing_on", "typing_off", "mark_seen"]
AttachmentType = Literal["image", "audio", "video", "file"]

# Page ids, PSIDs and app ids are numeric; checking them keeps a path from being rewritten.
_GRAPH_ID = re.compile(r"[0-9]{1,64}")
# A token is printable ASCII without spaces; anything else would be refused in a header.
_TOKEN = re.compile(r"[\x21-\x7e]+")
_FIELD = re.compile(r"[a-z_]{1,64}")
# The threads of a Functions worker share the pool; beyond this, connections are not kept.
_POOL_SIZE = 32
# Graph keeps at most this much of a handover call's metadata string.
MAX_HANDOVER_METADATA = 1000
# The endpoint each operation calls, as the operation counters name them.
_ENDPOINTS = {"send_message": "send", "sender_action": "send", "user_profile": "profile",
              "upload_attachment": "upload", "debug_token": "debug_token", "me": "me",
              "subscribe_app": "subscribed_apps", "subscribed_apps": "subscribed_apps",
              "unsubscribe_app": "subscribed_apps", "pass_thread_control": "handover",
              "take_thread_control": "handover", "request_thread_control": "handover",
              "thread_owner": "handover", "secondary_receivers": "handover"}


class _GraphModel(BaseModel):
    # Graph adds fields over time; ids are strings, but a number is accepted as one.
    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)


class GranularScope(_GraphModel):
    scope: str
    target_ids: list[str] = Field(default_factory=list)


class TokenDebugError(_GraphModel):
    code: int | None = None
    subcode: int | None = None
    message: str = ""

    @field_validator("message")
    @classmethod
    def _no_secret(cls, value: str) -> str:
        return redact(value)


class TokenDebugInfo(_GraphModel):
    """``debug_token``'s ``data``. ``expires_at`` None: the token never expires (Graph's 0)."""

    app_id: str | None = None
    type: str | None = None
    is_valid: bool = False
    expires_at: datetime | None = None
    data_access_expires_at: datetime | None = None
    scopes: list[str] = Field(default_factory=list)
    granular_scopes: list[GranularScope] = Field(default_factory=list)
    profile_id: str | None = None
    error: TokenDebugError | None = None

    @field_validator("expires_at", "data_access_expires_at", mode="before")
    @classmethod
    def _unix_seconds(cls, value: Any) -> Any:
        # Graph gives Unix seconds, 0 for "never"; pydantic alone would read big numbers as ms.
        if isinstance(value, bool) or not isinstance(value, int):
            return value
        if value == 0:
            return None
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("not a Unix time") from None


class PageIdentity(_GraphModel):
    id: str
    name: str = ""


class SubscribedApp(_GraphModel):
    id: str
    name: str = ""
    subscribed_fields: list[str] = Field(default_factory=list)


class SendResult(_GraphModel):
    recipient_id: str
    message_id: str


class _DebugTokenAnswer(_GraphModel):
    data: TokenDebugInfo


class _SubscribedAppsAnswer(_GraphModel):
    # A Page has a handful of apps: Graph's paging never matters here.
    data: list[SubscribedApp]


class _Success(_GraphModel):
    success: Literal[True]


class _SenderActionAnswer(_GraphModel):
    recipient_id: str


class _UploadAnswer(_GraphModel):
    attachment_id: str


class _ThreadOwner(_GraphModel):
    app_id: str


class _ThreadOwnerItem(_GraphModel):
    thread_owner: _ThreadOwner


class _ThreadOwnerAnswer(_GraphModel):
    # Empty while the thread is idle (no app controls it).
    data: list[_ThreadOwnerItem]


class _Handover(_GraphModel):
    """pass/take/request answer ``{"success": true}``; newer take answers name the owner."""

    success: bool | None = None
    data: list[_ThreadOwnerItem] | None = None


class SecondaryReceiver(_GraphModel):
    id: str
    name: str = ""


class _SecondaryReceiversAnswer(_GraphModel):
    data: list[SecondaryReceiver]


class PageScopedId(_GraphModel):
    id: str  # the PSID
    page: PageIdentity


class _Cursors(_GraphModel):
    after: str | None = None


class _Paging(_GraphModel):
    cursors: _Cursors = _Cursors()
    next: str | None = None


class _IdsForPagesAnswer(_GraphModel):
    data: list[PageScopedId]
    paging: _Paging | None = None


class _JsonObject(RootModel[dict[str, Any]]):
    """A profile: whichever of the requested fields Graph chose to give."""


_Model = TypeVar("_Model", bound=BaseModel)


class GraphClient:
    """Graph at ``base_url`` (``FACEBOOK_GRAPH_URL``, version included)."""

    def __init__(self, base_url: str, *, session: requests.Session | None = None,
                 timeout: float = 10.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._owns_session = session is None
        self._session = session or _new_session()
        self._timeout = timeout
        _redact_urllib3_logs()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    # -- tokens and provisioning -------------------------------------------------------------

    def debug_token(self, input_token: str, *, app_id: str, app_secret: str) -> TokenDebugInfo:
        """What Graph knows of ``input_token``, asked with the app token ``app_id|app_secret``.
        An invalid token is an answer (``is_valid`` False, ``error``), not an exception."""
        _check_token(input_token)
        answer = self._call(
            "debug_token", "GET", "debug_token", _DebugTokenAnswer,
            token=f"{_graph_id(app_id, 'app_id')}|{app_secret}",
            secrets=(input_token, app_secret), params={"input_token": input_token},
        )
        return answer.data

    def me(self, token: str) -> PageIdentity:
        """The page a Page access token belongs to."""
        return self._call("me", "GET", "me", PageIdentity, token=token,
                          params={"fields": "id,name"})

    def subscribe_app(self, page_id: str, token: str, fields: Sequence[str]) -> None:
        """Subscribe the token's app to the page's webhook ``fields`` (replacing the list)."""
        self._call("subscribe_app", "POST", f"{_graph_id(page_id, 'page_id')}/subscribed_apps",
                   _Success, token=token,
                   params={"subscribed_fields": ",".join(_field_names(fields))})

    def subscribed_apps(self, page_id: str, token: str) -> list[SubscribedApp]:
        answer = self._call("subscribed_apps", "GET",
                            f"{_graph_id(page_id, 'page_id')}/subscribed_apps",
                            _SubscribedAppsAnswer, token=token)
        return answer.data

    def unsubscribe_app(self, page_id: str, token: str) -> None:
        """Remove the token's app from the page; Graph answers success when it was not there."""
        self._call("unsubscribe_app", "DELETE",
                   f"{_graph_id(page_id, 'page_id')}/subscribed_apps", _Success, token=token)

    def ids_for_pages(self, app_scoped_user_id: str, *, app_id: str,
                      app_secret: str) -> list[PageScopedId]:
        """The PSIDs of an app-scoped user on the Pages of the app's business (Graph's ID
        matching API, ``GET /{asid}/ids_for_pages`` with the app token), every page of them."""
        token = f"{_graph_id(app_id, 'app_id')}|{app_secret}"
        found: list[PageScopedId] = []
        after: str | None = None
        while True:
            params = {"limit": "100", **({"after": after} if after else {})}
            answer = self._call("ids_for_pages", "GET",
                                f"{_graph_id(app_scoped_user_id, 'user_id')}/ids_for_pages",
                                _IdsForPagesAnswer, token=token, secrets=(app_secret,),
                                params=params)
            found += answer.data
            after = answer.paging.cursors.after if answer.paging and answer.paging.next else None
            if not after or not answer.data:
                return found

    # -- messaging ---------------------------------------------------------------------------

    def send_message(self, page_id: str, token: str, request: Mapping[str, Any]) -> SendResult:
        """POST a Send API body built by the caller (recipient, messaging_type, message...)."""
        return self._call("send_message", "POST", f"{_graph_id(page_id, 'page_id')}/messages",
                          SendResult, token=token, json=dict(request))

    def sender_action(self, page_id: str, token: str, psid: str, action: SenderAction) -> None:
        body = {"recipient": {"id": _graph_id(psid, "psid")}, "sender_action": action}
        self._call("sender_action", "POST", f"{_graph_id(page_id, 'page_id')}/messages",
                   _SenderActionAnswer, token=token, json=body)

    def user_profile(self, psid: str, token: str, fields: Sequence[str]) -> dict[str, Any]:
        """The requested profile fields Graph gives; only ``id`` without profile access."""
        answer = self._call("user_profile", "GET", _graph_id(psid, "psid"), _JsonObject,
                            token=token, params={"fields": ",".join(_field_names(fields))})
        return answer.root

    def upload_attachment(self, page_id: str, token: str, *, attachment_type: AttachmentType,
                          filename: str, content_type: str, data: bytes) -> str:
        """Upload a reusable attachment; returns its ``attachment_id``."""
        message = {"attachment": {"type": attachment_type, "payload": {"is_reusable": True}}}
        answer = self._call(
            "upload_attachment", "POST", f"{_graph_id(page_id, 'page_id')}/message_attachments",
            _UploadAnswer, token=token, data={"message": json.dumps(message)},
            files={"filedata": (filename, data, content_type)},
        )
        return answer.attachment_id

    # -- the handover protocol (Conversation Routing keeps these calls) ----------------------

    def pass_thread_control(self, page_id: str, token: str, psid: str, target_app_id: str,
                            metadata: str | None = None) -> None:
        """Give the thread with ``psid`` to ``target_app_id`` (the Page Inbox:
        263902037430900); the new owner gets a ``pass_thread_control`` webhook."""
        body: dict[str, Any] = {"recipient": {"id": _graph_id(psid, "psid")},
                                "target_app_id": _graph_id(target_app_id, "target_app_id")}
        self._handover("pass_thread_control", page_id, token, body, metadata)

    def take_thread_control(self, page_id: str, token: str, psid: str,
                            metadata: str | None = None) -> None:
        """Take the thread: allowed to the Primary Receiver, or to any app while it is idle."""
        body: dict[str, Any] = {"recipient": {"id": _graph_id(psid, "psid")}}
        self._handover("take_thread_control", page_id, token, body, metadata)

    def request_thread_control(self, page_id: str, token: str, psid: str,
                               metadata: str | None = None) -> None:
        """Ask the Primary Receiver for the thread (a Secondary Receiver's way to get it)."""
        body: dict[str, Any] = {"recipient": {"id": _graph_id(psid, "psid")}}
        self._handover("request_thread_control", page_id, token, body, metadata)

    def thread_owner(self, page_id: str, token: str, psid: str) -> str | None:
        """The app that controls the thread; None while it is idle."""
        answer = self._call("thread_owner", "GET", f"{_graph_id(page_id, 'page_id')}/thread_owner",
                            _ThreadOwnerAnswer, token=token,
                            params={"recipient": _graph_id(psid, "psid")})
        return answer.data[0].thread_owner.app_id if answer.data else None

    def secondary_receivers(self, page_id: str, token: str) -> list[SecondaryReceiver]:
        """The page's Secondary Receivers (asked by the Primary Receiver only)."""
        answer = self._call("secondary_receivers", "GET",
                            f"{_graph_id(page_id, 'page_id')}/secondary_receivers",
                            _SecondaryReceiversAnswer, token=token,
                            params={"fields": "id,name"})
        return answer.data

    def _handover(self, operation: str, page_id: str, token: str, body: dict[str, Any],
                  metadata: str | None) -> None:
        if metadata is not None:
            body["metadata"] = metadata[:MAX_HANDOVER_METADATA]
        self._call(operation, "POST", f"{_graph_id(page_id, 'page_id')}/{operation}", _Handover,
                   token=token, json=body)

    # -- the call ----------------------------------------------------------------------------

    def _call(self, operation: str, method: str, path: str, model: type[_Model], *,
              token: str, secrets: Sequence[str] = (), **request: Any) -> _Model:
        _check_token(token)
        endpoint = _ENDPOINTS.get(operation, operation)
        metering.count("graph.calls", endpoint=endpoint, graph_operation=operation)
        # A dependency span of our own (the distro's requests instrumentation is off: it would
        # record URLs); named by the operation, never by the path, which holds ids.
        with spans.run(f"graph {operation}", SpanKind.CLIENT, {
                "graph.operation": operation, "http.request.method": method}) as span:
            try:
                parsed = self._call_once(operation, method, path, model, token=token,
                                         secrets=secrets, endpoint=endpoint, **request)
            except GraphError as error:
                span.set_attributes({"outcome": "failed", "graph.error_kind": error.kind.value,
                                     "graph.code": error.code, "http.response.status_code":
                                     error.http_status or 0})
                raise
            if isinstance(parsed, SendResult):
                metrics.message_out()
                spans.annotate(facebook_message_id=parsed.message_id)
            return parsed

    def _call_once(self, operation: str, method: str, path: str, model: type[_Model], *,
                   token: str, secrets: Sequence[str], endpoint: str, **request: Any) -> _Model:
        started = time.monotonic()
        outcome = self._send(method, f"{self._base_url}/{path}", token, request)
        if isinstance(outcome, GraphError):
            metering.count("graph.failures", endpoint=endpoint, graph_operation=operation)
            self._log(operation, started, outcome)
            raise outcome
        status = outcome.status_code
        if not 200 <= status < 300:
            metering.count("graph.failures", endpoint=endpoint, graph_operation=operation)
            error = error_from_response(status, outcome.content, secrets=(token, *secrets))
            self._log(operation, started, error)
            raise error
        parsed = _parse(model, outcome.content)
        if parsed is None:
            error = GraphError(http_status=status, code=NO_GRAPH_CODE,
                               error_type="UnexpectedAnswer",
                               message=f"Graph answered {operation} with an unexpected body")
            self._log(operation, started, error)
            raise error
        self._log(operation, started, None)
        return parsed

    def _send(self, method: str, url: str, token: str,
              request: dict[str, Any]) -> requests.Response | GraphUnavailable:
        # requests' exceptions carry the URL and the prepared request (its headers hold the
        # token): they are replaced, and the replacement is raised outside this handler so it
        # does not chain them.
        try:
            return self._session.request(
                method, url, headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout, allow_redirects=False, **request,
            )
        except requests.Timeout:
            return GraphUnavailable("timeout", f"Graph did not answer within {self._timeout:g} s")
        except requests.RequestException as failure:
            return GraphUnavailable("connection",
                                    f"Graph could not be reached ({type(failure).__name__})")

    @staticmethod
    def _log(operation: str, started: float, error: GraphError | None) -> None:
        context: dict[str, Any] = {
            "graph_operation": operation,
            "elapsed_ms": round((time.monotonic() - started) * 1000),
        }
        if error is not None:
            context.update(http_status=error.http_status, graph_code=error.code,
                           graph_subcode=error.subcode, graph_error_kind=error.kind.value,
                           fbtrace_id=error.fbtrace_id)
        logger.debug("graph %s %s", operation, "failed" if error else "ok", extra=context)


def _parse(model: type[_Model], content: bytes) -> _Model | None:
    """The answer as ``model``, or None when it is not (Graph changed, or a proxy spoke)."""
    try:
        return model.model_validate_json(content)
    except ValidationError:
        return None


def _new_session() -> requests.Session:
    session = requests.Session()
    # max_retries=0: a retried POST could deliver a message twice; callers decide.
    adapter = HTTPAdapter(pool_maxsize=_POOL_SIZE, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # Graph needs no cookies; refusing them keeps the shared session free of per-page state.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return session


def _check_token(token: str) -> None:
    if not _TOKEN.fullmatch(token):
        raise ValueError("the access token is empty or holds spaces or control characters")


def _graph_id(value: str, name: str) -> str:
    # The value is not echoed: a token passed in the wrong argument must not reach a log.
    if not _GRAPH_ID.fullmatch(value):
        raise ValueError(f"{name} must be a numeric Graph id")
    return value


def _field_names(fields: Sequence[str]) -> Sequence[str]:
    # A bare string is a Sequence[str] too, and would be joined letter by letter.
    if isinstance(fields, str) or not fields:
        raise ValueError("fields must be a non-empty list of field names")
    for field in fields:
        if not _FIELD.fullmatch(field):
            raise ValueError(f"{field!r} is not a Graph field name")
    return fields


class _RedactSecrets(logging.Filter):
    """Cuts credentials out of urllib3's request lines (``"GET /debug_token?input_token=..."``)
    before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _redact_urllib3_logs() -> None:
    pool_logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(existing, _RedactSecrets) for existing in pool_logger.filters):
        pool_logger.addFilter(_RedactSecrets())
