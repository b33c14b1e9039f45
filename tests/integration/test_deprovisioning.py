"""Issue 20, point 5: a delete always finishes, and settles what depends on the page. The
management and agent APIs in process on Azurite, the simulator in a thread as Facebook (its
faults make the unsubscribe fail), the token check called as its timer calls it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations.page_removal import PAGE_REMOVED_LINE, check_channels
from messenger_channel.provisioning.models import Page
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.provisioning.teardown import MAX_ATTEMPTS, STUCK_AFTER
from messenger_channel.provisioning.token_check import run_token_check
from messenger_channel.secrets import SecretNotFound
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.support.engine import Engine, new_id
from tests.support.keys import MANAGEMENT_KEY

MANAGER = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}


@pytest.fixture
def sim(simulator_url: str) -> Iterator[SimulatorClient]:
    with SimulatorClient(simulator_url) as client:
        yield client


def manage(api: TestClient, method: str, path: str, body: Any = None,
           status: int | None = None) -> httpx.Response:
    answer: httpx.Response = api.request(method, f"/api/manage{path}", json=body,
                                         headers=MANAGER)
    if status is not None:
        assert answer.status_code == status, answer.text
    return answer


def new_account(api: TestClient, sim: SimulatorClient) -> str:
    app_id, app_secret = new_id(), "app-secret-" + secrets.token_hex(12)
    sim.put_app(app_id, app_secret)
    created = manage(api, "POST", "/accounts", {"name": "Contoso", "app_id": app_id,
                                                "app_secret": app_secret}, 201)
    account_id: str = created.json()["id"]
    return account_id


def new_page(api: TestClient, sim: SimulatorClient, account_id: str) -> str:
    account = manage(api, "GET", f"/accounts/{account_id}", status=200).json()
    page_id = new_id()
    token = "EAA" + secrets.token_hex(20)
    sim.put_page(page_id, "Support", app_id=account["app_id"], access_token=token,
                 account_id=account_id)
    added = manage(api, "POST", f"/accounts/{account_id}/pages",
                   {"page_id": page_id, "name": "Support", "access_token": token}, 201)
    assert added.json()["provisioning_state"] == "Running"
    return page_id


def stored(services: Services, page_id: str) -> Page:
    page = ChannelTables(services.tables).page(page_id)
    assert page is not None
    return page


def failing_rules(api: TestClient) -> dict[str, str]:
    health = manage(api, "GET", "/health", status=200).json()
    return {rule["subject"]: rule["rule"] for rule in health["failing_rules"]}


def test_a_page_facebook_never_unsubscribes_ends_deprovisioned_with_its_secrets_gone(
        services: Services, sim: SimulatorClient, api: TestClient) -> None:
    account_id = new_account(api, sim)
    page_id = new_page(api, sim, account_id)
    account = ChannelTables(services.tables).account(account_id)
    assert account is not None
    token_ref = stored(services, page_id).token_ref
    assert token_ref is not None
    # Graph's permission error, every time (REFERENCE.md: 200 is a permissions error).
    sim.add_fault(page_id=page_id, operation="subscribed_apps", code=200)

    deleted = manage(api, "DELETE", f"/accounts/{account_id}", status=202).json()
    assert deleted["state"] == "deleting"
    # The account stays readable, and its pages listable, until they are Deprovisioned.
    assert manage(api, "GET", f"/accounts/{account_id}", status=200).json()["state"] == (
        "deleting")
    pages = manage(api, "GET", f"/accounts/{account_id}/pages", status=200).json()["items"]
    assert [(p["page_id"], p["provisioning_state"]) for p in pages] == [
        (page_id, "Deprovisioning")]
    assert "(#200) Permissions error" in pages[0]["provisioning_error"]
    assert f"attempt 1 of {MAX_ATTEMPTS}" in pages[0]["provisioning_error"]
    for path in (f"/accounts/{account_id}", f"/accounts/{account_id}/pages/{page_id}"):
        assert manage(api, "PATCH", path, {"name": "x"}, 409).json()["error"] == (
            "account_deleting")
    # No workstream may take a page that is being removed.
    queue = manage(api, "POST", "/queues", {"name": "General"}, 201).json()["id"]
    refused = manage(api, "POST", "/workstreams", {
        "name": "Late", "page_id": page_id, "fallback_queue_id": queue}, 422).json()
    assert [f["field"] for f in refused["fields"]] == ["page_id"]

    # A delete under way is not a problem; one still pending after STUCK_AFTER is.
    assert page_id not in {s.removeprefix("page:") for s in failing_rules(api)}
    services.clock.set_offset(STUCK_AFTER.total_seconds() + 60)
    assert failing_rules(api)[f"page:{page_id}"] == "page_deprovisioning_stuck"
    listed = {a["id"]: a for a in manage(api, "GET", "/health", status=200).json()["accounts"]}
    assert listed[account_id]["state"] == "deleting"
    assert services.secrets.get(token_ref)  # still needed: it is what asks Facebook

    for attempt in range(2, MAX_ATTEMPTS + 1):
        report = run_token_check(services)
        expected = "deprovisioned" if attempt == MAX_ATTEMPTS else "deprovisioning"
        assert report.pages[page_id] == expected, attempt

    page = stored(services, page_id)
    assert page.provisioning_state == "Deprovisioned"
    assert page.provisioning_error is not None
    assert f"refused to unsubscribe the app {MAX_ATTEMPTS} time(s)" in page.provisioning_error
    assert "Business integrations" in page.provisioning_error
    assert page.token_ref is None
    with pytest.raises(SecretNotFound):
        services.secrets.get(token_ref)
    with pytest.raises(SecretNotFound):
        services.secrets.get(account.app_secret_ref)
    assert manage(api, "GET", f"/accounts/{account_id}").status_code == 404
    assert f"page:{page_id}" not in failing_rules(api)
    # Facebook kept the subscription: the reason tells the operator to remove it by hand.
    assert sim.subscriptions().get(page_id)


def test_transient_refusals_are_retried_until_facebook_unsubscribes(
        services: Services, sim: SimulatorClient, api: TestClient) -> None:
    account_id = new_account(api, sim)
    page_id = new_page(api, sim, account_id)
    token_ref = stored(services, page_id).token_ref
    assert token_ref is not None
    sim.add_fault(page_id=page_id, operation="subscribed_apps", kind="http_5xx",
                  http_status=503, times=2)
    path = f"/accounts/{account_id}/pages/{page_id}"
    deleted = manage(api, "DELETE", path, status=202).json()
    assert deleted["provisioning_state"] == "Deprovisioning"
    assert "attempt 1 of" in deleted["provisioning_error"]
    # Asking again neither restarts the count nor makes an attempt of its own.
    again = manage(api, "DELETE", path, status=202).json()
    assert again["provisioning_error"] == deleted["provisioning_error"]

    assert run_token_check(services).pages[page_id] == "deprovisioning"
    page = manage(api, "GET", path, status=200).json()
    assert (page["provisioning_state"], "attempt 2 of" in page["provisioning_error"]) == (
        "Deprovisioning", True)
    assert run_token_check(services).pages[page_id] == "deprovisioned"
    page = manage(api, "GET", path, status=200).json()
    assert (page["provisioning_state"], page["provisioning_error"]) == ("Deprovisioned", None)
    assert not sim.subscriptions().get(page_id)
    with pytest.raises(SecretNotFound):
        services.secrets.get(token_ref)


def test_removing_a_page_closes_its_conversations_and_refuses_while_a_workstream_routes_it(
        services: Services, sim: SimulatorClient, api: TestClient) -> None:
    account_id = new_account(api, sim)
    page_id = new_page(api, sim, account_id)
    engine = Engine(services, sim, page_id=page_id)
    engine.queue_id = engine.queue()
    agent_id, key = engine.agent("Ann", capacity=10)
    workstream = manage(api, "POST", "/workstreams", {
        "name": "Support", "page_id": page_id, "fallback_queue_id": engine.queue_id},
        201).json()
    held, waiting = new_id(), new_id()
    for psid in (held, waiting):
        sim.put_user(psid, page_id, first_name="Ada")
        engine.say(psid, "Hello")
    agent = {"Authorization": f"Bearer {key}"}
    conversation_id = engine.conversation_of(held).id
    accepted = api.post(f"/api/agent/conversations/{conversation_id}/accept", headers=agent)
    assert accepted.json()["state"] == "active", accepted.text
    assert engine.conversation_of(waiting).state in ("waiting", "offered")

    # A page a workstream routes is not removed (nor its account): the 409 names it.
    for path in (f"/accounts/{account_id}/pages/{page_id}", f"/accounts/{account_id}"):
        refused = manage(api, "DELETE", path, status=409).json()
        assert refused["error"] == "page_has_workstream"
        assert workstream["id"] in refused["message"] and "Support" in refused["message"]
    assert stored(services, page_id).provisioning_state == "Running"

    manage(api, "DELETE", f"/workstreams/{workstream['id']}", status=204)
    deleted = manage(api, "DELETE", f"/accounts/{account_id}/pages/{page_id}", status=202)
    # Two conversations fit the request's budget: none is left to the page_removals timer.
    assert (deleted.json()["provisioning_state"], deleted.json()["conversations_to_close"]) == (
        "Deprovisioned", 0)
    for psid in (held, waiting):
        conversation = engine.conversation_of(psid)
        assert conversation.state == "closed"
        lines = [m for m in engine.history(psid) if m.author == "system"]
        assert [(m.text, m.visibility) for m in lines] == [(PAGE_REMOVED_LINE, "internal")]

    reply = api.post(f"/api/agent/conversations/{conversation_id}/messages",
                     json={"text": "Still there?"}, headers=agent)
    assert reply.status_code == 409, reply.text
    assert reply.json()["error"] == "page_removed"
    assert "page was removed" in reply.json()["message"]
    assert "token" not in reply.json()["message"]
    me = api.get("/api/agent/me", headers=agent).json()
    assert (me["id"], me["capacity_used"]) == (agent_id, 0)


def test_the_token_check_closes_what_a_customer_opened_while_the_page_was_being_removed(
        services: Services, sim: SimulatorClient, api: TestClient) -> None:
    account_id = new_account(api, sim)
    page_id = new_page(api, sim, account_id)
    sim.add_fault(page_id=page_id, operation="subscribed_apps", kind="http_5xx",
                  http_status=503, times=1)
    deleted = manage(api, "DELETE", f"/accounts/{account_id}/pages/{page_id}", status=202)
    assert deleted.json()["provisioning_state"] == "Deprovisioning"
    # Facebook still delivers while the app is subscribed: a customer writes meanwhile.
    engine = Engine(services, sim, page_id=page_id)
    psid = new_id()
    sim.put_user(psid, page_id, first_name="Ada")
    engine.say(psid, "Anyone there?")
    assert engine.conversation_of(psid).state == "waiting"

    report = check_channels(services)
    assert report.pages[page_id] == "deprovisioned"
    assert engine.conversation_of(psid).state == "closed"
    assert [m.text for m in engine.history(psid) if m.author == "system"] == [PAGE_REMOVED_LINE]


def test_a_page_whose_token_is_lost_is_released_with_the_reason(
        services: Services, sim: SimulatorClient, api: TestClient) -> None:
    account_id = new_account(api, sim)
    page_id = new_page(api, sim, account_id)
    token_ref = stored(services, page_id).token_ref
    assert token_ref is not None
    services.secrets.delete(token_ref)
    page = manage(api, "DELETE", f"/accounts/{account_id}/pages/{page_id}", status=202).json()
    assert page["provisioning_state"] == "Deprovisioned"
    assert "missing from the secret store" in page["provisioning_error"]
    assert sim.subscriptions().get(page_id)  # never asked: the reason says what to do
