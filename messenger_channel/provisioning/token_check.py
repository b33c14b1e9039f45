"""The timer-triggered check (``TOKEN_CHECK_SCHEDULE``): finish pending deprovisioning and
deletions; for every page, the token (``debug_token``) and the webhook subscription
(``subscribed_apps``, re-subscribing when Meta dropped it); then the dead letters; alerts on
what changed.

Pages are checked concurrently with a bound. One page's failure never stops the others. When
Graph rate-limits (codes 4, 17, 32, 613, 80001...), no further page is started: the rest are
reported ``deferred`` and, being the least recently checked, go first in the next run.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from messenger_channel.provisioning.alerts import dead_letter_observation
from messenger_channel.provisioning.models import Page, ProvisioningState
from messenger_channel.provisioning.queue_health import queue_health
from messenger_channel.provisioning.service import ChannelSetup, GraphBusy
from messenger_channel.services import Services

log = logging.getLogger(__name__)

# Bounded so a few hundred pages never exceed Graph's per-app call rate in one burst.
CONCURRENT_CHECKS = 8

# "deprovisioning": an unsubscribe refused again, the page not yet released (``teardown``).
Outcome = Literal["checked", "deprovisioning", "deprovisioned", "deferred", "failed"]


@dataclass
class TokenCheckReport:
    checked: int = 0
    deprovisioned: int = 0
    failed: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    alerts: int = 0
    # Every page's outcome, and its token status when checked.
    pages: dict[str, str] = field(default_factory=dict)


def run_token_check(services: Services) -> TokenCheckReport:
    setup = ChannelSetup(services)
    report = TokenCheckReport()
    pages = sorted((p for p in setup.tables.all_pages() if p.connected), key=_least_recent)
    busy = threading.Event()
    with ThreadPoolExecutor(CONCURRENT_CHECKS, thread_name_prefix="token-check") as pool:
        outcomes = list(pool.map(lambda page: _check_page(setup, page, busy), pages))
    for page, (outcome, checked, alerts) in zip(pages, outcomes, strict=True):
        report.alerts += alerts
        report.pages[page.page_id] = (checked.token_health.status if outcome == "checked"
                                      and checked is not None else outcome)
        if outcome in ("checked", "deprovisioning"):
            report.checked += 1
        elif outcome == "deprovisioned":
            report.deprovisioned += 1
        elif outcome == "deferred":
            report.deferred.append(page.page_id)
        else:
            report.failed.append(page.page_id)
    for account in setup.tables.all_accounts():
        if account.deleting:
            setup.finish_account_deletion(account)
    report.alerts += _check_queues(services, setup)
    log.info(
        "token check done",
        extra={
            "checked": report.checked,
            "deprovisioned": report.deprovisioned,
            "failed": len(report.failed),
            "deferred": len(report.deferred),
            "alerts": report.alerts,
        },
    )
    return report


def _least_recent(page: Page) -> datetime:
    return page.token_health.checked_at or datetime.min.replace(tzinfo=UTC)


def _check_page(
    setup: ChannelSetup, page: Page, busy: threading.Event
) -> tuple[Outcome, Page | None, int]:
    if busy.is_set():
        return "deferred", None, 0
    try:
        if page.provisioning_state is ProvisioningState.DEPROVISIONING:
            done = setup.retry_deprovisioning(page)
            if done.provisioning_state is ProvisioningState.DEPROVISIONED:
                return "deprovisioned", done, 0
            return "deprovisioning", done, 0
        checked = setup.refresh_subscription(setup.refresh_token_health(page))
        return "checked", checked, setup.alert_on(checked)
    except GraphBusy:
        busy.set()
        log.warning("Graph rate-limited the token check; the remaining pages wait for the "
                    "next run", extra={"page_id": page.page_id})
        return "deferred", None, 0
    except Exception:
        log.exception("token check failed for a page", extra={"page_id": page.page_id})
        return "failed", None, 0


def _check_queues(services: Services, setup: ChannelSetup) -> int:
    alerts = 0
    for queue in queue_health(services):
        if queue.dead_letters is None:
            log.warning("dead letters not readable",
                        extra={"queue": queue.name, "problem": queue.problem})
            continue
        try:
            alerts += setup.alerts.observe(
                dead_letter_observation(queue.name, queue.dead_letters.count))
        except Exception:
            log.exception("dead-letter alert not recorded", extra={"queue": queue.name})
    return alerts
