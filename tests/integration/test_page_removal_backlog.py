"""A page's or account's DELETE answers after a bounded amount of work: it closes what it can of
the page's open conversations in its budget, says how many are left (``conversations_to_close``)
and leaves them to the ``page_removals`` timer; the token check puts back any removed page,
even one already ``Deprovisioned``, whose conversations were left open. Closes racing each
other close every conversation once. The APIs in process on Azurite, the simulator in a thread
as Facebook, the timers called as the host calls them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations import page_removal
from messenger_channel.conversations.page_removal import (
    PAGE_REMOVED_LINE,
    Budget,
    check_channels,
    settle_page,
    settle_removals,
)
from messenger_channel.conversations.removal_backlog import RemovalBacklog
from messenger_channel.services import Services
from simulator.client import SimulatorClient
from tests.integration.test_deprovisioning import manage, new_account, new_page, stored
from tests.support.engine import Engine, new_id

NOTHING = timedelta(0)


@pytest.fixture
def sim(simulator_url: str) -> Iterator[SimulatorClient]:
    with SimulatorClient(simulator_url) as client:
        yield client


@pytest.fixture
def no_request_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DELETE closes nothing itself: as when its budget ran out on the first one."""
    monkeypatch.setattr(page_removal, "IN_REQUEST", NOTHING)


class Page:
    """A provisioned page whose customers wrote while a workstream routed it (since deleted:
    a routed page is not removed), one conversation accepted by the agent."""

    def __init__(self, services: Services, sim: SimulatorClient, api: TestClient,
                 account_id: str, customers: int) -> None:
        self.api = api
        self.account_id = account_id
        self.page_id = new_page(api, sim, account_id)
        self.engine = Engine(services, sim, page_id=self.page_id)
        self.engine.queue_id = self.engine.queue(f"General {self.page_id}")
        self.agent_id, key = self.engine.agent(f"Ann {self.page_id}", capacity=100)
        self.agent = {"Authorization": f"Bearer {key}"}
        workstream = manage(api, "POST", "/workstreams", {
            "name": f"Support {self.page_id}", "page_id": self.page_id,
            "fallback_queue_id": self.engine.queue_id}, 201).json()
        self.psids = [new_id() for _ in range(customers)]
        for psid in self.psids:
            sim.put_user(psid, self.page_id, first_name="Ada")
            self.engine.say(psid, "Hello")
        self.held = self.engine.conversation_of(self.psids[0]).id
        accepted = api.post(f"/api/agent/conversations/{self.held}/accept", headers=self.agent)
        assert accepted.json()["state"] == "active", accepted.text
        manage(api, "DELETE", f"/workstreams/{workstream['id']}", status=204)

    @property
    def path(self) -> str:
        return f"/accounts/{self.account_id}/pages/{self.page_id}"

    def states(self) -> list[str]:
        return [self.engine.conversation_of(psid).state for psid in self.psids]

    def removal_lines(self) -> list[int]:
        """How many page-removed lines each conversation has."""
        return [sum(1 for m in self.engine.history(psid)
                    if m.author == "system" and m.text == PAGE_REMOVED_LINE)
                for psid in self.psids]

    def capacity_used(self) -> int:
        me = self.api.get("/api/agent/me", headers=self.agent).json()
        used: int = me["capacity_used"]
        return used


def test_a_page_delete_answers_what_is_left_and_the_timer_closes_it(
        services: Services, sim: SimulatorClient, api: TestClient,
        no_request_budget: None) -> None:
    page = Page(services, sim, api, new_account(api, sim), customers=3)

    deleted = manage(api, "DELETE", page.path, status=202).json()
    assert (deleted["provisioning_state"], deleted["conversations_to_close"]) == (
        "Deprovisioned", 3)
    assert "closed" not in page.states()
    assert manage(api, "GET", page.path, status=200).json()["conversations_to_close"] == 3
    # Meanwhile the agent cannot reply on the conversation still open: the page is gone.
    reply = api.post(f"/api/agent/conversations/{page.held}/messages",
                     json={"text": "Still there?"}, headers=page.agent)
    assert (reply.status_code, reply.json()["error"]) == (409, "page_removed"), reply.text
    # A run whose budget is spent leaves everything as it was.
    assert settle_removals(services, Budget.of(NOTHING)) == 3

    assert settle_removals(services) == 0
    assert page.states() == ["closed"] * 3
    assert page.removal_lines() == [1, 1, 1]
    assert page.capacity_used() == 0
    assert manage(api, "GET", page.path, status=200).json()["conversations_to_close"] == 0
    assert RemovalBacklog(services.tables).pending() == []
    assert settle_removals(services) == 0  # nothing left: a run is one read


