"""A Page token's health, from Graph's ``debug_token`` answer (statuses as API.md defines them)."""

from __future__ import annotations

from datetime import datetime, timedelta

from messenger_channel.facebook.graph import TokenDebugInfo
from messenger_channel.facebook.graph_errors import GraphError
from messenger_channel.provisioning.models import TokenHealth

# What the product needs: sending messages, and subscribing the app to the Page's webhooks.
REQUIRED_SCOPES = ("pages_messaging", "pages_manage_metadata")
# Graph's subcode for an expired session (error 190/463).
EXPIRED_SUBCODE = 463
UNHEALTHY = frozenset({"expired", "invalid", "missing_permission"})
# Microsoft's advice for the Facebook channel: refresh Page tokens on a 60-day schedule, since
# even a never-expiring token can be invalidated (a password change, a removed admin...).
ROTATION_INTERVAL = timedelta(days=60)


def _expired(base: TokenHealth) -> TokenHealth:
    return base.model_copy(
        update={
            "status": "expired",
            "problem": "the Page access token has expired; create a new one and rotate it",
        }
    )


def _invalid(base: TokenHealth, reason: str) -> TokenHealth:
    return base.model_copy(
        update={
            "status": "invalid",
            "problem": f"Facebook says the Page access token is not valid ({reason}); "
            "create a new one and rotate it",
        }
    )


def refused_token(error: GraphError, now: datetime) -> TokenHealth:
    """Health from a 190 that a call made with the token itself received."""
    base = TokenHealth(checked_at=now)
    return _expired(base) if error.subcode == EXPIRED_SUBCODE else _invalid(base, error.message)


def assess_token(
    info: TokenDebugInfo, *, now: datetime, warning_days: int, rotated_at: datetime | None
) -> TokenHealth:
    expires_at = info.expires_at
    base = TokenHealth(
        expires_at=expires_at,
        data_access_expires_at=info.data_access_expires_at,
        scopes=sorted(info.scopes),
        checked_at=now,
        rotated_at=rotated_at,
    )
    expired = expires_at is not None and expires_at <= now
    if not info.is_valid:
        subcode = info.error.subcode if info.error is not None else None
        if expired or subcode == EXPIRED_SUBCODE:
            return _expired(base)
        return _invalid(base, info.error.message if info.error is not None else "no reason given")
    missing = [scope for scope in REQUIRED_SCOPES if scope not in info.scopes]
    if missing:
        return base.model_copy(
            update={
                "status": "missing_permission",
                "problem": f"the token lacks {', '.join(missing)}; grant the permission to the app "
                "and create a new Page access token",
            }
        )
    if expired:
        return _expired(base)
    if expires_at is not None and expires_at - now <= timedelta(days=warning_days):
        return base.model_copy(
            update={
                "status": "expiring",
                "problem": f"the Page access token expires on {expires_at.date().isoformat()}; "
                "rotate it before then",
            }
        )
    return base.model_copy(update={"status": "healthy"})


def with_rotation_reminder(health: TokenHealth, *, since: datetime, now: datetime) -> TokenHealth:
    """A never-expiring, healthy token gets its rotation date (``since`` is its last rotation,
    or the page's creation); past it, the problem says so, while the status stays ``healthy``
    because Graph still accepts the token."""
    if health.status != "healthy" or health.expires_at is not None:
        return health
    due = since + ROTATION_INTERVAL
    problem = (
        f"the Page access token has not been rotated since {since.date().isoformat()}; "
        "create a new one and rotate it (60-day schedule)"
        if due <= now
        else None
    )
    return health.model_copy(update={"rotation_due_at": due, "problem": problem})
