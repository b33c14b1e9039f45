"""How a page's deprovisioning ends, whatever Facebook answers: pure decisions, no I/O.

Deleting a page asks Facebook to unsubscribe the account's app from it (``DELETE
/{page-id}/subscribed_apps`` with the page's token). A page stays ``Deprovisioning`` only while
that may still succeed; it always ends ``Deprovisioned``, its token deleted:

======================================= ===================================================
Facebook's answer                       the page
======================================= ===================================================
success                                 ``Deprovisioned``
190 / 102: the token is dead            ``Deprovisioned`` at once, with the reason: nobody
                                        can ask Facebook with that token any more
any other refusal: permission (10,      ``Deprovisioning``, with the reason; each token check
200-299), rate limit, 5xx, no answer    tries again; after ``MAX_ATTEMPTS`` refusals or
                                        ``MAX_DURATION`` since the delete, ``Deprovisioned``
                                        with the reason
======================================= ===================================================

A permission refusal is retried too, a few times: a page admin can restore the role or the
permission the token relies on meanwhile, and then the app leaves the page cleanly. A page
that was released without unsubscribing says so, and what the operator can do about it.
``GET /api/manage/health`` reports a page still ``Deprovisioning`` ``STUCK_AFTER`` its delete.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from messenger_channel.clock import isoformat
from messenger_channel.facebook.graph_errors import GraphError
from messenger_channel.provisioning.models import Page, ProvisioningState

# The delete's own attempt and three token checks: about 18 hours at the default schedule
# (every 6 hours), within MAX_DURATION.
MAX_ATTEMPTS = 4
MAX_DURATION = timedelta(hours=24)
# A delete normally finishes in its own request; one still pending this long is reported.
STUCK_AFTER = timedelta(minutes=15)

REMOVE_BY_HAND = ("if the app still appears in the page's settings (Business integrations), "
                   "remove it there")


@dataclass(frozen=True)
class AfterRefusal:
    """What a refused unsubscribe leads to: ``released`` (``Deprovisioned``) or not yet."""

    released: bool
    reason: str


def after_refusal(error: GraphError, *, attempts: int, since: datetime,
                  now: datetime) -> AfterRefusal:
    """``attempts`` counts the refused attempts, this one included; ``since``: the delete."""
    if error.token_invalid:
        return AfterRefusal(True, "the page's token is no longer valid, so Facebook could not "
                                  f"be asked to unsubscribe the app ({error.message}); "
                                  f"{REMOVE_BY_HAND}")
    deadline = since + MAX_DURATION
    if attempts >= MAX_ATTEMPTS or now >= deadline:
        return AfterRefusal(True, f"Facebook refused to unsubscribe the app {attempts} time(s) "
                                  f"since {isoformat(since)} (last: {error.message}); the page "
                                  f"was released anyway; {REMOVE_BY_HAND}")
    return AfterRefusal(False, f"Facebook refused to unsubscribe the app ({error.message}); "
                               f"attempt {attempts} of {MAX_ATTEMPTS}: the token check tries "
                               f"again and releases the page by {isoformat(deadline)} at the "
                               "latest")


def stuck(page: Page, now: datetime) -> bool:
    """Still ``Deprovisioning`` ``STUCK_AFTER`` its delete began."""
    return (page.provisioning_state is ProvisioningState.DEPROVISIONING
            and now - (page.deprovisioning_since or page.updated_at) >= STUCK_AFTER)
