"""Graph API errors: parsed from Graph's envelope, classified, and free of secrets.

Graph answers a failed call with ``{"error": {"message", "type", "code", "error_subcode"?,
"is_transient"?, "fbtrace_id"}}``. Callers act on what the error means, not on its numbers:

================== =================================================== ========================
kind               Graph answer                                        failure_reason (API.md)
================== =================================================== ========================
token_invalid      code 190 (any subcode), 102                         page_token_invalid
user_unavailable   code 551; subcode 1545041 (with 551 or 200);        customer_unavailable
                   10/2018108 ("isn't receiving messages from you")
outside_window     10/2018278, 10/2018065 (outside the allowed window) outside_messaging_window
no_matching_user   100/2018001                                         no_matching_user
thread_not_owned   10/2018300 (another app controls the thread: the    thread_owned_by_
                   handover protocol)                                  another_app
rate_limited       codes 4, 17, 32, 341, 613, 80001 (Pages),           rate_limited
                   80006 (Messenger); HTTP 429
permission_missing codes 3, 10 (other subcodes), 200-299 (230          facebook_error
                   included); subcode 2018028 (app not reviewed)
transient          codes 1, 2, 1200; is_transient; HTTP 5xx; no        facebook_error
                   answer (timeout, connection): GraphUnavailable
other              anything else: 100 bad parameter, 100/2018218       facebook_error
                   no profile, 100/2018109 too large...
================== =================================================== ========================

The rows are checked top to bottom: 1545041 is a person who cannot be reached (often one who
blocked the Page), not a closed window, whatever code carries it; a rate limit that Graph also
marks ``is_transient`` is a rate limit.

No secret may reach a message, ``str()``, ``repr()`` or a log line: Graph's own message is kept,
but the secrets the caller used and anything shaped like a token are cut out of it first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Literal

# The code of a GraphError that did not come from Graph's envelope (no answer, or an answer
# that is not Graph's JSON). Graph's own codes are all positive.
NO_GRAPH_CODE = 0
# Graph's messages are short; a proxy's page is not. Enough for a person to read in a log.
MAX_MESSAGE_CHARS = 500
REDACTED = "[redacted]"

_TOKEN_CODES = frozenset({102, 190})
_UNAVAILABLE_CODES = frozenset({551})
_UNAVAILABLE_SUBCODES = frozenset({1545041})
_UNAVAILABLE_PAIRS = frozenset({(10, 2018108)})
_OUTSIDE_WINDOW_PAIRS = frozenset({(10, 2018278), (10, 2018065)})
_NO_MATCHING_USER_PAIRS = frozenset({(100, 2018001)})
# "(#10) Message failed to send because another app is controlling this thread now." (Graph's
# answer quoted in github.com/davidchua/pymessenger/issues/93).
_THREAD_NOT_OWNED_PAIRS = frozenset({(10, 2018300)})
_RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, 80001, 80006})
_PERMISSION_CODES = frozenset({3, 10, *range(200, 300)})
_PERMISSION_SUBCODES = frozenset({2018028})
_TRANSIENT_CODES = frozenset({1, 2, 1200})

_SECRET_PATTERNS = (
    # Query or form parameters that carry credentials, as a URL in some library message would.
    re.compile(r"(?i)\b(access_token|input_token|client_secret|appsecret_proof|fb_exchange_token)"
               r"=[^&\s'\"]+"),
    # An Authorization header value (not the words that follow "OAuth" in Graph's messages).
    re.compile(r"\b(Bearer|OAuth)\s+[A-Za-z0-9_\-.~+/=|]{16,}"),
    # An app access token: app id, a bar, then the secret or client token.
    re.compile(r"\b\d{5,}\|[A-Za-z0-9_\-]{8,}"),
    # User and Page tokens start with EAA; older ones with CAA.
    re.compile(r"\b[EC]AA[A-Za-z0-9]{16,}"),
    # Any other long opaque run of token characters (fbtrace ids and ids are much shorter).
    re.compile(r"[A-Za-z0-9_\-]{40,}"),
)


class GraphErrorKind(StrEnum):
    TOKEN_INVALID = "token_invalid"  # noqa: S105  (a kind of error, not a secret)
    USER_UNAVAILABLE = "user_unavailable"
    OUTSIDE_WINDOW = "outside_window"
    NO_MATCHING_USER = "no_matching_user"
    THREAD_NOT_OWNED = "thread_not_owned"
    RATE_LIMITED = "rate_limited"
    PERMISSION_MISSING = "permission_missing"
    TRANSIENT = "transient"
    OTHER = "other"


class FailureReason(StrEnum):
    """An outbound message's ``failure_reason`` in the agent API (those Graph can cause)."""

    PAGE_TOKEN_INVALID = "page_token_invalid"  # noqa: S105  (a reason, not a secret)
    PAGE_REMOVED = "page_removed"  # not Graph's: the page left the channel meanwhile
    OUTSIDE_MESSAGING_WINDOW = "outside_messaging_window"
    CUSTOMER_UNAVAILABLE = "customer_unavailable"
    NO_MATCHING_USER = "no_matching_user"
    THREAD_OWNED_BY_ANOTHER_APP = "thread_owned_by_another_app"
    RATE_LIMITED = "rate_limited"
    FACEBOOK_ERROR = "facebook_error"


