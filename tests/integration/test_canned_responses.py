"""Canned responses through the API, on a real Azurite: the team's (management key) and each
agent's own (agent key), their checks, their search and who may use which."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from messenger_channel.errors import Missing
from messenger_channel.services import Services
from messenger_channel.workforce.agents import Agent, get_agent
from messenger_channel.workforce.canned_responses import (
    CannedResponses,
    canned_for_agent,
    forget_personal_responses,
)
from tests.support.keys import MANAGEMENT_KEY

ISO_SECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FIELDS = {"id", "shortcut", "title", "text", "quick_replies", "queue_ids", "owner_agent_id",
          "created_at", "updated_at"}


class Caller:
    """One family of the API (``/api/manage`` or ``/api/agent``) with one key."""

    def __init__(self, api: TestClient, base: str, key: str | None) -> None:
        self.api = api
        self.base = base
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        answer: httpx.Response = self.api.request(
            method, f"{self.base}{path}", json=body, params=params or None, headers=self.headers)
        return answer

    def ok(self, method: str, path: str, body: Any = None, status: int = 200,
           **params: Any) -> Any:
        answer = self.call(method, path, body, **params)
        assert answer.status_code == status, answer.text
        return answer.json() if answer.content else None

    def problem(self, method: str, path: str, body: Any, status: int, code: str) -> Any:
        answer = self.call(method, path, body)
        assert answer.status_code == status, answer.text
        error = answer.json()
        assert error["error"] == code and error["message"], error
        return error

    def invalid(self, method: str, path: str, body: Any) -> dict[str, str]:
        """The 422's fields as {field: message}."""
        error = self.problem(method, path, body, 422, "validation_error")
        return {item["field"]: item["message"] for item in error["fields"]}

    def canned(self, shortcut: str, title: str = "Title", text: str = "Text",
               **fields: Any) -> dict[str, Any]:
        body = {"shortcut": shortcut, "title": title, "text": text, **fields}
        created: dict[str, Any] = self.ok("POST", "/canned-responses", body, 201)
        return created

    def shortcuts(self, query: str = "") -> list[str]:
        return [item["shortcut"] for item in self.ok("GET", "/canned-responses",
                                                     query=query)["items"]]


@pytest.fixture
def manager(api: TestClient) -> Caller:
    return Caller(api, "/api/manage", MANAGEMENT_KEY)


class Team:
    """A manager, and agents made through the API."""

    def __init__(self, api: TestClient, manager: Caller) -> None:
        self.api = api
        self.manager = manager

    def queue(self, name: str) -> str:
        return str(self.manager.ok("POST", "/queues", {"name": name}, 201)["id"])

    def agent(self, name: str = "Ann", queue_ids: list[str] | None = None) -> tuple[str, Caller]:
        created = self.manager.ok("POST", "/agents",
                                  {"name": name, "queue_ids": queue_ids or []}, 201)
        return created["id"], Caller(self.api, "/api/agent", created["api_key"])


@pytest.fixture
def team(api: TestClient, manager: Caller) -> Team:
    return Team(api, manager)


def _agent(services: Services, agent_id: str) -> Agent:
    agent = get_agent(services.tables, agent_id)
    assert agent is not None
    return agent


# ---------------------------------------------------------------------------------- CRUD


