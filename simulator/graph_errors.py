"""Graph API errors, worded and shaped as Graph answers them.

Messages, codes and subcodes come from Meta's error references and from real Graph answers
quoted in public code; the product classifies errors by code and subcode, so those must match.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.responses import JSONResponse

from simulator import ids

# Graph answers a failed call with HTTP 400 unless the failure is its own.
DEFAULT_STATUS = 400

# Codes whose errors Graph marks as worth retrying.
_TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 613, 1200})

_MESSAGES: dict[tuple[int, int | None], str] = {
    (2, None): "An unexpected error has occurred. Please retry your request later.",
    (4, None): "(#4) Application request limit reached",
    (10, None): "(#10) Application does not have permission for this action",
    (10, 2018278): (
        "(#10) This message is sent outside of allowed window. Learn more about the new policy "
        "here: https://developers.facebook.com/docs/messenger-platform/policy-overview"
    ),
    # A send by an app that does not control the thread (handover protocol), as Graph answered
    # it in github.com/davidchua/pymessenger/issues/93.
    (10, 2018300): "(#10) Message failed to send because another app is controlling this "
                   "thread now.",
    (100, None): "(#100) Invalid parameter",
    (100, 2018001): "(#100) No matching user found",
    (100, 2018109): "(#100) Attachment size exceeds allowable limit",
    (100, 2018218): "(#100) No profile available for this user.",
    (190, None): "Invalid OAuth access token - Cannot parse access token",
    (190, 458): "Error validating access token: The user has not authorized application.",
    (190, 460): (
        "Error validating access token: The session has been invalidated because the user "
        "changed their password or Facebook has changed the session for security reasons."
    ),
    (190, 463): "Error validating access token: Session has expired.",
    (190, 467): (
        "Error validating access token: The session is invalid because the user logged out."
    ),
    (200, None): "(#200) Permissions error",
    (230, None): "(#230) Requires pages_messaging permission to manage the object",
    (551, None): "(#551) This person isn't available right now.",
    (551, 1545041): "(#551) This person isn't available right now.",
    (613, None): "(#613) Calls to this api have exceeded the rate limit.",
    (1200, None): "(#1200) Temporary send message failure. Please try again later",
}


def default_message(code: int, subcode: int | None) -> str:
    return (_MESSAGES.get((code, subcode)) or _MESSAGES.get((code, None))
            or f"(#{code}) Simulated Graph API error")


class GraphError(Exception):
    """A Graph error answer: raise it anywhere in a Graph handler."""

    def __init__(
        self,
        code: int,
        subcode: int | None = None,
        message: str | None = None,
        *,
        error_type: str = "OAuthException",
        status: int = DEFAULT_STATUS,
    ) -> None:
        self.code = code
        self.subcode = subcode
        self.message = message or default_message(code, subcode)
        self.error_type = error_type
        self.status = status
        super().__init__(self.message)

    def body(self) -> dict[str, object]:
        error: dict[str, object] = {"message": self.message, "type": self.error_type,
                                    "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.code in _TRANSIENT_CODES:
            error["is_transient"] = True
        error["fbtrace_id"] = ids.fbtrace_id()
        return {"error": error}

    def response(self) -> JSONResponse:
        headers = {}
        if self.code == 190:
            # Graph repeats token errors in the OAuth 2 bearer-token challenge header.
            headers["WWW-Authenticate"] = (
                f'OAuth "Facebook Platform" "invalid_token" "{self.message}"'
            )
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def invalid_param(message: str) -> GraphError:
    return GraphError(100, message=f"(#100) {message}")


def token_missing() -> GraphError:
    return GraphError(104, message="An access token is required to request this resource.")


def token_unknown() -> GraphError:
    return GraphError(190)


def token_expired(expired_at_s: int, now_s: int) -> GraphError:
    return GraphError(190, 463, expired_message(expired_at_s, now_s))


def expired_message(expired_at_s: int, now_s: int) -> str:
    return (f"Error validating access token: Session has expired on {_fb_date(expired_at_s)}. "
            f"The current time is {_fb_date(now_s)}.")


def _fb_date(epoch_s: int) -> str:
    # Graph writes Pacific time; UTC keeps tests independent of the machine's zone.
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")


def unknown_path(rest: str) -> GraphError:
    return GraphError(2500, message=f"Unknown path components: {rest}")


def unsupported(method: str, object_id: str) -> GraphError:
    """Graph's answer for an id that does not exist or is not visible with this token."""
    return GraphError(
        100,
        33,
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, "
        "cannot be loaded due to missing permissions, or does not support this operation. "
        "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        error_type="GraphMethodException",
    )


def nonexisting_field(field: str, node_type: str) -> GraphError:
    return invalid_param(f"Tried accessing nonexisting field ({field}) on node type ({node_type})")
