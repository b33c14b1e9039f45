"""Meta's webhook signature: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, body)>``.

Always over the raw bytes as received: Meta signs the body as sent (non-ASCII escaped as
``\\u00e4``), so a re-serialised body would not match.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="


def sign(app_secret: str, body: bytes) -> str:
    return PREFIX + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_valid(header: str | None, app_secret: str, body: bytes) -> bool:
    """Constant-time check of the header against the body; any malformed header is invalid."""
    if not header or not header.startswith(PREFIX):
        return False
    given = header[len(PREFIX) :].strip().lower().encode("ascii", errors="replace")
    expected = sign(app_secret, body)[len(PREFIX) :].encode("ascii")
    return hmac.compare_digest(given, expected)
