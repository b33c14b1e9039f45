"""Meta's ``signed_request`` (the data deletion callback's form field): checked, then read.

``<base64url signature>.<base64url JSON>``: the signature is HMAC-SHA256 of the JSON part *as
sent* (its base64url text) with the app secret. Checked in this order, each failure a
``BadSignedRequest`` whose reason names the rule, never the data: the shape, the signature
(constant-time), then the JSON, its ``algorithm`` (``HMAC-SHA256`` only), its ``issued_at``
(not older than ``MAX_AGE``, not from the future beyond ``CLOCK_SKEW``) and its ``user_id``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ALGORITHM = "HMAC-SHA256"
MAX_AGE = timedelta(hours=1)
CLOCK_SKEW = timedelta(minutes=5)
MAX_LENGTH = 8192
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_USER_ID = re.compile(r"[0-9]{1,64}")


class BadSignedRequest(ValueError):
    """The request is not one Meta signed for this app, now."""


@dataclass(frozen=True)
class SignedRequest:
    user_id: str  # the app-scoped user id
    issued_at: datetime


def b64url_decode(text: str) -> bytes:
    if not _BASE64URL.fullmatch(text):
        raise BadSignedRequest("not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise BadSignedRequest("not base64url") from None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign(payload: dict[str, object], app_secret: str) -> str:
    """A signed request as Meta makes one (the simulator's and the tests' side)."""
    body = b64url_encode(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(app_secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{b64url_encode(signature)}.{body}"


def parse_signed_request(raw: str, app_secret: str, now: datetime) -> SignedRequest:
    if not isinstance(raw, str) or len(raw) > MAX_LENGTH or raw.count(".") != 1:
        raise BadSignedRequest("not <signature>.<payload>")
    encoded_signature, body = raw.split(".")
    signature = b64url_decode(encoded_signature)
    b64url_decode(body)  # the shape, before any work on it
    expected = hmac.new(app_secret.encode(), body.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise BadSignedRequest("the signature does not match")
    try:
        payload = json.loads(b64url_decode(body))
    except (ValueError, UnicodeDecodeError):
        raise BadSignedRequest("the payload is not JSON") from None
    if not isinstance(payload, dict):
        raise BadSignedRequest("the payload is not a JSON object")
    algorithm = payload.get("algorithm")
    if not isinstance(algorithm, str) or algorithm.upper() != ALGORITHM:
        raise BadSignedRequest("the algorithm is not HMAC-SHA256")
    issued = payload.get("issued_at")
    if isinstance(issued, bool) or not isinstance(issued, int):
        raise BadSignedRequest("issued_at is missing")
    try:
        issued_at = datetime.fromtimestamp(issued, UTC)
    except (OverflowError, OSError, ValueError):
        raise BadSignedRequest("issued_at is not a time") from None
    if issued_at < now - MAX_AGE or issued_at > now + CLOCK_SKEW:
        raise BadSignedRequest("issued_at is too old or in the future")
    user_id = payload.get("user_id")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        raise BadSignedRequest("user_id is missing")
    return SignedRequest(user_id=user_id, issued_at=issued_at)
