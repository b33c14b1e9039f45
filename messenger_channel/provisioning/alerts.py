"""Health alerts: on every change of a subject's health, when a count of problems rises (dead
letters, re-subscriptions), and once a day while a subject stays unhealthy; never more.

Each subject (``page:<id>:token``, ``queue:inbound:dead_letters``...) keeps its last condition
and last alert time in one entity. The alert goes out only after an ETag-guarded write of that
entity succeeded, so of two concurrent token checks exactly one alerts.

An alert is always a structured log event (``health_alert``) and, when ``ALERT_WEBHOOK_URL`` is
set, a POST of ``{"text": ...}``, a body that Teams and Slack incoming webhooks both accept.
Alert texts are built from stored problems, which are already free of secrets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests

from messenger_channel.clock import Clock, isoformat
from messenger_channel.provisioning.models import Page
from messenger_channel.provisioning.token_health import UNHEALTHY
from messenger_channel.storage.errors import AlreadyExists, ConcurrencyConflict, NotFound
from messenger_channel.storage.tables import Entity, Table, TableStore

log = logging.getLogger(__name__)

REPEAT_AFTER = timedelta(days=1)
# The alert target is outside our control: a slow one must not hold the check up.
WEBHOOK_TIMEOUT_SECONDS = 5.0
HEALTHY = "healthy"


class AlertState(Entity):
    subject: str
    condition: str
    level: int = 0
    since: datetime
    last_alert_at: datetime | None = None

    def partition_key(self) -> str:
        return "alert"

    def row_key(self) -> str:
        return self.subject


@dataclass(frozen=True)
class Observation:
    """What a check found for one subject. ``condition`` HEALTHY is the good state; ``level``
    counts problems whose rise is news in itself (dead letters, re-subscriptions)."""

    subject: str
    title: str  # who: "Page Contoso (1001)", "Queue inbound"
    condition: str
    problem: str
    action: str
    level: int = 0

    @property
    def healthy(self) -> bool:
        return self.condition == HEALTHY


class Alerts:
    def __init__(self, store: TableStore, clock: Clock, webhook_url: str | None) -> None:
        self._table: Table[AlertState] = store.table("HealthAlerts", AlertState)
        self._clock = clock
        self._webhook_url = webhook_url

    def observe(self, seen: Observation) -> bool:
        """Record what was seen; alert when it is news. True when this call alerted."""
        now = self._clock.now()
        current = self._table.get_with_etag("alert", seen.subject)
        if current is None:
            news = not seen.healthy or seen.level > 0
            state = AlertState(subject=seen.subject, condition=seen.condition, level=seen.level,
                               since=now, last_alert_at=now if news else None)
            try:
                self._table.create(state)
            except AlreadyExists:  # a concurrent check recorded it (and alerted) first
                return False
            return self._alert(seen, "new") if news else False
        old = current.entity
        changed = old.condition != seen.condition
        rose = seen.level > old.level
        due = not seen.healthy and (
            old.last_alert_at is None or now - old.last_alert_at >= REPEAT_AFTER)
        news = changed or rose or due
        if not news and seen.level == old.level:
            return False
        state = old.model_copy(update={
            "condition": seen.condition,
            "level": seen.level,
            "since": now if changed else old.since,
            "last_alert_at": now if news else old.last_alert_at,
        })
        try:
            self._table.replace(state, current.etag)
        except (ConcurrencyConflict, NotFound):  # another check wrote it: that one decides
            return False
        if not news:
            return False
        return self._alert(seen, "changed" if changed else "rose" if rose else "still")

    def _alert(self, seen: Observation, kind: str) -> bool:
        if seen.healthy:
            # Healthy with a risen count: a problem the check fixed itself (re-subscription).
            prefix = "Fixed automatically" if kind in ("rose", "new") else "Resolved"
            text = f"{prefix}: {seen.title}: {sentence(seen.problem)}"
        else:
            prefix = "Still unhealthy" if kind == "still" else "Attention"
            text = (f"{prefix}: {seen.title}: {sentence(seen.problem)} "
                    f"What to do: {sentence(seen.action)}")
        log.warning(
            "health_alert",
            extra={"event": "health_alert", "subject": seen.subject, "condition": seen.condition,
                   "level": seen.level, "alert_kind": kind, "alert_text": text},
        )
        if self._webhook_url:
            self._post(text)
        return True

    def _post(self, text: str) -> None:
        assert self._webhook_url is not None
        try:
            answer = requests.post(self._webhook_url, json={"text": text},
                                   timeout=WEBHOOK_TIMEOUT_SECONDS)
            answer.raise_for_status()
        except requests.RequestException as error:
            # The URL itself is a credential for Slack and Teams: only the error's class.
            log.error("alert webhook failed", extra={"error_kind": type(error).__name__})


def sentence(text: str) -> str:
    """``text`` ending with exactly one full stop (problems come with or without one)."""
    text = text.rstrip().rstrip(".")
    return text if text.endswith(("?", "!")) else text + "."


def page_observations(page: Page) -> list[Observation]:
    """The token and subscription subjects of a page, as the last check left them."""
    title = f"Page {page.name} ({page.page_id})"
    where = f"/api/manage/accounts/{page.account_id}/pages/{page.page_id}"
    health = page.token_health
    observations = []
    if health.status != "unknown":  # never checked, or Facebook unreachable so far
        condition: str = health.status
        if condition == HEALTHY and health.problem:  # the 60-day rotation is due
            condition = "rotation_due"
        error_note = " The page is in Error; it still receives messages." if (
            health.status in UNHEALTHY) else ""
        observations.append(Observation(
            subject=f"page:{page.page_id}:token", title=title, condition=condition,
            problem=sentence(health.problem or "the Page access token is healthy") + error_note,
            action=f"create a new Page access token in the Facebook app and PATCH {where} "
                   "with access_token"))
    sub = page.subscription
    if sub.checked_at is not None:
        problem = sub.problem or "the app is subscribed to the page's webhooks"
        if sub.resubscribed_at is not None and sub.subscribed:
            problem += (f"; it was re-subscribed automatically at {isoformat(sub.resubscribed_at)}"
                        " after Facebook dropped it (webhook failures for an hour?)")
        observations.append(Observation(
            subject=f"page:{page.page_id}:subscription", title=title,
            condition=HEALTHY if sub.subscribed else "not_subscribed", problem=problem,
            action="check that the webhook answers (GET /api/health) and the app's Messenger "
                   "settings; the token check re-subscribes the app",
            level=sub.resubscribe_count))
    return observations


def dead_letter_observation(queue: str, count: int) -> Observation:
    return Observation(
        subject=f"queue:{queue}:dead_letters", title=f"Queue {queue}",
        condition=HEALTHY if count == 0 else "dead_letters",
        problem=f"{count} dead-lettered message(s)" if count else "no dead-lettered messages",
        action="read the reasons in the logs, fix the cause, then POST "
               f"/api/manage/deadletters/{queue}/redrive",
        level=count)