_FAILURE_REASONS = {
    GraphErrorKind.TOKEN_INVALID: FailureReason.PAGE_TOKEN_INVALID,
    GraphErrorKind.USER_UNAVAILABLE: FailureReason.CUSTOMER_UNAVAILABLE,
    GraphErrorKind.OUTSIDE_WINDOW: FailureReason.OUTSIDE_MESSAGING_WINDOW,
    GraphErrorKind.NO_MATCHING_USER: FailureReason.NO_MATCHING_USER,
    GraphErrorKind.THREAD_NOT_OWNED: FailureReason.THREAD_OWNED_BY_ANOTHER_APP,
    GraphErrorKind.RATE_LIMITED: FailureReason.RATE_LIMITED,
}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the given secrets and without anything shaped like a credential."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_keep_label, text)
    return text


def _keep_label(match: re.Match[str]) -> str:
    # "access_token=..." reads better as "access_token=[redacted]" than as "[redacted]".
    label = match.group(1) if match.re.groups else None
    if label is None:
        return REDACTED
    separator = "=" if match.group(0)[len(label)] == "=" else " "
    return f"{label}{separator}{REDACTED}"


def classify(code: int, subcode: int | None, http_status: int,
             is_transient: bool) -> GraphErrorKind:
    """What a Graph error means for the caller; the table in this module's docstring."""
    pair = (code, subcode)
    if code in _TOKEN_CODES:
        return GraphErrorKind.TOKEN_INVALID
    if (code in _UNAVAILABLE_CODES or subcode in _UNAVAILABLE_SUBCODES
            or pair in _UNAVAILABLE_PAIRS):
        return GraphErrorKind.USER_UNAVAILABLE
    if pair in _OUTSIDE_WINDOW_PAIRS:
        return GraphErrorKind.OUTSIDE_WINDOW
    if pair in _NO_MATCHING_USER_PAIRS:
        return GraphErrorKind.NO_MATCHING_USER
    if pair in _THREAD_NOT_OWNED_PAIRS:
        return GraphErrorKind.THREAD_NOT_OWNED
    if code in _RATE_LIMIT_CODES or http_status == 429:
        return GraphErrorKind.RATE_LIMITED
    if code in _PERMISSION_CODES or subcode in _PERMISSION_SUBCODES:
        return GraphErrorKind.PERMISSION_MISSING
    if code in _TRANSIENT_CODES or is_transient or http_status >= 500:
        return GraphErrorKind.TRANSIENT
    return GraphErrorKind.OTHER


