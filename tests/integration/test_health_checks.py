"""Issue 7: the token check (token health, re-subscription, rate limits, 500 pages), alerts and
their de-duplication, the 190 path, queue health and redrive. Azurite, the simulator in a
thread, the local queue; the product's clock is moved by its offset."""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.bus.local import LocalQueue
from messenger_channel.bus.port import QueueMessage
from messenger_channel.conversations.contacts import find_or_create_contact
from messenger_channel.facebook.graph_errors import GraphError
from messenger_channel.provisioning.alerts import Alerts, Observation
from messenger_channel.provisioning.models import Account, Page, ProvisioningState
from messenger_channel.provisioning.queue_health import record_failed_send
from messenger_channel.provisioning.service import ChannelSetup
from messenger_channel.provisioning.token_check import run_token_check
from messenger_channel.secrets import new_secret_name
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from simulator.testing import WebhookReceiver, webhook_receiver
from tests.support.keys import MANAGEMENT_KEY

AUTH = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
DAY = 24 * 3600


def new_id() -> str:
    return str(10**14 + secrets.randbelow(9 * 10**14))


@pytest.fixture
def sim(simulator_url: str) -> Iterator[SimulatorClient]:
    with SimulatorClient(simulator_url) as client:
        yield client


@pytest.fixture
def alerts_to() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def alerting(services: Services, alerts_to: WebhookReceiver) -> Services:
    """The services with ALERT_WEBHOOK_URL pointed at a local recording receiver."""
    settings = services.settings.model_copy(update={"alert_webhook_url": alerts_to.url})
    return dataclasses.replace(services, settings=settings)


def new_account(services: Services, sim: SimulatorClient) -> Account:
    app_id, app_secret = new_id(), "secret-" + secrets.token_hex(12)
    sim.put_app(app_id, app_secret)
    return ChannelSetup(services).create_account("Contoso", app_id, app_secret)


def new_page(services: Services, sim: SimulatorClient, account: Account,
             **token_state: Any) -> tuple[Page, str]:
    page_id, token = new_id(), "EAA" + secrets.token_hex(20)
    sim.put_page(page_id, f"Page {page_id}", app_id=account.app_id, access_token=token,
                 account_id=account.id)
    page = ChannelSetup(services).add_page(account.id, page_id, "Support", token)
    assert page.provisioning_state is ProvisioningState.RUNNING
    if token_state:
        sim.put_token(token, **token_state)
    return page, token


def stored(services: Services, page_id: str) -> Page:
    page = ChannelSetup(services).tables.page(page_id)
    assert page is not None
    return page


def texts(receiver: WebhookReceiver) -> list[str]:
    return [json.loads(post.body)["text"] for post in receiver.posts]


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


# -- token health ------------------------------------------------------------------------------

@pytest.mark.parametrize(("token_state", "status", "state"), [
    ({}, "healthy", "Running"),
    ({"expires_at": unix(datetime.now(UTC) + timedelta(days=5))}, "expiring", "Running"),
    ({"state": "expired"}, "expired", "Error"),
    ({"state": "invalid"}, "invalid", "Error"),
    ({"scopes": ["pages_manage_metadata"]}, "missing_permission", "Error"),
])
def test_each_token_state_from_the_timer(services: Services, sim: SimulatorClient,
                                         token_state: dict[str, Any], status: str,
                                         state: str) -> None:
    account = new_account(services, sim)
    page, _ = new_page(services, sim, account, **token_state)
    report = run_token_check(services)
    assert report.pages[page.page_id] == status
    checked = stored(services, page.page_id)
    assert checked.token_health.status == status
    assert checked.provisioning_state == state
    assert checked.token_health.checked_at is not None
    if status == "expiring":
        assert checked.token_health.expires_at is not None
        assert "rotate it before" in (checked.token_health.problem or "")


def test_never_expiring_token_gets_the_60_day_reminder_then_rotation_clears_it(
        services: Services, sim: SimulatorClient, api: TestClient) -> None:
    account = new_account(services, sim)
    page, _ = new_page(services, sim, account)
    run_token_check(services)
    health = stored(services, page.page_id).token_health
    assert health.expires_at is None and health.problem is None
    assert health.rotation_due_at == page.created_at + timedelta(days=60)
    services.clock.set_offset(61 * DAY)
    run_token_check(services)
    health = stored(services, page.page_id).token_health
    assert health.status == "healthy"
    assert "not been rotated since" in (health.problem or "")
    rules = api.get("/api/manage/health", headers=AUTH).json()["failing_rules"]
    assert any(r["rule"] == "token_rotated" and r["subject"] == f"page:{page.page_id}"
               for r in rules)
    new_token = "EAA" + secrets.token_hex(20)
    sim.put_token(new_token, page_id=page.page_id)
    rotated = ChannelSetup(services).rotate_token(account.id, page.page_id, new_token)
    assert rotated.token_health.problem is None
    assert rotated.token_health.rotated_at is not None


