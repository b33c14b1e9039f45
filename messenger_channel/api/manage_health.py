"""``GET /api/manage/health``: provisioning, token health, subscriptions and the failing rules."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from messenger_channel.api.auth import ManagerDep, ServicesDep
from messenger_channel.api.manage_channels import PageOut, page_out
from messenger_channel.provisioning.health_rules import account_failures, page_failures
from messenger_channel.provisioning.service import ChannelSetup

router = APIRouter(prefix="/api/manage", tags=["health"])


class RuleFailureOut(BaseModel):
    rule: str
    subject: str
    message: str


class AccountHealth(BaseModel):
    id: str
    name: str
    app_id: str
    pages: list[PageOut]


class HealthOut(BaseModel):
    status: str  # "ok" or "attention"
    accounts: list[AccountHealth]
    failing_rules: list[RuleFailureOut]


@router.get("/health", response_model=HealthOut)
def manage_health(services: ServicesDep, _: ManagerDep) -> HealthOut:
    setup = ChannelSetup(services)
    accounts: list[AccountHealth] = []
    failures: list[RuleFailureOut] = []
    for account in setup.tables.all_accounts():
        if account.deleting:
            continue
        pages = [p for p in setup.tables.pages_of(account.id) if p.connected]
        shown = [page_out(setup, page, account) for page in pages]
        accounts.append(
            AccountHealth(id=account.id, name=account.name, app_id=account.app_id, pages=shown)
        )
        found = account_failures(account, pages, services.secrets)
        for page, out in zip(pages, shown, strict=True):
            found += page_failures(page, out.workstream_id)
        failures += [
            RuleFailureOut(rule=f.rule, subject=f.subject, message=f.message) for f in found
        ]
    return HealthOut(
        status="attention" if failures else "ok", accounts=accounts, failing_rules=failures
    )
