"""Queues, agents and workstreams through the management API, on a real Azurite."""

from __future__ import annotations

import random
import re
import string
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from messenger_channel.agent_keys import AgentKeys
from messenger_channel.provisioning.models import Page, ProvisioningState
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.services import Services
from messenger_channel.workforce.agents import get_agent, list_agents
from messenger_channel.workforce.queues import get_queue
from messenger_channel.workforce.workstreams import (
    get_workstream,
    list_workstreams,
    workstream_for_page,
)
from tests.support.keys import MANAGEMENT_KEY

MANAGER = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
ISO_SECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PAGE_ID = "100000000000001"
OTHER_PAGE_ID = "100000000000002"


class Manager:
    """The management API as the operator calls it: with the management key."""

    def __init__(self, api: TestClient) -> None:
        self.api = api

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        answer: httpx.Response = self.api.request(
            method, f"/api/manage{path}", json=body, params=params or None, headers=MANAGER)
        return answer

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        answer = self.call(method, path, body)
        assert answer.status_code == status, answer.text
        return answer.json() if answer.content else None

    def queue(self, name: str) -> str:
        return str(self.ok("POST", "/queues", {"name": name}, 201)["id"])

    def agent(self, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = self.ok("POST", "/agents", {"name": "Ann", **fields}, 201)
        return body

    def workstream(self, fallback: str, page_id: str = PAGE_ID, **fields: Any) -> dict[str, Any]:
        body = {"name": "Support", "page_id": page_id, "fallback_queue_id": fallback, **fields}
        created: dict[str, Any] = self.ok("POST", "/workstreams", body, 201)
        return created

    def problem(self, method: str, path: str, body: Any, status: int, code: str) -> Any:
        answer = self.call(method, path, body)
        assert answer.status_code == status, answer.text
        error = answer.json()
        assert error["error"] == code
        assert isinstance(error["message"], str) and error["message"]
        return error

    def invalid(self, method: str, path: str, body: Any) -> dict[str, str]:
        """The 422's fields as {field: message}."""
        error = self.problem(method, path, body, 422, "validation_error")
        assert error["fields"], error
        return {item["field"]: item["message"] for item in error["fields"]}


@pytest.fixture
def manager(api: TestClient) -> Manager:
    return Manager(api)


def add_page(services: Services, page_id: str,
             state: ProvisioningState = ProvisioningState.RUNNING) -> None:
    now = services.clock.now()
    ChannelTables(services.tables).pages.create(Page(
        page_id=page_id, account_id="acc_test", name=f"Page {page_id}",
        provisioning_state=state, created_at=now, updated_at=now,
    ))


@pytest.fixture
def page(services: Services) -> str:
    add_page(services, PAGE_ID)
    return PAGE_ID


# -------------------------------------------------------------------------------- queues


def test_queue_lifecycle(manager: Manager, services: Services) -> None:
    created = manager.ok("POST", "/queues", {"name": "  Billing "}, 201)
    assert created.keys() == {"id", "name", "created_at", "updated_at"}
    assert created["id"].startswith("q_") and created["name"] == "Billing"
    assert ISO_SECOND.match(created["created_at"]) and ISO_SECOND.match(created["updated_at"])
    queue_id = created["id"]
    assert manager.ok("GET", f"/queues/{queue_id}") == created
    assert [q["id"] for q in manager.ok("GET", "/queues")["items"]] == [queue_id]

    renamed = manager.ok("PATCH", f"/queues/{queue_id}", {"name": "Invoices"})
    assert renamed["name"] == "Invoices" and renamed["created_at"] == created["created_at"]
    stored = get_queue(services.tables, queue_id)
    assert stored is not None and stored.name == "Invoices"

    assert manager.call("DELETE", f"/queues/{queue_id}").status_code == 204
    manager.problem("GET", f"/queues/{queue_id}", None, 404, "not_found")
    assert manager.ok("GET", "/queues")["items"] == []


def test_queue_names_are_unique_ignoring_case_and_spacing(manager: Manager) -> None:
    first = manager.queue("Sales EU")
    error = manager.problem("POST", "/queues", {"name": "sales  eu"}, 409, "name_taken")
    assert "sales  eu" in error["message"]
    second = manager.queue("Sales US")
    manager.problem("PATCH", f"/queues/{second}", {"name": "SALES EU"}, 409, "name_taken")

    # A rename frees the old name; a change of case alone keeps the queue's own name.
    manager.ok("PATCH", f"/queues/{first}", {"name": "Sales Europe"})
    manager.ok("PATCH", f"/queues/{first}", {"name": "SALES EUROPE"})
    manager.ok("PATCH", f"/queues/{second}", {"name": "Sales EU"})
    manager.problem("POST", "/queues", {"name": "sales europe"}, 409, "name_taken")
    # A deleted queue's name may be used again.
    assert manager.call("DELETE", f"/queues/{first}").status_code == 204
    manager.queue("Sales Europe")


def test_concurrent_creates_of_one_queue_name_make_one_queue(manager: Manager) -> None:
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: manager.call("POST", "/queues", {"name": "Rush"}),
                                range(4)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert len(manager.ok("GET", "/queues")["items"]) == 1


def test_a_queue_in_use_cannot_be_deleted(manager: Manager, page: str) -> None:
    fallback, vip = manager.queue("General"), manager.queue("VIP")
    rules = [{"name": "vip", "rules": [
        {"when": {"field": "referral.ref", "op": "eq", "value": "vip"}, "queue_id": vip}]}]
    workstream = manager.workstream(fallback, routing_rules=rules)
    agent = manager.agent(name="Bo", queue_ids=[vip])

    error = manager.problem("DELETE", f"/queues/{vip}", None, 409, "queue_in_use")
    assert workstream["id"] in error["message"]
    assert "routing_rules[0].rules[0].queue_id" in error["message"]
    assert agent["id"] in error["message"] and "'Bo'" in error["message"]
    error = manager.problem("DELETE", f"/queues/{fallback}", None, 409, "queue_in_use")
    assert "fallback_queue_id" in error["message"] and agent["id"] not in error["message"]

    manager.ok("PATCH", f"/workstreams/{workstream['id']}", {"routing_rules": []})
    manager.ok("PATCH", f"/agents/{agent['id']}", {"queue_ids": []})
    assert manager.call("DELETE", f"/queues/{vip}").status_code == 204
    assert manager.call("DELETE", f"/workstreams/{workstream['id']}").status_code == 204
    assert manager.call("DELETE", f"/queues/{fallback}").status_code == 204


# -------------------------------------------------------------------------------- agents


def test_agent_defaults_and_key_shown_once(manager: Manager, services: Services,
                                           api: TestClient) -> None:
    created = manager.agent()
    key = created.pop("api_key")
    assert created == {
        "id": created["id"], "name": "Ann", "queue_ids": [], "capacity": 100,
        "presence": "offline", "role": "agent", "created_at": created["created_at"],
        "updated_at": created["updated_at"],
    }
    assert created["id"].startswith("ag_") and len(key) >= 32
    assert manager.ok("GET", f"/agents/{created['id']}") == created
    listed = manager.ok("GET", "/agents")
    assert listed["items"] == [created] and key not in str(listed)
    assert AgentKeys(services.tables).agent_for(key) == created["id"]
    stored = get_agent(services.tables, created["id"])
    assert stored is not None and key not in stored.model_dump_json()

    # The agent's key opens the agent family of routes, not these.
    answer = api.get("/api/manage/queues", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 403 and answer.json()["error"] == "forbidden"


def test_agent_lifecycle(manager: Manager, services: Services, api: TestClient) -> None:
    sales, support = manager.queue("Sales"), manager.queue("Support")
    created = manager.agent(name="Ann", queue_ids=[sales, support, sales], capacity=30,
                            presence="available")
    agent_id, key = created["id"], created["api_key"]
    assert created["queue_ids"] == [sales, support]  # listed twice is a member once

    changed = manager.ok("PATCH", f"/agents/{agent_id}",
                         {"name": "Ann B.", "queue_ids": [support], "presence": "away"})
    assert (changed["name"], changed["queue_ids"], changed["capacity"], changed["presence"]) \
        == ("Ann B.", [support], 30, "away")
    assert changed["updated_at"] >= created["updated_at"]
    manager.ok("PATCH", f"/agents/{agent_id}", {"capacity": 1000})
    assert [a.capacity for a in list_agents(services.tables)] == [1000]

    assert manager.call("DELETE", f"/agents/{agent_id}").status_code == 204
    manager.problem("GET", f"/agents/{agent_id}", None, 404, "not_found")
    assert AgentKeys(services.tables).agent_for(key) is None
    answer = api.get("/api/manage/queues", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 401


def test_agent_key_rotation(manager: Manager, services: Services) -> None:
    created = manager.agent()
    agent_id, old_key = created["id"], created["api_key"]
    rotated = manager.ok("POST", f"/agents/{agent_id}/key")
    new_key = rotated.pop("api_key")
    assert new_key != old_key and rotated["id"] == agent_id
    keys = AgentKeys(services.tables)
    assert keys.agent_for(old_key) is None and keys.agent_for(new_key) == agent_id
    assert "api_key" not in manager.ok("GET", f"/agents/{agent_id}")
    manager.problem("POST", "/agents/ag_missing/key", None, 404, "not_found")


def test_a_fixed_development_key(manager: Manager, services: Services) -> None:
    fixed = "ak_demo_local_development_key_000000000000"
    created = manager.agent(api_key=fixed)
    assert created["api_key"] == fixed
    assert AgentKeys(services.tables).agent_for(fixed) == created["id"]
    # Setting it again on the same agent changes nothing (the demo seeds on every run)...
    again = manager.ok("POST", f"/agents/{created['id']}/key", {"api_key": fixed})
    assert again["api_key"] == fixed
    assert AgentKeys(services.tables).agent_for(fixed) == created["id"]
    # ...and another agent cannot have it.
    manager.problem("POST", "/agents", {"name": "Bo", "api_key": fixed}, 409, "api_key_taken")
    other = manager.agent(name="Bo")
    manager.problem("POST", f"/agents/{other['id']}/key", {"api_key": fixed}, 409,
                    "api_key_taken")
    assert AgentKeys(services.tables).agent_for(other["api_key"]) == other["id"]
    # A fixed key may replace a random one.
    own = "x" * 40
    manager.ok("POST", f"/agents/{other['id']}/key", {"api_key": own})
    assert AgentKeys(services.tables).agent_for(own) == other["id"]
    assert AgentKeys(services.tables).agent_for(other["api_key"]) is None


@pytest.mark.parametrize(("body", "field", "message"), [
    ({}, "name", "Field required"),
    ({"name": ""}, "name", "at least 1 character"),
    ({"name": 42}, "name", "valid string"),
    ({"name": "A", "presence": "sleeping"}, "presence", "'available', 'busy', 'away'"),
    ({"name": "A", "capacity": 0}, "capacity", "greater than or equal to 1"),
    ({"name": "A", "capacity": 1001}, "capacity", "less than or equal to 1000"),
    ({"name": "A", "capacity": "10"}, "capacity", "valid integer"),
    ({"name": "A", "capacity": True}, "capacity", "valid integer"),
    ({"name": "A", "queue_ids": "q_1"}, "queue_ids", "valid list"),
    ({"name": "A", "queue_ids": ["q_missing"]}, "queue_ids[0]", "q_missing does not exist"),
    ({"name": "A", "api_key": "too-short"}, "api_key", "pattern"),
    ({"name": "A", "api_key": "has spaces " * 4}, "api_key", "pattern"),
    ({"name": "A", "colour": "blue"}, "colour", "Extra inputs are not permitted"),
])
def test_agent_validation(manager: Manager, body: dict[str, Any], field: str,
                          message: str) -> None:
    fields = manager.invalid("POST", "/agents", body)
    assert message in fields[field], fields
    assert manager.ok("GET", "/agents")["items"] == []


def test_agent_patch_validation(manager: Manager) -> None:
    queue = manager.queue("Sales")
    agent_id = manager.agent(queue_ids=[queue])["id"]
    fields = manager.invalid("PATCH", f"/agents/{agent_id}",
                             {"queue_ids": [queue, "q_nope"], "presence": "busy"})
    assert fields == {"queue_ids[1]": "queue q_nope does not exist"}
    assert manager.invalid("PATCH", f"/agents/{agent_id}", {"name": None}).keys() == {"name"}
    assert "api_key" in manager.invalid("PATCH", f"/agents/{agent_id}", {"api_key": "k" * 40})
    unchanged = manager.ok("GET", f"/agents/{agent_id}")
    assert (unchanged["queue_ids"], unchanged["presence"]) == ([queue], "offline")


def test_concurrent_patches_of_one_agent_are_both_applied(manager: Manager) -> None:
    agent_id = manager.agent()["id"]
    barrier = threading.Barrier(2, timeout=10)

    def send(body: dict[str, Any]) -> int:
        barrier.wait()
        return manager.call("PATCH", f"/agents/{agent_id}", body).status_code

    for round_ in range(15):
        with ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(send, [{"name": f"Ann {round_}"},
                                            {"capacity": round_ + 1}]))
        assert statuses == [200, 200]
        agent = manager.ok("GET", f"/agents/{agent_id}")
        assert (agent["name"], agent["capacity"]) == (f"Ann {round_}", round_ + 1)


# --------------------------------------------------------------------------- workstreams


WORKSTREAM_DEFAULTS = {
    "language": "en-US",
    "distribution_mode": "push",
    "assignment_method": "highest_capacity",
    "capacity_per_conversation": 10,
    "allowed_presences": ["available"],
    "offer_timeout_seconds": 60,
    "auto_close_after_minutes": 1440,
    "wrap_up": {"block_capacity": True, "minutes": 0},
    "customer_attachments": True,
    "agent_attachments": True,
    "human_agent_tag": False,
    "bot": None,
    "handover": None,
    "automated_messages": {},
    "pre_conversation_survey": [],
    "post_conversation_survey": None,
    "routing_rules": [],
    "time_zone": "UTC",
    "operating_hours": None,
}


def test_workstream_defaults(manager: Manager, services: Services, page: str) -> None:
    queue = manager.queue("General")
    created = manager.workstream(queue)
    assert created == {
        "id": created["id"], "name": "Support", "page_id": page, "fallback_queue_id": queue,
        **WORKSTREAM_DEFAULTS,
        "created_at": created["created_at"], "updated_at": created["updated_at"],
    }
    assert created["id"].startswith("ws_")
    assert manager.ok("GET", f"/workstreams/{created['id']}") == created
    found = workstream_for_page(services.tables, page)
    assert found is not None and found.id == created["id"]
    assert get_workstream(services.tables, created["id"]) == found


def full_settings(queue: str, vip: str) -> dict[str, Any]:
    return {
        "language": "de-DE",
        "distribution_mode": "pick",
        "assignment_method": "round_robin",
        "capacity_per_conversation": 25,
        "allowed_presences": ["available", "busy"],
        "offer_timeout_seconds": 120,
        "auto_close_after_minutes": 60,
        "wrap_up": {"block_capacity": False, "minutes": 5},
        "customer_attachments": False,
        "agent_attachments": False,
        "human_agent_tag": True,
        "automated_messages": {
            "greeting": {"en-US": "Hi! Someone will be with you shortly.",
                         "de-DE": "Hallo! Gleich ist jemand für Sie da."},
            "agent_assigned": {"en-US": "{AgentName} of {QueueName} is here to help."},
            "position_in_queue": {"en-US": "You are number {QueuePosition} in the queue."},
        },
        "pre_conversation_survey": [
            {"id": "topic", "question": "What is it about?", "options": ["Billing", "Other"]},
            {"id": "order", "question": "Your order number?", "options": []},
        ],
        "post_conversation_survey": {"kind": "link", "message": "How did we do?",
                                     "url": "https://survey.example.com/s?id=1"},
        "routing_rules": [
            {"name": "tagging", "rules": [
                {"when": {"any": [{"field": "message.text", "op": "contains", "value": "refund"},
                                  {"field": "survey.topic", "op": "eq", "value": "Billing"}]},
                 "set": {"topic": "billing", "priority": 2}},
            ]},
            {"name": "queues", "rules": [
                {"when": {"all": [{"field": "attributes.topic", "op": "eq", "value": "billing"},
                                  {"not": {"field": "time.weekday", "op": "gte", "value": 6}},
                                  {"field": "time.hour", "op": "in", "value": [9, 10, 11]}]},
                 "queue_id": vip},
                {"when": {"field": "message.text", "op": "regex", "value": r"(?i)order\s*#?\d+"},
                 "queue_id": queue},
                {"when": {"field": "referral.ad_id", "op": "exists", "value": True},
                 "queue_id": vip, "set": {"source": "ad"}},
            ]},
        ],
        "time_zone": "Europe/Berlin",
        "operating_hours": {"time_zone": "Europe/Berlin",
                            "weekly": {day: [["09:00", "12:30"], ["13:30", "18:00"]]
                                       for day in ("mon", "tue", "wed", "thu", "fri")}
                            | {"sat": [["10:00", "14:00"]], "sun": []},
                            "holidays": ["2026-12-24", "2026-12-25"]},
    }


def test_workstream_with_every_setting(manager: Manager, services: Services, page: str) -> None:
    queue, vip = manager.queue("General"), manager.queue("VIP")
    settings = full_settings(queue, vip)
    created = manager.workstream(queue, **settings)
    assert {key: created[key] for key in settings} == settings
    assert manager.ok("GET", f"/workstreams/{created['id']}") == created
    stored = get_workstream(services.tables, created["id"])
    assert stored is not None and stored.routing_rules[1].rules[1].queue_id == queue


def test_workstream_patch_changes_only_what_it_names(manager: Manager, page: str) -> None:
    queue, vip = manager.queue("General"), manager.queue("VIP")
    created = manager.workstream(queue, **full_settings(queue, vip))
    path = f"/workstreams/{created['id']}"
    changed = manager.ok("PATCH", path, {"wrap_up": {"minutes": 10},
                                         "post_conversation_survey": None, "name": "Help"})
    expected = {**created, "name": "Help", "post_conversation_survey": None,
                "wrap_up": {"block_capacity": True, "minutes": 10},
                "updated_at": changed["updated_at"]}
    assert changed == expected  # wrap_up is replaced as a whole, with its own defaults
    assert manager.ok("GET", path) == expected


def test_distribution_mode_is_fixed_at_creation(manager: Manager, page: str) -> None:
    queue = manager.queue("General")
    path = f"/workstreams/{manager.workstream(queue)['id']}"
    fields = manager.invalid("PATCH", path, {"distribution_mode": "pick"})
    assert "fixed when the workstream is created" in fields["distribution_mode"]
    manager.ok("PATCH", path, {"distribution_mode": "push", "name": "Same mode"})
    assert manager.ok("GET", path)["distribution_mode"] == "push"


def test_a_page_has_one_workstream(manager: Manager, services: Services, page: str) -> None:
    queue = manager.queue("General")
    first = manager.workstream(queue)
    error = manager.problem("POST", "/workstreams",
                            {"name": "Second", "page_id": page, "fallback_queue_id": queue},
                            409, "page_has_workstream")
    assert first["id"] in error["message"]

    add_page(services, OTHER_PAGE_ID)
    second = manager.workstream(queue, page_id=OTHER_PAGE_ID)
    manager.problem("PATCH", f"/workstreams/{second['id']}", {"page_id": page}, 409,
                    "page_has_workstream")

    # Moving the first workstream frees its page for another.
    assert manager.call("DELETE", f"/workstreams/{second['id']}").status_code == 204
    manager.ok("PATCH", f"/workstreams/{first['id']}", {"page_id": OTHER_PAGE_ID})
    moved = workstream_for_page(services.tables, OTHER_PAGE_ID)
    assert moved is not None and moved.id == first["id"]
    assert workstream_for_page(services.tables, page) is None
    third = manager.workstream(queue)
    found = workstream_for_page(services.tables, page)
    assert found is not None and found.id == third["id"]


def test_concurrent_workstreams_for_one_page_make_one(manager: Manager, page: str) -> None:
    queue = manager.queue("General")
    body = {"name": "Rush", "page_id": page, "fallback_queue_id": queue}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: manager.call("POST", "/workstreams", body), range(4)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert len(manager.ok("GET", "/workstreams")["items"]) == 1


def test_the_page_must_be_connected(manager: Manager, services: Services) -> None:
    queue = manager.queue("General")
    body = {"name": "S", "page_id": "999", "fallback_queue_id": queue}
    assert "not connected" in manager.invalid("POST", "/workstreams", body)["page_id"]
    add_page(services, "998", ProvisioningState.DEPROVISIONED)
    fields = manager.invalid("POST", "/workstreams", {**body, "page_id": "998"})
    assert "not connected" in fields["page_id"]
    assert list_workstreams(services.tables) == []


def rules_with(when: dict[str, Any], queue: str = "QUEUE") -> list[dict[str, Any]]:
    return [{"name": "r", "rules": [{"when": when, "queue_id": queue}]}]


def text_is(value: Any, op: str = "eq", field: str = "message.text") -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


WHEN = "routing_rules[0].rules[0].when"

# (settings, field named in the 422, words of its message); "QUEUE" is a queue that exists.
WORKSTREAM_PROBLEMS: list[tuple[dict[str, Any], str, str]] = [
    ({"routing_rules": rules_with(text_is("x", field="message.txt"))}, f"{WHEN}.field",
     "unknown field 'message.txt'"),
    ({"routing_rules": rules_with(text_is("x", field="survey."))}, f"{WHEN}.field",
     "unknown field"),
    ({"routing_rules": rules_with(text_is("x", op="like"))}, f"{WHEN}.op", "'eq', 'ne'"),
    ({"routing_rules": rules_with(text_is("(unclosed", op="regex"))}, f"{WHEN}.value",
     "not a valid regular expression"),
    ({"routing_rules": rules_with(text_is("(a+)+$", op="regex"))}, f"{WHEN}.value",
     "exponential"),
    ({"routing_rules": rules_with(text_is("a" * 201, op="regex"))}, f"{WHEN}.value",
     "at most 200 characters"),
    ({"routing_rules": rules_with(text_is("x", op="in"))}, f"{WHEN}.value", "in takes a list"),
    ({"routing_rules": rules_with(text_is("yes", op="exists"))}, f"{WHEN}.value",
     "true or false"),
    ({"routing_rules": rules_with(text_is("9", op="gte", field="time.hour"))}, f"{WHEN}.value",
     "time.hour is a number"),
    ({"routing_rules": rules_with(text_is(24, field="time.hour"))}, f"{WHEN}.value",
     "between 0 and 23"),
    ({"routing_rules": rules_with(text_is(5, op="gte"))}, f"{WHEN}.value",
     "message.text is text"),
    ({"routing_rules": rules_with({"all": [text_is("a")], "not": text_is("b")})}, WHEN,
     "a condition is one of"),
    ({"routing_rules": rules_with({"not": {"not": {"not": {"not": {"not": text_is("a")}}}}})},
     WHEN, "at most 5 levels"),
    ({"routing_rules": rules_with(text_is("x"), queue="q_nowhere")},
     "routing_rules[0].rules[0].queue_id", "queue q_nowhere does not exist"),
    ({"routing_rules": rules_with({"all": [text_is("Billing", field="survey.topic")]})},
     f"{WHEN}.all[0].field", "no question 'topic' in pre_conversation_survey"),
    ({"routing_rules": [{"name": "r", "rules": [{"when": text_is("a"), "queue_id": "QUEUE"}]
                         * 101}]},
     "routing_rules[0].rules", "at most 100 items"),
    ({"routing_rules": [{"name": f"r{i}", "rules": [{"when": text_is("a"), "queue_id": "QUEUE"}]}
                        for i in range(11)]},
     "routing_rules", "at most 10 items"),
    ({"routing_rules": [{"name": "r", "rules": [{"when": text_is("a")}]}]},
     "routing_rules[0].rules[0]", "routes to a queue"),
    ({"time_zone": "Mars/Olympus"}, "time_zone", "unknown time zone"),
    ({"time_zone": "../../etc/passwd"}, "time_zone", "unknown time zone"),
    ({"distribution_mode": "broadcast"}, "distribution_mode", "'push' or 'pick'"),
    ({"assignment_method": "random"}, "assignment_method", "'highest_capacity'"),
    ({"allowed_presences": []}, "allowed_presences", "at least 1 item"),
    ({"allowed_presences": ["asleep"]}, "allowed_presences[0]", "'available'"),
    ({"offer_timeout_seconds": 5}, "offer_timeout_seconds", "greater than or equal to 10"),
    ({"offer_timeout_seconds": 3601}, "offer_timeout_seconds", "less than or equal to 3600"),
    ({"auto_close_after_minutes": 43201}, "auto_close_after_minutes", "less than or equal"),
    ({"capacity_per_conversation": 0}, "capacity_per_conversation", "greater than or equal"),
    ({"capacity_per_conversation": 1.5}, "capacity_per_conversation", "valid integer"),
    ({"wrap_up": {"minutes": 1441}}, "wrap_up.minutes", "less than or equal to 1440"),
    ({"wrap_up": {"block_capacity": "yes"}}, "wrap_up.block_capacity", "valid boolean"),
    ({"human_agent_tag": 1}, "human_agent_tag", "valid boolean"),
    ({"language": "english please"}, "language", "pattern"),
    ({"automated_messages": {"hello": {"en-US": "Hi"}}}, "automated_messages.hello.[key]",
     "'greeting'"),
    ({"automated_messages": {"greeting": {"en-US": "x" * 2001}}},
     "automated_messages.greeting.en-US", "at most 2000 characters"),
    ({"automated_messages": {"agent_assigned": {"en-US": "Hi, I'm {agentname}"}}},
     "automated_messages.agent_assigned.en-US", "unknown placeholder {agentname}"),
    ({"automated_messages": {"greeting": {}}}, "automated_messages.greeting", "at least 1 item"),
    ({"pre_conversation_survey": [{"id": f"q{i}", "question": "?"} for i in range(6)]},
     "pre_conversation_survey", "at most 5 items"),
    ({"pre_conversation_survey": [{"id": "q", "question": "?"}, {"id": "q", "question": "!"}]},
     "pre_conversation_survey", "q repeats"),
    ({"pre_conversation_survey": [{"id": "q", "question": "?", "options": ["x" * 21]}]},
     "pre_conversation_survey[0].options[0]", "at most 20 characters"),
    ({"post_conversation_survey": {"message": "Rate us", "url": "http://insecure.example"}},
     "post_conversation_survey.url", "https"),
    ({"post_conversation_survey": {"message": "Rate us"}}, "post_conversation_survey.url",
     "Field required"),
    ({"page_id": None}, "page_id", "valid string"),
    ({"page_id": "my-page"}, "page_id", "pattern"),
    ({"fallback_queue_id": "q_nowhere"}, "fallback_queue_id", "does not exist"),
    ({"surprise": True}, "surprise", "Extra inputs are not permitted"),
]


def resolve(value: Any, queue: str) -> Any:
    """``value`` with the placeholder "QUEUE" replaced by a real queue id."""
    if value == "QUEUE":
        return queue
    if isinstance(value, list):
        return [resolve(item, queue) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, queue) for key, item in value.items()}
    return value


@pytest.mark.parametrize(("settings", "field", "message"), WORKSTREAM_PROBLEMS,
                         ids=[f"{i}-{case[1]}" for i, case in enumerate(WORKSTREAM_PROBLEMS)])
def test_workstream_validation(manager: Manager, services: Services, page: str,
                               settings: dict[str, Any], field: str, message: str) -> None:
    queue = manager.queue("General")
    body = resolve({"name": "S", "page_id": page, "fallback_queue_id": queue, **settings}, queue)
    fields = manager.invalid("POST", "/workstreams", body)
    assert field in fields, fields
    assert message in fields[field], fields
    # The same change to an existing workstream is refused alike, and changes nothing.
    if "page_id" not in settings:
        existing = manager.workstream(queue)
        path = f"/workstreams/{existing['id']}"
        assert message in manager.invalid("PATCH", path, resolve(settings, queue))[field]
        assert manager.ok("GET", path) == existing
        manager.ok("DELETE", path, status=204)


def test_every_problem_is_reported_at_once(manager: Manager, page: str) -> None:
    queue = manager.queue("General")
    body = {"name": "S", "page_id": page, "fallback_queue_id": "q_gone",
            "routing_rules": rules_with(text_is("x", field="survey.topic"), queue="q_lost")}
    fields = manager.invalid("POST", "/workstreams", body)
    assert fields.keys() == {"fallback_queue_id", "routing_rules[0].rules[0].queue_id",
                             f"{WHEN}.field"}
    assert queue not in str(fields)


def test_missing_required_fields(manager: Manager) -> None:
    fields = manager.invalid("POST", "/workstreams", {})
    assert fields == {"name": "Field required", "page_id": "Field required",
                      "fallback_queue_id": "Field required"}


def test_removing_a_survey_question_a_rule_reads_is_refused(manager: Manager, page: str) -> None:
    queue = manager.queue("General")
    created = manager.workstream(
        queue, pre_conversation_survey=[{"id": "topic", "question": "About?"}],
        routing_rules=rules_with(text_is("Billing", field="survey.topic"), queue=queue))
    fields = manager.invalid("PATCH", f"/workstreams/{created['id']}",
                             {"pre_conversation_survey": []})
    assert "no question 'topic'" in fields[f"{WHEN}.field"]


def test_the_most_rules_dynamics_allows_fit(manager: Manager, services: Services,
                                            page: str) -> None:
    queues = [manager.queue(f"Queue {i}") for i in range(10)]
    rulesets = [
        {"name": f"ruleset {i}", "rules": [
            {"when": {"all": [text_is(f"keyword {i}-{j}", op="contains"),
                              text_is(f"^order {j}\\d+", op="regex", field="message.payload")]},
             "set": {"ruleset": i, "rule": j}, "queue_id": queues[(i + j) % 10]}
            for j in range(100)]}
        for i in range(10)
    ]
    created = manager.workstream(queues[0], routing_rules=rulesets)
    assert created["routing_rules"] == rulesets
    stored = get_workstream(services.tables, created["id"])
    assert stored is not None and len(stored.routing_rules) == 10
    assert manager.ok("GET", f"/workstreams/{created['id']}")["routing_rules"] == rulesets


def test_settings_too_large_to_store_are_refused(manager: Manager, page: str) -> None:
    # Random text hardly compresses: 22 texts of 2000 characters outgrow one table property.
    chance = random.Random(7)
    triggers = ["greeting", "agent_assigned", "agent_unavailable", "agent_disconnected",
                "agent_ended", "agent_joined", "next_in_line", "position_in_queue",
                "out_of_hours", "session_ended", "transfer_accepted"]
    messages = {trigger: {locale: "".join(chance.choices(string.ascii_letters, k=2000))
                          for locale in ("en-US", "de-DE")} for trigger in triggers}
    queue = manager.queue("General")
    body = {"name": "S", "page_id": page, "fallback_queue_id": queue,
            "automated_messages": messages}
    fields = manager.invalid("POST", "/workstreams", body)
    assert "too large to store" in fields["automated_messages"]
    manager.workstream(queue, automated_messages={t: {"en-US": m["en-US"]}
                                                  for t, m in list(messages.items())[:8]})


# --------------------------------------------------------------------- shared behaviour


RESOURCES = ["queues", "agents", "workstreams"]


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_ids_are_404(manager: Manager, resource: str, method: str) -> None:
    body: dict[str, Any] | None = {} if method == "PATCH" else None
    error = manager.problem(method, f"/{resource}/nope_123", body, 404, "not_found")
    assert "nope_123" in error["message"]


ROUTES = [("POST", "/queues"), ("GET", "/queues"), ("GET", "/queues/q_1"),
          ("PATCH", "/queues/q_1"), ("DELETE", "/queues/q_1"), ("POST", "/agents"),
          ("GET", "/agents"), ("PATCH", "/agents/ag_1"), ("POST", "/agents/ag_1/key"),
          ("DELETE", "/agents/ag_1"), ("POST", "/workstreams"), ("GET", "/workstreams"),
          ("GET", "/workstreams/ws_1"), ("PATCH", "/workstreams/ws_1"),
          ("DELETE", "/workstreams/ws_1")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_auth(api: TestClient, manager: Manager, method: str, path: str) -> None:
    agent_key = manager.agent()["api_key"]
    cases = [({}, 401, "unauthorized"),
             ({"Authorization": "Bearer not-a-key-of-anyone-0000000000000"}, 401, "unauthorized"),
             ({"Authorization": f"Bearer {agent_key}"}, 403, "forbidden")]
    for headers, status, code in cases:
        answer = api.request(method, f"/api/manage{path}", json={"name": "X"}, headers=headers)
        assert (answer.status_code, answer.json()["error"]) == (status, code)
    assert [a["name"] for a in manager.ok("GET", "/agents")["items"]] == ["Ann"]
    assert manager.ok("GET", "/queues")["items"] == []


@pytest.mark.parametrize(("method", "path"), [("POST", "/queues"), ("PATCH", "/agents/x"),
                                              ("POST", "/workstreams")])
def test_malformed_json_is_400(api: TestClient, method: str, path: str) -> None:
    answer = api.request(method, f"/api/manage{path}", content=b'{"name": "A",',
                         headers={**MANAGER, "Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_json"


def test_a_body_that_is_not_an_object_is_422(manager: Manager) -> None:
    assert manager.invalid("POST", "/queues", ["Sales"]) == {
        "body": "Input should be a valid dictionary or object to extract fields from"}


@pytest.mark.parametrize("resource", RESOURCES)
def test_since_returns_only_changes(manager: Manager, services: Services, resource: str) -> None:
    queue = manager.queue("General")

    def make(i: int) -> str:
        if resource == "queues":
            return manager.queue(f"Q{i}")
        if resource == "agents":
            return str(manager.agent(name=f"A{i}")["id"])
        add_page(services, f"30000000000000{i}")
        return str(manager.workstream(queue, page_id=f"30000000000000{i}", name=f"W{i}")["id"])

    ids = [make(i) for i in range(3)]
    first = manager.ok("GET", f"/{resource}")
    quiet = manager.call("GET", f"/{resource}", since=first["since"]).json()
    assert quiet["items"] == [] and quiet["next"] is None

    manager.ok("PATCH", f"/{resource}/{ids[1]}", {"name": "Renamed"})
    changed = manager.call("GET", f"/{resource}", since=quiet["since"]).json()
    assert [item["id"] for item in changed["items"]] == [ids[1]]
    assert changed["items"][0]["name"] == "Renamed"
    assert manager.call("GET", f"/{resource}", since=changed["since"]).json()["items"] == []
    # Newest activity first: the changed one leads the full list now.
    assert manager.ok("GET", f"/{resource}")["items"][0]["id"] == ids[1]


def test_lists_page_by_limit_newest_first(manager: Manager) -> None:
    ids = [manager.queue(f"Q{i}") for i in range(5)]
    seen: list[str] = []
    page = manager.call("GET", "/queues", limit=2).json()
    while True:
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        if page["next"] is None:
            break
        page = manager.call("GET", "/queues", limit=2, cursor=page["next"]).json()
    assert seen == ids[::-1]
    assert manager.invalid("GET", "/queues?limit=0", None).keys() == {"limit"}
    assert manager.invalid("GET", "/queues?limit=many", None).keys() == {"limit"}
    manager.problem("GET", "/queues?cursor=%%%", None, 400, "invalid_cursor")


def test_the_openapi_document_describes_the_routes(api: TestClient) -> None:
    document = api.get("/api/openapi.json").json()
    for path in ("/api/manage/queues", "/api/manage/agents/{id}", "/api/manage/agents/{id}/key",
                 "/api/manage/workstreams/{id}"):
        assert path in document["paths"]
    create = document["paths"]["/api/manage/agents"]["post"]
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AgentWithKey")
    schemas = document["components"]["schemas"]
    assert "local demo" in schemas["AgentCreate"]["properties"]["api_key"]["description"]
    assert "routing_rules" in schemas["WorkstreamCreate"]["properties"]
    assert "time_zone" in schemas["WorkstreamPatch"]["properties"]