class GraphError(Exception):
    """A Graph call failed. ``http_status`` is 0 when Graph never answered."""

    def __init__(
        self,
        *,
        http_status: int,
        code: int,
        message: str,
        subcode: int | None = None,
        error_type: str = "",
        fbtrace_id: str | None = None,
        is_transient: bool = False,
        secrets: Iterable[str] = (),
    ) -> None:
        self.http_status = http_status
        self.code = code
        self.subcode = subcode
        self.type = redact(error_type, secrets)[:100]
        self.message = redact(message, secrets)[:MAX_MESSAGE_CHARS]
        self.fbtrace_id = None if fbtrace_id is None else redact(fbtrace_id, secrets)[:100]
        self.is_transient = is_transient
        super().__init__(self.message)

    @property
    def kind(self) -> GraphErrorKind:
        return classify(self.code, self.subcode, self.http_status, self.is_transient)

    @property
    def token_invalid(self) -> bool:
        return self.kind is GraphErrorKind.TOKEN_INVALID

    @property
    def user_unavailable(self) -> bool:
        return self.kind is GraphErrorKind.USER_UNAVAILABLE

    @property
    def outside_window(self) -> bool:
        return self.kind is GraphErrorKind.OUTSIDE_WINDOW

    @property
    def no_matching_user(self) -> bool:
        return self.kind is GraphErrorKind.NO_MATCHING_USER

    @property
    def thread_not_owned(self) -> bool:
        return self.kind is GraphErrorKind.THREAD_NOT_OWNED

    @property
    def rate_limited(self) -> bool:
        return self.kind is GraphErrorKind.RATE_LIMITED

    @property
    def permission_missing(self) -> bool:
        return self.kind is GraphErrorKind.PERMISSION_MISSING

    @property
    def transient(self) -> bool:
        return self.kind is GraphErrorKind.TRANSIENT

    @property
    def retryable(self) -> bool:
        """Worth trying again later, unchanged: Graph was busy, throttling or unreachable."""
        return self.kind in (GraphErrorKind.TRANSIENT, GraphErrorKind.RATE_LIMITED)

    @property
    def failure_reason(self) -> FailureReason:
        return _FAILURE_REASONS.get(self.kind, FailureReason.FACEBOOK_ERROR)

    def __str__(self) -> str:
        code = f"{self.code}/{self.subcode}" if self.subcode is not None else str(self.code)
        status = f"HTTP {self.http_status}" if self.http_status else "no answer"
        trace = f" [fbtrace_id={self.fbtrace_id}]" if self.fbtrace_id else ""
        return f"Graph error {code} ({self.type or 'unknown'}, {status}): {self.message}{trace}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(http_status={self.http_status}, code={self.code}, "
                f"subcode={self.subcode}, type={self.type!r}, kind={self.kind.value!r}, "
                f"fbtrace_id={self.fbtrace_id!r}, message={self.message!r})")


UnavailableCause = Literal["timeout", "connection", "bad_answer"]


class GraphUnavailable(GraphError):
    """Graph gave no usable answer: a timeout, a connection failure, or a body that is not its
    JSON (a load balancer's 5xx page). Always transient; ``code`` is ``NO_GRAPH_CODE``.

    After a timeout the call may still have taken effect (a message may have gone out)."""

    def __init__(self, cause: UnavailableCause, message: str, *, http_status: int = 0) -> None:
        self.cause = cause
        super().__init__(http_status=http_status, code=NO_GRAPH_CODE, message=message,
                         error_type="GraphUnavailable", is_transient=True)


def error_from_response(http_status: int, body: bytes, *,
                        secrets: Iterable[str] = ()) -> GraphError:
    """The error of a failed Graph answer. Never raises: whatever the body, a GraphError."""
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        document = None
    envelope = document.get("error") if isinstance(document, dict) else None
    if not isinstance(envelope, dict):
        return _not_graph_json(http_status)
    code = _integer(envelope.get("code"))
    return GraphError(
        http_status=http_status,
        code=NO_GRAPH_CODE if code is None else code,
        subcode=_integer(envelope.get("error_subcode")),
        message=_text(envelope.get("message")) or f"HTTP {http_status} without a message",
        error_type=_text(envelope.get("type")),
        fbtrace_id=_text(envelope.get("fbtrace_id")) or None,
        is_transient=envelope.get("is_transient") is True,
        secrets=secrets,
    )


def _not_graph_json(http_status: int) -> GraphError:
    message = f"Graph answered HTTP {http_status} with a body that is not its JSON error"
    if http_status >= 500:
        return GraphUnavailable("bad_answer", message, http_status=http_status)
    return GraphError(http_status=http_status, code=NO_GRAPH_CODE, message=message,
                      error_type="UnexpectedAnswer")


def _integer(value: Any) -> int | None:
    # Graph sends numbers; a string of digits is tolerated, anything else is no code at all.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