def test_the_default_budget_closes_a_few_conversations_in_the_request(
        services: Services, sim: SimulatorClient, api: TestClient) -> None:
    page = Page(services, sim, api, new_account(api, sim), customers=2)
    deleted = manage(api, "DELETE", page.path, status=202).json()
    assert deleted["conversations_to_close"] == 0
    assert page.states() == ["closed"] * 2
    assert RemovalBacklog(services.tables).pending() == []


def test_an_account_delete_answers_what_its_pages_left_and_the_timer_closes_it(
        services: Services, sim: SimulatorClient, api: TestClient,
        no_request_budget: None) -> None:
    account_id = new_account(api, sim)
    pages = [Page(services, sim, api, account_id, customers=count) for count in (2, 3)]

    deleted = manage(api, "DELETE", f"/accounts/{account_id}", status=202).json()
    assert (deleted["state"], deleted["conversations_to_close"]) == ("deleting", 5)
    assert {row.page_id: row.to_close for row in RemovalBacklog(services.tables).pending()} == {
        pages[0].page_id: 2, pages[1].page_id: 3}

    assert settle_removals(services) == 0
    for page in pages:
        assert page.states() == ["closed"] * len(page.psids)
        assert page.removal_lines() == [1] * len(page.psids)
    assert pages[0].capacity_used() == 0


def test_the_token_check_settles_a_deprovisioned_page_a_cut_off_delete_left_open(
        services: Services, sim: SimulatorClient, api: TestClient,
        no_request_budget: None) -> None:
    page = Page(services, sim, api, new_account(api, sim), customers=2)
    # A dead token: the delete cannot ask Facebook, so the page is Deprovisioned at once.
    token_ref = stored(services, page.page_id).token_ref
    assert token_ref is not None
    services.secrets.delete(token_ref)
    assert manage(api, "DELETE", page.path, status=202).json()["provisioning_state"] == (
        "Deprovisioned")
    # The request died before its backlog row was written (or before this change existed).
    RemovalBacklog(services.tables).settled(page.page_id)
    assert settle_removals(services) == 0
    assert "closed" not in page.states()

    check_channels(services)
    assert page.states() == ["closed"] * 2
    assert page.removal_lines() == [1, 1]
    assert page.capacity_used() == 0
    assert RemovalBacklog(services.tables).pending() == []


def test_deletes_and_timer_runs_racing_close_each_conversation_once(
        services: Services, sim: SimulatorClient, api: TestClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    page = Page(services, sim, api, new_account(api, sim), customers=6)
    monkeypatch.setattr(page_removal, "IN_REQUEST", NOTHING)
    assert manage(api, "DELETE", page.path, status=202).json()["conversations_to_close"] == 6
    monkeypatch.setattr(page_removal, "IN_REQUEST", timedelta(seconds=60))

    start = threading.Barrier(4)

    def after_start(work: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            start.wait()
            return work()
        return run

    racers = [
        lambda: manage(api, "DELETE", page.path, status=202).json()["conversations_to_close"],
        lambda: settle_removals(services),
        lambda: settle_removals(services),
        lambda: settle_page(services, page.page_id, page.account_id,
                            Budget.of(timedelta(seconds=60))),
    ]
    with ThreadPoolExecutor(len(racers)) as pool:
        results = [f.result() for f in [pool.submit(after_start(r)) for r in racers]]

    assert page.states() == ["closed"] * 6
    assert page.removal_lines() == [1] * 6
    assert page.capacity_used() == 0
    # Whatever a loser noted last, the next run finds nothing open and settles the page.
    assert all(isinstance(left, int) for left in results)
    assert settle_removals(services) == 0
    assert RemovalBacklog(services.tables).pending() == []
    assert manage(api, "GET", page.path, status=200).json()["conversations_to_close"] == 0
