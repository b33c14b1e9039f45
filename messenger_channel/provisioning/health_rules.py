"""The solution health check of ``GET /api/manage/health``, like Dynamics 365's Health Hub:
each rule names what it checks, what fails, and what the operator should do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from messenger_channel.clock import isoformat
from messenger_channel.provisioning.models import Account, Page, ProvisioningState
from messenger_channel.provisioning.teardown import STUCK_AFTER, stuck
from messenger_channel.secrets import SecretNotFound, SecretStore


@dataclass(frozen=True)
class RuleFailure:
    rule: str
    subject: str  # "account:<id>" or "page:<id>"
    message: str


def account_failures(
    account: Account, pages: list[Page], secrets: SecretStore
) -> list[RuleFailure]:
    subject = f"account:{account.id}"
    failures = []
    try:
        secrets.get(account.app_secret_ref)
    except SecretNotFound:
        failures.append(
            RuleFailure(
                "account_settings_complete",
                subject,
                "the app secret is missing from the secret store; set it "
                "again with PATCH app_secret",
            )
        )
    if not any(page.connected for page in pages):
        failures.append(
            RuleFailure(
                "account_has_pages",
                subject,
                "the account has no page; add one so customers can write",
            )
        )
    return failures


def page_failures(page: Page, workstream_id: str | None, now: datetime) -> list[RuleFailure]:
    subject = f"page:{page.page_id}"
    if page.provisioning_state is ProvisioningState.DEPROVISIONING:
        # Being removed: a workstream or a subscription is no longer expected; only a delete
        # that does not finish needs the operator.
        return [RuleFailure(
            "page_deprovisioning_stuck", subject,
            f"the page has been Deprovisioning since "
            f"{isoformat(page.deprovisioning_since or page.updated_at)} (more than "
            f"{STUCK_AFTER.total_seconds() / 60:g} minutes): {page.provisioning_error}",
        )] if stuck(page, now) else []
    failures = []
    if workstream_id is None:
        failures.append(
            RuleFailure(
                "page_has_workstream",
                subject,
                "no workstream routes this page's conversations; create one",
            )
        )
    if page.provisioning_state is not ProvisioningState.RUNNING:
        failures.append(
            RuleFailure(
                "page_running",
                subject,
                f"the page is {page.provisioning_state}"
                + (f": {page.provisioning_error}" if page.provisioning_error else ""),
            )
        )
    if page.token_health.status not in ("healthy", "unknown"):
        failures.append(
            RuleFailure(
                "token_healthy", subject, page.token_health.problem or page.token_health.status
            )
        )
    elif page.token_health.problem:  # healthy, but the 60-day rotation is due
        failures.append(RuleFailure("token_rotated", subject, page.token_health.problem))
    if page.provisioning_state is ProvisioningState.RUNNING and not page.subscription.subscribed:
        failures.append(
            RuleFailure(
                "page_subscribed",
                subject,
                page.subscription.problem or "the app is not subscribed to the page's webhooks",
            )
        )
    return failures