def test_team_response_lifecycle(team: Team, manager: Caller) -> None:
    queue = team.queue("Billing")
    replies = [{"title": "Yes", "payload": "YES"}, {"title": " No ", "payload": "NO"}]
    created = manager.canned("refund", "  Refund policy ",
                             "Hi {{customer.first_name}}, {{agent.name}} from {{page.name}}.",
                             quick_replies=replies, queue_ids=[queue, queue])
    assert created.keys() == FIELDS
    assert created["id"].startswith("cr_") and created["owner_agent_id"] is None
    assert created["title"] == "Refund policy" and created["queue_ids"] == [queue]
    assert created["text"] == "Hi {{customer.first_name}}, {{agent.name}} from {{page.name}}."
    assert created["quick_replies"] == [{"title": "Yes", "payload": "YES"},
                                        {"title": "No", "payload": "NO"}]
    assert ISO_SECOND.match(created["created_at"]) and ISO_SECOND.match(created["updated_at"])
    canned_id = created["id"]
    assert manager.ok("GET", f"/canned-responses/{canned_id}") == created
    listed = manager.ok("GET", "/canned-responses")
    assert set(listed) == {"items", "next", "since"} and listed["items"] == [created]

    changed = manager.ok("PATCH", f"/canned-responses/{canned_id}",
                         {"title": "Refunds", "queue_ids": [], "quick_replies": []})
    assert (changed["title"], changed["queue_ids"], changed["quick_replies"]) == (
        "Refunds", [], [])
    assert changed["shortcut"] == "refund" and changed["text"] == created["text"]
    assert changed["created_at"] == created["created_at"]

    assert manager.call("DELETE", f"/canned-responses/{canned_id}").status_code == 204
    manager.problem("GET", f"/canned-responses/{canned_id}", None, 404, "not_found")
    assert manager.ok("GET", "/canned-responses")["items"] == []
    # Its shortcut is free again.
    manager.canned("refund")


def test_personal_response_lifecycle(team: Team, services: Services) -> None:
    agent_id, agent = team.agent()
    created = agent.canned("thanks", "Thank you", "Thanks, {{customer.first_name}}!",
                           quick_replies=[{"title": "More", "payload": "MORE"}])
    assert created.keys() == FIELDS
    assert created["owner_agent_id"] == agent_id and created["queue_ids"] == []
    canned_id = created["id"]
    assert agent.ok("GET", f"/canned-responses/{canned_id}") == created
    assert agent.ok("GET", "/canned-responses")["items"] == [created]

    changed = agent.ok("PATCH", f"/canned-responses/{canned_id}",
                       {"shortcut": "ty", "text": "Thank you!"})
    assert (changed["shortcut"], changed["text"], changed["title"]) == (
        "ty", "Thank you!", "Thank you")
    assert canned_for_agent(services.tables, _agent(services, agent_id), canned_id).text == (
        "Thank you!")
    # The old shortcut is free, the new one taken.
    agent.canned("thanks")
    agent.problem("POST", "/canned-responses",
                  {"shortcut": "ty", "title": "t", "text": "t"}, 409, "shortcut_taken")

    assert agent.call("DELETE", f"/canned-responses/{canned_id}").status_code == 204
    agent.problem("GET", f"/canned-responses/{canned_id}", None, 404, "not_found")
    assert agent.shortcuts() == ["thanks"]
    with pytest.raises(Missing):
        canned_for_agent(services.tables, _agent(services, agent_id), canned_id)


def test_an_agents_personal_responses_go_with_them(team: Team, manager: Caller,
                                                   services: Services) -> None:
    gone_id, gone = team.agent("Gone")
    _, kept = team.agent("Kept")
    for shortcut in ("hello", "bye"):
        gone.canned(shortcut)
    kept.canned("hello")
    manager.canned("hello")  # a team one with the same shortcut stays
    assert manager.call("DELETE", f"/agents/{gone_id}").status_code == 204
    assert CannedResponses(services.tables, owner_agent_id=gone_id).all() == []
    assert kept.shortcuts() == ["hello", "hello"]  # personal, then the team's
    assert forget_personal_responses(services.tables, gone_id) == 0  # again: nothing left


# ---------------------------------------------------------------------------------- keys


def test_keys_and_families(team: Team, api: TestClient, manager: Caller) -> None:
    _, agent = team.agent()
    body = {"shortcut": "hi", "title": "Hi", "text": "Hi"}
    team_id = manager.canned("hi")["id"]
    personal_id = agent.canned("hi")["id"]
    for base, canned_id in (("/api/manage", team_id), ("/api/agent", personal_id)):
        for key in (None, "not-a-key"):
            anonymous = Caller(api, base, key)
            for method, path, sent in (("GET", "/canned-responses", None),
                                       ("POST", "/canned-responses", body),
                                       ("GET", f"/canned-responses/{canned_id}", None),
                                       ("PATCH", f"/canned-responses/{canned_id}", body),
                                       ("DELETE", f"/canned-responses/{canned_id}", None)):
                anonymous.problem(method, path, sent, 401, "unauthorized")
    wrong = ((Caller(api, "/api/manage", agent.headers["Authorization"][7:]), team_id),
             (Caller(api, "/api/agent", MANAGEMENT_KEY), personal_id))
    for caller, canned_id in wrong:
        for method, path, sent in (("GET", "/canned-responses", None),
                                   ("POST", "/canned-responses", body),
                                   ("GET", f"/canned-responses/{canned_id}", None),
                                   ("PATCH", f"/canned-responses/{canned_id}", body),
                                   ("DELETE", f"/canned-responses/{canned_id}", None)):
            caller.problem(method, path, sent, 403, "forbidden")
    # Nothing changed.
    assert manager.shortcuts() == ["hi"] and agent.shortcuts() == ["hi", "hi"]


