"""The timer-triggered token check: finish pending deprovisioning and deletions, and refresh
each page's token health from ``debug_token``. One page's failure never stops the others."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from messenger_channel.provisioning.models import Page, ProvisioningState
from messenger_channel.provisioning.service import ChannelSetup
from messenger_channel.services import Services

log = logging.getLogger(__name__)

# Bounded so a few hundred pages never exceed Graph's per-app call rate in one burst.
CONCURRENT_CHECKS = 4


@dataclass
class TokenCheckReport:
    checked: int = 0
    deprovisioned: int = 0
    failed: list[str] = field(default_factory=list)


def run_token_check(services: Services) -> TokenCheckReport:
    setup = ChannelSetup(services)
    report = TokenCheckReport()
    pages = [p for p in setup.tables.all_pages() if p.connected]
    with ThreadPoolExecutor(CONCURRENT_CHECKS, thread_name_prefix="token-check") as pool:
        outcomes = list(pool.map(lambda page: _check_page(setup, page), pages))
    for page, outcome in zip(pages, outcomes, strict=True):
        if outcome is None:
            report.failed.append(page.page_id)
        elif outcome.provisioning_state is ProvisioningState.DEPROVISIONED:
            report.deprovisioned += 1
        else:
            report.checked += 1
    for account in setup.tables.all_accounts():
        if account.deleting:
            setup.finish_account_deletion(account)
    log.info(
        "token check done",
        extra={
            "checked": report.checked,
            "deprovisioned": report.deprovisioned,
            "failed": len(report.failed),
        },
    )
    return report


def _check_page(setup: ChannelSetup, page: Page) -> Page | None:
    try:
        if page.provisioning_state is ProvisioningState.DEPROVISIONING:
            return setup.retry_deprovisioning(page)
        return setup.refresh_token_health(page)
    except Exception:
        log.exception("token check failed for a page", extra={"page_id": page.page_id})
        return None
