"""The health rules of a page whose workstream uses Messenger's handover protocol: the app's
webhook subscription must carry what the protocol sends (``GET /api/manage/health``)."""

from __future__ import annotations

from typing import Literal

from messenger_channel.provisioning.health_rules import RuleFailure
from messenger_channel.provisioning.models import Page

Role = Literal["primary", "secondary"]


def handover_failures(page: Page, role: Role | None) -> list[RuleFailure]:
    """What the page's recorded subscription lacks for its handover ``role`` (None: the page's
    workstream does not use the protocol). A page not subscribed at all fails
    ``page_subscribed`` already."""
    if role is None or not page.subscription.subscribed:
        return []
    subject = f"page:{page.page_id}"
    fields = set(page.subscription.fields)
    failures = []
    if "messaging_handovers" not in fields:
        failures.append(RuleFailure(
            "handover_subscribed", subject,
            "the workstream uses Messenger's handover protocol but the app is not subscribed "
            "to messaging_handovers: threads passed to it or taken from it go unnoticed; "
            "subscribe the app to that field (the token check tries it)"))
    if role == "secondary" and "standby" not in fields:
        failures.append(RuleFailure(
            "handover_standby_subscribed", subject,
            "the app is a secondary receiver but not subscribed to standby: what customers "
            "write while another app holds their thread never reaches the agents; subscribe "
            "the app to standby (the token check tries it)"))
    return failures