# ----------------------------------------------------------------------------------- 404


def test_unknown_ids_and_others_responses_are_not_found(team: Team, manager: Caller,
                                                        services: Services) -> None:
    ann_id, ann = team.agent("Ann")
    _, bob = team.agent("Bob")
    anns = ann.canned("mine", "Mine", "Ann's")
    team_id = manager.canned("team")["id"]
    patch = {"title": "Taken over"}
    cases = [(manager, "cr_000000000000"), (manager, "nope%01"), (ann, "a%23b"),
             (manager, anns["id"]), (ann, "cr_000000000000"), (bob, anns["id"]),
             (bob, team_id), (ann, team_id)]
    for caller, canned_id in cases:
        for method, body in (("GET", None), ("PATCH", patch), ("DELETE", None)):
            caller.problem(method, f"/canned-responses/{canned_id}", body, 404, "not_found")
    # Ann's response and the team's are untouched.
    assert ann.ok("GET", f"/canned-responses/{anns['id']}") == anns
    assert manager.ok("GET", f"/canned-responses/{team_id}")["title"] == "Title"
    assert bob.shortcuts() == ["team"]
    with pytest.raises(Missing):
        canned_for_agent(services.tables, _agent(services, ann_id), "cr_000000000000")


# ----------------------------------------------------------------------------------- 409


def test_shortcuts_are_unique_per_team_and_per_agent(team: Team, manager: Caller) -> None:
    _, ann = team.agent("Ann")
    _, bob = team.agent("Bob")
    first = manager.canned("hello")
    body = {"shortcut": "hello", "title": "Again", "text": "Again"}
    error = manager.problem("POST", "/canned-responses", body, 409, "shortcut_taken")
    assert "hello" in error["message"]
    # A personal shortcut may repeat a team one, and another agent's.
    ann.canned("hello")
    bob.canned("hello")
    ann.problem("POST", "/canned-responses", body, 409, "shortcut_taken")
    # Renaming onto a taken shortcut is refused and changes nothing.
    other = manager.canned("bye")
    manager.problem("PATCH", f"/canned-responses/{other['id']}", {"shortcut": "hello"}, 409,
                    "shortcut_taken")
    assert manager.ok("GET", f"/canned-responses/{other['id']}")["shortcut"] == "bye"
    # Patching a response with its own shortcut is no conflict.
    manager.ok("PATCH", f"/canned-responses/{first['id']}", {"shortcut": "hello"})
    assert manager.shortcuts() == ["bye", "hello"]


@pytest.mark.parametrize("family", ["team", "personal"])
def test_concurrent_creates_of_one_shortcut_make_one(team: Team, manager: Caller,
                                                     family: str) -> None:
    caller = manager if family == "team" else team.agent()[1]
    body = {"shortcut": "race", "title": "Race", "text": "Race"}
    barrier = threading.Barrier(4, timeout=10)

    def create(_: int) -> int:
        barrier.wait()
        return caller.call("POST", "/canned-responses", body).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(create, range(4)))
    assert statuses == [201, 409, 409, 409]
    assert caller.shortcuts() == ["race"]


# ----------------------------------------------------------------------------------- 422


