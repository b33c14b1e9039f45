"""``GET /api/manage/health``: provisioning, token health, subscriptions, the failing rules, and
the queues (depth, dead letters), failed sends, the bots' failures and the quarantine's count."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from messenger_channel.api.auth import ManagerDep, ServicesDep
from messenger_channel.api.manage_channels import AccountState, PageOut, account_state, page_out
from messenger_channel.api.types import ApiTime
from messenger_channel.conversations.bot_health import bot_failures
from messenger_channel.ingress.counters import UNROUTED, IngressCounters
from messenger_channel.provisioning.handover_health import Role, handover_failures
from messenger_channel.provisioning.health_rules import account_failures, page_failures
from messenger_channel.provisioning.queue_health import QueueHealth, failed_sends, queue_health
from messenger_channel.provisioning.service import ChannelSetup
from messenger_channel.services import Services
from messenger_channel.workforce.workstreams import get_workstream

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
    state: AccountState


class QueueHealthOut(BaseModel):
    name: str
    depth: int | None  # live messages; null where the backend cannot count them (Service Bus)
    dead_letters: int | None  # null when they could not be read (see problem)
    dead_letters_at_least: bool  # the count stopped at its cap
    dead_letters_by_page: dict[str, int]  # inbound only: sessions are page:psid
    problem: str | None


class HealthOut(BaseModel):
    status: str  # "ok" or "attention"
    accounts: list[AccountHealth]
    failing_rules: list[RuleFailureOut]
    queues: list[QueueHealthOut]
    failed_sends: dict[str, dict[str, int]]  # page id -> failure reason -> count
    # workstream id -> reason (timeout, unreachable, http_error, not_json, invalid_answer,
    # too_large, no_bot, no_secret) -> count; and when each workstream's bot last failed
    bot_failures: dict[str, dict[str, int]]
    bot_failed_at: dict[str, ApiTime]
    # account id -> events and bodies quarantined since it was created (GET .../quarantine)
    quarantined: dict[str, int]
    # account id -> reason (unknown_page, page_removed) -> events answered 200 but not routed:
    # for a page the account does not serve (the app subscribed to a page never added here)
    # or one being or already removed
    unrouted_events: dict[str, dict[str, int]]


@router.get("/health", response_model=HealthOut)
def manage_health(services: ServicesDep, _: ManagerDep) -> HealthOut:
    setup = ChannelSetup(services)
    accounts: list[AccountHealth] = []
    failures: list[RuleFailureOut] = []
    quarantined: dict[str, int] = {}
    unrouted: dict[str, dict[str, int]] = {}
    now = services.clock.now()
    for account in setup.tables.all_accounts():
        pages = [p for p in setup.tables.pages_of(account.id) if p.connected]
        shown = [page_out(setup, page, account) for page in pages]
        accounts.append(
            AccountHealth(id=account.id, name=account.name, app_id=account.app_id, pages=shown,
                          state=account_state(account))
        )
        counts = IngressCounters(services.tables).of(account.id)
        quarantined[account.id] = counts.get("quarantined", 0)
        unrouted[account.id] = {reason: counts[reason] for reason in UNROUTED if reason in counts}
        # A deleted account (shown until its pages are Deprovisioned) is expected to have
        # no page left; only a page whose deprovisioning does not end needs attention.
        found = [] if account.deleting else account_failures(account, pages, services.secrets)
        for page, out in zip(pages, shown, strict=True):
            found += page_failures(page, out.workstream_id, now)
            found += handover_failures(page, _handover_role(services, out.workstream_id))
        failures += [
            RuleFailureOut(rule=f.rule, subject=f.subject, message=f.message) for f in found
        ]
    queues = [_queue_out(queue) for queue in queue_health(services)]
    failures += [
        RuleFailureOut(rule="no_dead_letters", subject=f"queue:{q.name}",
                       message=f"{q.dead_letters} dead-lettered message(s); fix the cause, then "
                       f"POST /api/manage/deadletters/{q.name}/redrive")
        for q in queues if q.dead_letters
    ]
    bots = bot_failures(services)
    return HealthOut(
        status="attention" if failures else "ok", accounts=accounts, failing_rules=failures,
        queues=queues, failed_sends=failed_sends(services), bot_failures=bots.counts,
        bot_failed_at=bots.last_at, quarantined=quarantined, unrouted_events=unrouted,
    )


def _handover_role(services: Services, workstream_id: str | None) -> Role | None:
    workstream = None if workstream_id is None else get_workstream(services.tables,
                                                                    workstream_id)
    return None if workstream is None or workstream.handover is None else (
        workstream.handover.role)


def _queue_out(queue: QueueHealth) -> QueueHealthOut:
    found = queue.dead_letters
    return QueueHealthOut(
        name=queue.name,
        depth=found.depth if found else None,
        dead_letters=found.count if found else None,
        dead_letters_at_least=found.at_least if found else False,
        dead_letters_by_page=found.by_page if found else {},
        problem=queue.problem,
    )
