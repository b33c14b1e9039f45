"""Identifiers shaped like Facebook's: tests only compare them, the product stores them."""

from __future__ import annotations

import secrets
import string


def message_id() -> str:
    """A Send API / webhook message id (``m_`` and URL-safe characters, like Graph's)."""
    return "m_" + secrets.token_urlsafe(48)


def numeric_id(digits: int = 16) -> str:
    """A numeric Graph object id (attachment ids, generated PSIDs)."""
    first = secrets.choice("123456789")
    return first + "".join(secrets.choice(string.digits) for _ in range(digits - 1))


def fbtrace_id() -> str:
    return secrets.token_urlsafe(16)


def page_token() -> str:
    """A page access token; real ones start with ``EAA`` too."""
    return "EAA" + secrets.token_urlsafe(64)