def test_invalid_bodies_name_their_fields(team: Team, manager: Caller) -> None:
    queue = team.queue("Billing")
    _, agent = team.agent()
    base = {"shortcut": "ok", "title": "Title", "text": "Text"}
    for caller in (manager, agent):
        for shortcut in ("Hello", "-x", "a b", "", "a" * 33, "réponse", "/x"):
            assert "shortcut" in caller.invalid("POST", "/canned-responses",
                                                {**base, "shortcut": shortcut})
        reply = {"title": "Yes", "payload": "YES"}
        assert "quick_replies" in caller.invalid("POST", "/canned-responses",
                                                 {**base, "quick_replies": [reply] * 14})
        assert "quick_replies[0].title" in caller.invalid(
            "POST", "/canned-responses",
            {**base, "quick_replies": [{"title": "x" * 21, "payload": "X"}]})
        assert "quick_replies[0].payload" in caller.invalid(
            "POST", "/canned-responses",
            {**base, "quick_replies": [{"title": "x", "payload": "X" * 1001}]})
        fields = caller.invalid("POST", "/canned-responses",
                                {**base, "text": "Hi {{customer.email}}"})
        assert "{{customer.email}}" in fields["text"]
        assert "title" in caller.invalid("POST", "/canned-responses", {**base, "title": " "})
        assert "text" in caller.invalid("POST", "/canned-responses",
                                        {**base, "text": "x" * 2001})
        assert "colour" in caller.invalid("POST", "/canned-responses",
                                          {**base, "colour": "red"})
    fields = manager.invalid("POST", "/canned-responses",
                             {**base, "queue_ids": [queue, "q_gone", "q_lost"]})
    assert fields == {"queue_ids[1]": "queue q_gone does not exist",
                      "queue_ids[2]": "queue q_lost does not exist"}
    # A personal response names no queues.
    assert "queue_ids" in agent.invalid("POST", "/canned-responses", {**base, "queue_ids": []})
    assert manager.shortcuts() == [] and agent.shortcuts() == []

    # PATCH checks the same, and null where a value is needed.
    team_id = manager.canned("ok")["id"]
    personal_id = agent.canned("ok")["id"]
    for caller, canned_id in ((manager, team_id), (agent, personal_id)):
        path = f"/canned-responses/{canned_id}"
        assert "text" in caller.invalid("PATCH", path, {"text": "{{agent.nom}}"})
        assert "shortcut" in caller.invalid("PATCH", path, {"shortcut": "No"})
        assert "title" in caller.invalid("PATCH", path, {"title": None})
        assert caller.ok("GET", path)["text"] == "Text"
    assert "queue_ids[0]" in manager.invalid("PATCH", f"/canned-responses/{team_id}",
                                             {"queue_ids": ["q_gone"]})


def test_a_deleted_queue_does_not_block_other_changes(team: Team, manager: Caller) -> None:
    queue = team.queue("Old")
    kept = team.queue("Kept")
    canned = manager.canned("old", queue_ids=[queue, kept])
    # Queues know who uses them among agents and workstreams, not canned responses.
    assert manager.call("DELETE", f"/queues/{queue}").status_code == 204
    changed = manager.ok("PATCH", f"/canned-responses/{canned['id']}", {"title": "Renamed"})
    assert changed["title"] == "Renamed" and changed["queue_ids"] == [queue, kept]
    assert "queue_ids[0]" in manager.invalid("PATCH", f"/canned-responses/{canned['id']}",
                                             {"queue_ids": ["q_other"]})


# ------------------------------------------------------------------------- list, search