def test_rotation_restores_healthy_at_once_and_alerts_resolved(
        alerting: Services, sim: SimulatorClient, alerts_to: WebhookReceiver) -> None:
    account = new_account(alerting, sim)
    page, token = new_page(alerting, sim, account, state="invalid")
    run_token_check(alerting)
    assert stored(alerting, page.page_id).provisioning_state is ProvisioningState.ERROR
    new_token = "EAA" + secrets.token_hex(20)
    sim.put_token(new_token, page_id=page.page_id)
    rotated = ChannelSetup(alerting).rotate_token(account.id, page.page_id, new_token)
    assert rotated.provisioning_state is ProvisioningState.RUNNING
    assert rotated.token_health.status == "healthy"
    assert texts(alerts_to)[-1].startswith(f"Resolved: Page Support ({page.page_id})")
    assert token not in "".join(texts(alerts_to)) and new_token not in "".join(texts(alerts_to))


# -- subscription ------------------------------------------------------------------------------

def test_dropped_subscription_is_restored_recorded_and_alerted(
        alerting: Services, sim: SimulatorClient, alerts_to: WebhookReceiver) -> None:
    account = new_account(alerting, sim)
    page, _ = new_page(alerting, sim, account)
    run_token_check(alerting)
    assert texts(alerts_to) == []
    sim.drop_subscriptions(page.page_id)
    run_token_check(alerting)
    subscription = stored(alerting, page.page_id).subscription
    assert subscription.subscribed and subscription.resubscribe_count == 1
    assert subscription.resubscribed_at is not None
    assert "messages" in sim.subscriptions()[page.page_id][account.app_id]
    assert len(texts(alerts_to)) == 1
    assert texts(alerts_to)[0].startswith(f"Fixed automatically: Page Support ({page.page_id})")
    assert "re-subscribed automatically" in texts(alerts_to)[0]
    run_token_check(alerting)  # still subscribed: nothing new
    assert len(texts(alerts_to)) == 1


# -- alerts ------------------------------------------------------------------------------------

def test_alerts_once_per_change_then_once_a_day(
        alerting: Services, sim: SimulatorClient, alerts_to: WebhookReceiver) -> None:
    account = new_account(alerting, sim)
    page, token = new_page(alerting, sim, account)
    run_token_check(alerting)
    sim.put_token(token, state="invalid")
    run_token_check(alerting)
    run_token_check(alerting)
    assert len(texts(alerts_to)) == 1
    first = texts(alerts_to)[0]
    assert first.startswith(f"Attention: Page Support ({page.page_id})")
    assert "What to do: create a new Page access token" in first
    alerting.clock.set_offset(23 * 3600)
    run_token_check(alerting)
    assert len(texts(alerts_to)) == 1
    alerting.clock.set_offset(25 * 3600)
    run_token_check(alerting)
    run_token_check(alerting)
    assert len(texts(alerts_to)) == 2
    assert texts(alerts_to)[1].startswith("Still unhealthy:")
    assert token not in "".join(texts(alerts_to))