def test_agent_list_is_personal_then_team_by_shortcut(team: Team, manager: Caller) -> None:
    _, agent = team.agent()
    for shortcut in ("zeta", "alpha", "mid"):
        manager.canned(shortcut)
    for shortcut in ("yours", "bravo"):
        agent.canned(shortcut)
    assert agent.shortcuts() == ["bravo", "yours", "alpha", "mid", "zeta"]
    assert manager.shortcuts() == ["alpha", "mid", "zeta"]

    listed = agent.ok("GET", "/canned-responses")
    assert listed["next"] is None
    assert [item["owner_agent_id"] is None for item in listed["items"]] == [
        False, False, True, True, True]
    # Nothing changed since: nothing listed; a change: only it.
    assert agent.ok("GET", "/canned-responses", since=listed["since"])["items"] == []
    alpha = next(item for item in listed["items"] if item["shortcut"] == "alpha")
    manager.ok("PATCH", f"/canned-responses/{alpha['id']}", {"text": "Changed"})
    changed = agent.ok("GET", "/canned-responses", since=listed["since"])
    assert [item["text"] for item in changed["items"]] == ["Changed"]
    # Pages.
    first = agent.ok("GET", "/canned-responses", limit=2)
    assert [item["shortcut"] for item in first["items"]] == ["bravo", "yours"]
    second = agent.ok("GET", "/canned-responses", limit=2, cursor=first["next"])
    assert [item["shortcut"] for item in second["items"]] == ["alpha", "mid"]
    last = agent.ok("GET", "/canned-responses", limit=2, cursor=second["next"])
    assert [item["shortcut"] for item in last["items"]] == ["zeta"] and last["next"] is None
    assert agent.call("GET", "/canned-responses", limit=0).status_code == 422
    assert agent.call("GET", "/canned-responses", cursor="!!").status_code == 400


def test_search_by_shortcut_and_title_words(team: Team, manager: Caller) -> None:
    _, agent = team.agent()
    manager.canned("summer", "Réponse d'été")
    manager.canned("refund-eu", "Refund policy, Europe")
    agent.canned("refresh", "Please REFRESH the page")
    agent.canned("greet", "Bonjour à tous")
    assert agent.shortcuts("ete") == ["summer"]
    assert agent.shortcuts("ÉTÉ") == ["summer"]
    assert agent.shortcuts("répon") == ["summer"]
    assert agent.shortcuts("ref") == ["refresh", "refund-eu"]
    assert agent.shortcuts("/ref") == ["refresh", "refund-eu"]
    assert agent.shortcuts("refund-e") == ["refund-eu"]
    assert agent.shortcuts("policy eur") == ["refund-eu"]
    assert agent.shortcuts("refresh page") == ["refresh"]
    assert agent.shortcuts("a") == ["greet"]  # "à"
    assert agent.shortcuts("olicy") == []
    assert agent.shortcuts("ete refund") == []
    assert agent.shortcuts("") == ["greet", "refresh", "refund-eu", "summer"]
    assert manager.shortcuts("ete") == ["summer"]
    assert agent.call("GET", "/canned-responses", query="x" * 201).status_code == 422


def test_team_responses_are_used_by_the_agents_of_their_queues(team: Team, manager: Caller,
                                                              services: Services) -> None:
    sales = team.queue("Sales")
    billing = team.queue("Billing")
    support = team.queue("Support")
    ann_id, ann = team.agent("Ann", [sales, support])
    bob_id, bob = team.agent("Bob", [billing])
    everyone = manager.canned("everyone")
    for_sales = manager.canned("sales", queue_ids=[sales])
    for_billing = manager.canned("billing", queue_ids=[billing, support])
    anns = ann.canned("anns")
    assert ann.shortcuts() == ["anns", "billing", "everyone", "sales"]
    assert bob.shortcuts() == ["billing", "everyone"]

    ann_agent, bob_agent = _agent(services, ann_id), _agent(services, bob_id)
    for canned in (everyone, for_sales, for_billing, anns):
        assert canned_for_agent(services.tables, ann_agent, canned["id"]).id == canned["id"]
    for canned in (everyone, for_billing):
        assert canned_for_agent(services.tables, bob_agent, canned["id"]).id == canned["id"]
    for canned in (for_sales, anns):
        with pytest.raises(Missing):
            canned_for_agent(services.tables, bob_agent, canned["id"])

    # Ann leaves Sales and Support: those responses leave her list and her reach.
    manager.ok("PATCH", f"/agents/{ann_id}", {"queue_ids": [billing]})
    assert ann.shortcuts() == ["anns", "billing", "everyone"]
    with pytest.raises(Missing):
        canned_for_agent(services.tables, _agent(services, ann_id), for_sales["id"])
    # A response moved to a queue of hers comes back.
    manager.ok("PATCH", f"/canned-responses/{for_sales['id']}", {"queue_ids": [billing]})
    assert ann.shortcuts("sa") == ["sales"]
    assert canned_for_agent(services.tables, _agent(services, ann_id),
                            for_sales["id"]).queue_ids == [billing]