def test_concurrent_checks_alert_once(services: Services) -> None:
    alerts = Alerts(services.tables, services.clock, None)
    seen = Observation(subject="page:1:token", title="Page X (1)", condition="invalid",
                       problem="bad", action="rotate")
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def observe() -> None:
        barrier.wait()
        results.append(alerts.observe(seen))

    threads = [threading.Thread(target=observe) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1


def test_a_failing_alert_webhook_never_breaks_the_check(
        services: Services, sim: SimulatorClient, alerts_to: WebhookReceiver,
        caplog: pytest.LogCaptureFixture) -> None:
    alerts_to.status = 500
    settings = services.settings.model_copy(update={"alert_webhook_url": alerts_to.url})
    failing = dataclasses.replace(services, settings=settings)
    account = new_account(failing, sim)
    page, _ = new_page(failing, sim, account, state="expired")
    report = run_token_check(failing)
    assert report.pages[page.page_id] == "expired" and report.alerts == 1
    assert len(alerts_to.posts) == 1
    assert "alert webhook failed" in caplog.text
    assert alerts_to.url not in caplog.text


# -- 190 from Graph calls made with the token ----------------------------------------------------

def test_190_from_a_profile_fetch_puts_the_page_in_error(
        alerting: Services, sim: SimulatorClient, alerts_to: WebhookReceiver) -> None:
    account = new_account(alerting, sim)
    page, _ = new_page(alerting, sim, account)
    sim.put_user("3001", page.page_id, first_name="Ann")
    sim.add_fault(operation="profile", kind="graph_error", code=190, times=1)
    contact = find_or_create_contact(alerting, page.page_id, "3001")
    assert contact.name_missing_reason == "profile_error_token_invalid"
    errored = stored(alerting, page.page_id)
    assert errored.provisioning_state is ProvisioningState.ERROR
    assert errored.token_health.status == "invalid"
    assert len(texts(alerts_to)) == 1


def test_190_from_a_send_as_the_sender_reports_it(
        alerting: Services, sim: SimulatorClient, alerts_to: WebhookReceiver) -> None:
    account = new_account(alerting, sim)
    page, _ = new_page(alerting, sim, account)
    refused = GraphError(http_status=400, code=190, subcode=463, message="Session has expired")
    errored = ChannelSetup(alerting).token_refused(page.page_id, refused)
    assert errored is not None and errored.provisioning_state is ProvisioningState.ERROR
    assert errored.token_health.status == "expired"
    assert "still receives messages" in texts(alerts_to)[0]


# -- rate limits, many pages -------------------------------------------------------------------

def test_rate_limit_defers_the_remaining_pages(services: Services, sim: SimulatorClient) -> None:
    account = new_account(services, sim)
    pages = [new_page(services, sim, account)[0] for _ in range(3)]
    sim.add_fault(operation="page", kind="graph_error", code=4)
    report = run_token_check(services)
    assert report.failed == [] and report.checked == 0
    assert sorted(report.deferred) == sorted(p.page_id for p in pages)
    sim.clear_faults()
    report = run_token_check(services)
    assert report.checked == 3 and report.deferred == []


def test_a_run_over_500_pages_reports_each(services: Services, sim: SimulatorClient) -> None:
    account = new_account(services, sim)
    setup = ChannelSetup(services)
    now = services.clock.now()
    ids = [new_id() for _ in range(500)]
    broken = set(ids[::50])
    for page_id in ids:
        token = "EAA" + secrets.token_hex(20)
        sim.put_page(page_id, f"Page {page_id}", app_id=account.app_id, access_token=token)
        if page_id in broken:
            sim.put_token(token, state="invalid")
        ref = new_secret_name("page-token", page_id)
        setup.secrets.set(ref, token)
        setup.tables.pages.create(Page(page_id=page_id, account_id=account.id, name="P",
                                       provisioning_state=ProvisioningState.RUNNING,
                                       token_ref=ref, created_at=now, updated_at=now))
    started = time.monotonic()
    report = run_token_check(services)
    assert time.monotonic() - started < 60
    assert set(report.pages) == set(ids)
    assert report.failed == [] and report.deferred == []
    assert {report.pages[i] for i in broken} == {"invalid"}
    assert {report.pages[i] for i in set(ids) - broken} == {"healthy"}
    assert all(stored(services, i).subscription.subscribed for i in ids[1:3])


# -- queues ------------------------------------------------------------------------------------

def _dead_letter(queue: LocalQueue, name: str, session: str, message_id: str) -> None:
    queue.send(name, [QueueMessage(body=b"{}", session_id=session, message_id=message_id)])
    received = queue.receive(name)
    assert received is not None
    queue.dead_letter(received, "test", "made a dead letter")


def test_dead_letters_failed_sends_and_redrive(
        alerting: Services, api: TestClient, alerts_to: WebhookReceiver) -> None:
    assert isinstance(alerting.queue, LocalQueue)
    _dead_letter(alerting.queue, "inbound", "1001:2001", "m1")
    _dead_letter(alerting.queue, "inbound", "1001:2002", "m2")
    record_failed_send(alerting, "1001", "rate_limited")
    record_failed_send(alerting, "1001", "rate_limited")
    record_failed_send(alerting, "1001", "outside_messaging_window")
    health = api.get("/api/manage/health", headers=AUTH).json()
    inbound = next(q for q in health["queues"] if q["name"] == "inbound")
    assert inbound["dead_letters"] == 2 and inbound["dead_letters_by_page"] == {"1001": 2}
    assert health["failed_sends"] == {"1001": {"rate_limited": 2,
                                               "outside_messaging_window": 1}}
    assert any(r["rule"] == "no_dead_letters" for r in health["failing_rules"])
    run_token_check(alerting)
    run_token_check(alerting)
    assert texts(alerts_to) == ["Attention: Queue inbound: 2 dead-lettered message(s). What to "
                                "do: read the reasons in the logs, fix the cause, then POST "
                                "/api/manage/deadletters/inbound/redrive."]
    assert api.post("/api/manage/deadletters/parking/redrive", headers=AUTH).status_code == 404
    answer = api.post("/api/manage/deadletters/inbound/redrive", headers=AUTH)
    assert answer.status_code == 202 and answer.json() == {"queue": "inbound", "redriven": 2}
    back = alerting.queue.receive("inbound")
    assert back is not None and back.session_id == "1001:2001" and back.message_id == "m1"
    health = api.get("/api/manage/health", headers=AUTH).json()
    assert next(q for q in health["queues"] if q["name"] == "inbound")["dead_letters"] == 0
    run_token_check(alerting)
    assert texts(alerts_to)[-1].startswith("Resolved: Queue inbound")
