"""Agents working together, end to end: notes, quick replies, canned responses, retry,
transfer, consultation, labels and who may call what, driven over HTTP against the devhost,
with the Messenger simulator recording every Send API call (and failing some on demand).

One team for the module (a page, three queues, five agents, one workstream); each test opens
conversations of its own on that page, so the tests do not depend on each other's order."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.test_channel_setup import new_account, new_page_token
from tests.support.eventually import eventually
from tests.support.product import MANAGEMENT_KEY, Product, new_id

DAY = 24 * 3600
PAGE_NAME = "Contoso Shoes"
TRANSFER_ACCEPTED = "You are now talking with {AgentName}."


def _running(product: Product, function: str) -> Callable[[], object]:
    """A nudge for ``eventually``: run ``function`` (the background runner may be first)."""
    return lambda: product.run_function(function)


def _created(answer: httpx.Response) -> Any:
    assert answer.status_code == 201, answer.text
    return answer.json()


@dataclass
class Chat:
    """One customer's conversation, held by Ann."""

    id: str
    psid: str


class Team:
    """A page named ``PAGE_NAME`` with its workstream (``transfer_accepted`` configured), the
    queues Front (its fallback), Back and Side, and the agents Ann (Front), Bob (Back),
    Cat (Side, the consultant), Dan (Front, offline) and Eve (Side, in no conversation)."""

    def __init__(self, product: Product) -> None:
        self.product = product
        self.sim = product.simulator
        account = new_account(product)
        self.account_id = account.id
        self.page_id, token = new_page_token(product, account)
        added = product.manage.post(f"/accounts/{account.id}/pages", json={
            "page_id": self.page_id, "name": PAGE_NAME, "access_token": token})
        assert added.json()["provisioning_state"] == "Running", added.text
        self.front, self.back, self.side = (_created(product.manage.post(
            "/queues", json={"name": f"{name} {self.page_id}"})) for name in
            ("Front", "Back", "Side"))
        self.agents: dict[str, dict[str, Any]] = {}
        self.clients: dict[str, httpx.Client] = {}
        for name, queue, presence in (("Ann", self.front, "available"),
                                      ("Bob", self.back, "available"),
                                      ("Cat", self.side, "available"),
                                      ("Dan", self.front, "offline"),
                                      ("Eve", self.side, "available")):
            agent = _created(product.manage.post("/agents", json={
                "name": name, "queue_ids": [queue["id"]], "presence": presence}))
            self.agents[name] = agent
            self.clients[name] = httpx.Client(
                base_url=f"{product.devhost_url}/api/agent", timeout=30,
                headers={"Authorization": f"Bearer {agent['api_key']}"})
        self.ann, self.bob, self.cat, self.eve = (self.clients[n] for n in
                                                   ("Ann", "Bob", "Cat", "Eve"))
        self.workstream_id = _created(product.manage.post("/workstreams", json={
            "name": "Support", "page_id": self.page_id, "fallback_queue_id": self.front["id"],
            "auto_close_after_minutes": 43200, "capacity_per_conversation": 1,
            "automated_messages": {"transfer_accepted": {"en-US": TRANSFER_ACCEPTED}}}))["id"]
        self.anonymous = httpx.Client(base_url=f"{product.devhost_url}/api/agent", timeout=30)
        self.manager = httpx.Client(base_url=f"{product.devhost_url}/api/agent", timeout=30,
                                    headers={"Authorization": f"Bearer {MANAGEMENT_KEY}"})

    def id_of(self, name: str) -> str:
        return str(self.agents[name]["id"])

    def close(self) -> None:
        for client in (*self.clients.values(), self.anonymous, self.manager):
            client.close()

    # ------------------------------------------------------------------ the customer

    def open_chat(self, first_name: str = "Lea", last_name: str = "Roy") -> Chat:
        """A new customer writes; Ann (the only available agent of Front) accepts and reads."""
        psid = new_id()
        self.sim.put_user(psid, self.page_id, first_name=first_name, last_name=last_name)
        self.say(psid, "Hello")
        [offered] = eventually(
            lambda: [c for c in self.ann.get("/conversations").json()["items"]
                     if c["psid"] == psid],
            nudge=_running(self.product, "router"), interval=0.1, what="the offer to Ann")
        accepted = self.ann.post(f"/conversations/{offered['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        # Ann opens it (mark_seen goes out now, not in the middle of a test's faults).
        assert self.ann.get(f"/conversations/{offered['id']}/messages").status_code == 200
        return Chat(offered["id"], psid)

    def say(self, psid: str, text: str, **options: Any) -> dict[str, Any]:
        said = self.sim.say(self.account_id, self.page_id, psid, text, **options)
        assert said["ok"], said
        return said

    # ------------------------------------------------------------------ reading

    def sent(self, chat: Chat) -> list[dict[str, Any]]:
        """The Send API's record of the messages to this customer (sender actions aside)."""
        return self.sim.sent(page_id=self.page_id, psid=chat.psid)

    def sent_text(self, chat: Chat, text: str) -> dict[str, Any]:
        """Wait until a message with ``text`` is in the Send API's record; that message."""
        found = eventually(
            lambda: [s for s in self.sent(chat) if s["message"].get("text") == text],
            nudge=_running(self.product, "sender"), interval=0.1,
            what=f"{text!r} to reach the simulator")
        return found[0]

    def transcript(self, chat: Chat, who: httpx.Client | None = None) -> list[dict[str, Any]]:
        answer = (who or self.ann).get(f"/conversations/{chat.id}/messages")
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])

    def message(self, chat: Chat, message_id: str) -> dict[str, Any]:
        [found] = [m for m in self.transcript(chat) if m["id"] == message_id]
        return found

    def reply(self, chat: Chat, who: httpx.Client | None = None,
              **body: Any) -> httpx.Response:
        return (who or self.ann).post(f"/conversations/{chat.id}/messages", json=body)

    def consult(self, chat: Chat, name: str) -> dict[str, Any]:
        return dict(_created(self.ann.post(f"/conversations/{chat.id}/consult",
                                           json={"agent_id": self.id_of(name)})))

    def shift_clocks(self, seconds: float) -> None:
        assert self.product.admin.put("/clock", json={"offset_seconds": seconds}).is_success
        self.sim.set_clock(seconds)


@pytest.fixture(scope="module")
def team(product: Product) -> Iterator[Team]:
    made = Team(product)
    try:
        yield made
    finally:
        made.close()


def _fields(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "validation_error" and "fields" in body, body
    return [f["field"] for f in body["fields"]]


def _error(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json().get("error")


# ---------------------------------------------------------------------------------- notes


def test_notes_of_the_owner_and_a_consultant_stay_internal(team: Team, product: Product) -> None:
    chat = team.open_chat()
    consulted = team.consult(chat, "Cat")
    assert consulted["role"] == "owner"
    assert [(p["agent_id"], p["role"]) for p in consulted["participants"]] == [
        (team.id_of("Ann"), "owner"), (team.id_of("Cat"), "consultant")]
    seen_by_cat = team.cat.get(f"/conversations/{chat.id}")
    assert (seen_by_cat.status_code, seen_by_cat.json()["role"]) == (200, "consultant")
    before = team.sent(chat)

    owners = _created(team.ann.post(f"/conversations/{chat.id}/notes",
                                    json={"text": "Owner note: refund approved"}))
    consultants = _created(team.cat.post(f"/conversations/{chat.id}/notes",
                                         json={"text": "Consultant note: check the size"}))
    for note, name in ((owners, "Ann"), (consultants, "Cat")):
        assert (note["visibility"], note["author"], note["direction"], note["status"]) == (
            "internal", "agent", "out", "received")
        assert (note["author_id"], note["author_name"]) == (team.id_of(name), name)

    # A customer-visible reply after the notes: once it is recorded, the notes would be too.
    assert team.reply(chat, text="Your refund is on its way.").status_code == 202
    reply = team.sent_text(chat, "Your refund is on its way.")
    product.run_function("sender")  # nothing else left on the queue for this customer
    assert team.sent(chat) == [*before, reply]
    every_call = json.dumps(product.simulator.requests(page_id=team.page_id))
    assert "Owner note" not in every_call and "Consultant note" not in every_call

    for reader in (team.ann, team.cat):
        notes = {m["id"]: m for m in team.transcript(chat, reader)
                 if m["author"] == "agent" and m["visibility"] == "internal"}
        assert [(n["text"], n["author_id"], n["author_name"]) for n in notes.values()] == [
            ("Owner note: refund approved", team.id_of("Ann"), "Ann"),
            ("Consultant note: check the size", team.id_of("Cat"), "Cat")]
        assert set(notes) == {owners["id"], consultants["id"]}

    # The consultant leaves: the conversation is no longer theirs to see.
    left = team.cat.delete(f"/conversations/{chat.id}/consult/{team.id_of('Cat')}")
    assert left.status_code == 204, left.text
    assert team.cat.get(f"/conversations/{chat.id}").status_code == 404
    assert team.ann.get(f"/conversations/{chat.id}").json()["participants"] == [
        {"agent_id": team.id_of("Ann"), "name": "Ann", "role": "owner",
         "since": consulted["participants"][0]["since"]}]


# -------------------------------------------------------------------------- quick replies


def test_quick_replies_reach_facebook_and_the_tap_comes_back(team: Team, product: Product) -> None:
    chat = team.open_chat()
    buttons = [{"title": "Yes, thanks", "payload": "HELPED_YES"},
               {"title": "No", "payload": "HELPED_NO"}]
    answer = team.reply(chat, text="Did that help?", quick_replies=buttons)
    assert answer.status_code == 202, answer.text
    sent = team.sent_text(chat, "Did that help?")
    assert sent["message"]["quick_replies"] == [
        {"content_type": "text", **button} for button in buttons]
    assert team.message(chat, answer.json()["id"])["quick_replies"] == buttons

    said = team.say(chat.psid, "No", quick_reply_payload="HELPED_NO")
    tapped = eventually(
        lambda: [m for m in team.transcript(chat) if m["facebook_message_id"] == said["mid"]],
        nudge=_running(product, "router"), interval=0.1, what="the tap in the transcript")
    assert [(m["author"], m["text"], m["payload"]) for m in tapped] == [
        ("customer", "No", "HELPED_NO")]


def test_quick_reply_limits(team: Team) -> None:
    chat = team.open_chat()
    many = [{"title": f"Option {n}", "payload": f"OPT_{n}"} for n in range(14)]
    assert "quick_replies" in _fields(team.reply(chat, text="Pick", quick_replies=many))
    assert team.reply(chat, text="Pick", quick_replies=many[:13]).status_code == 202
    long_title = [{"title": "t" * 21, "payload": "P"}]
    assert "quick_replies[0].title" in _fields(
        team.reply(chat, text="Pick", quick_replies=long_title))
    assert team.reply(chat, text="Pick", quick_replies=[
        {"title": "t" * 20, "payload": "p" * 1000}]).status_code == 202
    long_payload = [{"title": "Yes", "payload": "p" * 1001}]
    assert "quick_replies[0].payload" in _fields(
        team.reply(chat, text="Pick", quick_replies=long_payload))
    without_text = team.reply(chat, quick_replies=[{"title": "Yes", "payload": "Y"}])
    assert _error(without_text) == (422, "validation_error"), without_text.text


def test_quick_replies_without_text_name_the_field(team: Team) -> None:
    chat = team.open_chat()
    without_text = team.reply(chat, quick_replies=[{"title": "Yes", "payload": "Y"}])
    assert "quick_replies" in _fields(without_text)


# ----------------------------------------------------------------------- canned responses


def test_canned_response_is_filled_and_limited_to_the_agents_queues(
        team: Team, product: Product) -> None:
    chat = team.open_chat(first_name="Zoé", last_name="Martin")
    suffix = new_id()[-8:]
    mine = _created(product.manage.post("/canned-responses", json={
        "shortcut": f"welcome-{suffix}", "title": "Welcome",
        "text": "Hi {{customer.first_name}}, welcome to {{page.name}}.",
        "queue_ids": [team.front["id"]]}))
    theirs = _created(product.manage.post("/canned-responses", json={
        "shortcut": f"back-{suffix}", "title": "Back office",
        "text": "The back office will call you.", "queue_ids": [team.back["id"]]}))
    usable = [c["id"] for c in team.ann.get("/canned-responses").json()["items"]]
    assert mine["id"] in usable and theirs["id"] not in usable

    answer = team.reply(chat, canned_response_id=mine["id"])
    assert answer.status_code == 202, answer.text
    filled = f"Hi Zoé, welcome to {PAGE_NAME}."
    team.sent_text(chat, filled)
    assert team.message(chat, answer.json()["id"])["text"] == filled

    for refused_id in (theirs["id"], "cr_doesnotexist0000"):
        refused = team.reply(chat, canned_response_id=refused_id)
        assert _error(refused) == (404, "not_found"), refused.text


# ---------------------------------------------------------------------------------- retry


def test_retry_of_a_failed_message(team: Team, product: Product) -> None:
    chat = team.open_chat()
    fault = product.simulator.add_fault(operation="send", page_id=team.page_id, psid=chat.psid,
                                        kind="graph_error", code=551)
    try:
        failed_id = team.reply(chat, text="Your parcel left today.").json()["id"]
        failed = eventually(lambda: team.message(chat, failed_id),
                            lambda m: m["status"] == "failed",
                            nudge=_running(product, "sender"), interval=0.1)
        assert failed["failure_reason"] == "customer_unavailable"
    finally:
        product.simulator.remove_fault(fault["id"])
    assert team.sent(chat) == []

    retried = team.ann.post(f"/conversations/{chat.id}/messages/{failed_id}/retry")
    assert retried.status_code == 202, retried.text
    assert retried.json() == {"id": failed_id, "status": "queued", "message_ids": [failed_id]}
    team.sent_text(chat, "Your parcel left today.")
    eventually(lambda: team.message(chat, failed_id)["status"],
               lambda status: status in ("sent", "delivered", "read"),
               nudge=_running(product, "sender"), interval=0.1)
    assert team.message(chat, failed_id)["failure_reason"] is None
    product.run_function("sender")  # nothing left to send: it went out once
    assert [s["message"]["text"] for s in team.sent(chat)] == ["Your parcel left today."]
    again = team.ann.post(f"/conversations/{chat.id}/messages/{failed_id}/retry")
    assert _error(again) == (409, "not_failed"), again.text

    # Failed again, and by the time of the retry the messaging window has closed.
    fault = product.simulator.add_fault(operation="send", page_id=team.page_id, psid=chat.psid,
                                        kind="graph_error", code=551)
    try:
        late_id = team.reply(chat, text="One more thing.").json()["id"]
        eventually(lambda: team.message(chat, late_id)["status"], lambda s: s == "failed",
                   nudge=_running(product, "sender"), interval=0.1)
    finally:
        product.simulator.remove_fault(fault["id"])
    team.shift_clocks(DAY + 60)
    try:
        late = team.ann.post(f"/conversations/{chat.id}/messages/{late_id}/retry")
        assert _error(late) == (409, "outside_messaging_window"), late.text
        assert team.message(chat, late_id)["status"] == "failed"
    finally:
        team.shift_clocks(0)
    product.run_function("sender")
    assert [s["message"]["text"] for s in team.sent(chat)] == ["Your parcel left today."]


# ------------------------------------------------------------------------------- transfer


def test_transfer_to_a_queue_is_accepted_there(team: Team, product: Product) -> None:
    chat = team.open_chat()
    offline = team.ann.post(f"/conversations/{chat.id}/transfer",
                            json={"agent_id": team.id_of("Dan")})
    assert _error(offline) == (409, "agent_unavailable"), offline.text
    assert team.ann.get(f"/conversations/{chat.id}").json()["role"] == "owner"

    moved = team.ann.post(f"/conversations/{chat.id}/transfer", json={
        "queue_id": team.back["id"], "note": "Wants a refund on order 1234"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["role"], moved.json()["queue_id"]) == (None, team.back["id"])
    assert team.ann.get(f"/conversations/{chat.id}").status_code == 404
    assert chat.id not in [c["id"] for c in team.ann.get("/conversations").json()["items"]]
    assert team.ann.get(f"/conversations/{chat.id}/messages").status_code == 404

    [offered] = eventually(
        lambda: [c for c in team.bob.get("/conversations").json()["items"]
                 if c["id"] == chat.id],
        nudge=_running(product, "distribute"), interval=0.1, what="the offer to Bob")
    assert (offered["state"], offered["role"]) == ("offered", "offered")
    accepted = team.bob.post(f"/conversations/{chat.id}/accept")
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["role"], accepted.json()["state"]) == ("owner", "active")
    team.sent_text(chat, TRANSFER_ACCEPTED.replace("{AgentName}", "Bob"))

    internal = [(m["author"], m["author_id"], m["text"]) for m in team.transcript(chat, team.bob)
                if m["visibility"] == "internal"]
    assert ("agent", team.id_of("Ann"), "Wants a refund on order 1234") in internal
    assert [author for author, _, _ in internal].count("system") == 1
    assert "Wants a refund" not in json.dumps(team.sent(chat))


# ------------------------------------------------------------------------ who may do what


def test_keys_and_foreign_agents_on_every_new_route(team: Team) -> None:
    chat = team.open_chat()
    team.consult(chat, "Cat")
    [message] = [m for m in team.transcript(chat) if m["author"] == "customer"]
    unknown = "cv_" + "0" * (len(chat.id) - 3)
    agent = team.id_of("Cat")

    def routes(conversation_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
        base = f"/conversations/{conversation_id}"
        return [
            ("POST", f"{base}/notes", {"text": "hello"}),
            ("POST", f"{base}/transfer", {"queue_id": team.back["id"]}),
            ("POST", f"{base}/consult", {"agent_id": agent}),
            ("DELETE", f"{base}/consult/{agent}", None),
            ("PUT", f"{base}/labels", {"labels": ["vip"]}),
            ("POST", f"{base}/messages/{message['id']}/retry", None),
            ("GET", f"{base}/history", None),
            ("GET", base, None),
        ]

    everywhere = [*routes(chat.id), ("GET", "/queues", None), ("GET", "/colleagues", None),
                  ("GET", "/canned-responses", None)]
    for method, path, body in everywhere:
        nobody = team.anonymous.request(method, path, json=body)
        assert _error(nobody) == (401, "unauthorized"), (method, path, nobody.text)
        manager = team.manager.request(method, path, json=body)
        assert _error(manager) == (403, "forbidden"), (method, path, manager.text)

    for (method, path, body), (_, unknown_path, _) in zip(routes(chat.id), routes(unknown),
                                                          strict=True):
        foreign = team.eve.request(method, path, json=body)
        missing = team.eve.request(method, unknown_path, json=body)
        assert foreign.status_code == 404, (method, path, foreign.text)
        assert foreign.json() == json.loads(missing.text.replace(unknown, chat.id)), (
            method, path)

    # Nothing of the above changed the conversation.
    held = team.ann.get(f"/conversations/{chat.id}").json()
    assert (held["role"], held["state"], held["labels"]) == ("owner", "active", [])
    assert [p["agent_id"] for p in held["participants"]] == [team.id_of("Ann"), agent]

    # What the directory routes answer an agent.
    queues = {q["id"]: q["name"] for q in team.eve.get("/queues").json()["items"]}
    assert queues[team.back["id"]] == team.back["name"]
    colleagues = {c["id"]: c for c in team.eve.get("/colleagues").json()["items"]}
    assert team.id_of("Eve") not in colleagues
    assert (colleagues[team.id_of("Dan")]["presence"],
            colleagues[team.id_of("Dan")]["queue_ids"]) == ("offline", [team.front["id"]])


def test_a_consultant_may_not_write_to_the_customer_nor_move_it(team: Team) -> None:
    chat = team.open_chat()
    team.consult(chat, "Cat")
    [message] = [m for m in team.transcript(chat) if m["author"] == "customer"]
    for path, body in ((f"/conversations/{chat.id}/messages", {"text": "Hi from Cat"}),
                       (f"/conversations/{chat.id}/transfer", {"queue_id": team.side["id"]}),
                       (f"/conversations/{chat.id}/messages/{message['id']}/retry", None)):
        refused = team.cat.post(path, json=body)
        assert _error(refused) == (403, "forbidden"), (path, refused.text)
    held = team.ann.get(f"/conversations/{chat.id}").json()
    assert (held["role"], held["state"], held["queue_id"]) == ("owner", "active",
                                                               team.front["id"])


def test_a_consultant_may_not_close_it(team: Team) -> None:
    chat = team.open_chat()
    team.consult(chat, "Cat")
    refused = team.cat.post(f"/conversations/{chat.id}/close")
    assert team.ann.get(f"/conversations/{chat.id}").json()["state"] == "active"
    assert _error(refused) == (403, "forbidden"), refused.text


# --------------------------------------------------------------------------------- labels


def test_labels_round_trip_and_their_limits(team: Team) -> None:
    chat = team.open_chat()
    path = f"/conversations/{chat.id}/labels"
    labels = ["vip", "refund_2024", "needs-callback"]
    answer = team.ann.put(path, json={"labels": labels})
    assert (answer.status_code, answer.json()["labels"]) == (200, labels), answer.text
    assert team.ann.get(f"/conversations/{chat.id}").json()["labels"] == labels
    assert "labels[1]" in _fields(team.ann.put(path, json={"labels": ["vip", "Bad Label"]}))
    assert "labels" in _fields(team.ann.put(path, json={
        "labels": [f"label-{n}" for n in range(21)]}))
    twenty = [f"label-{n}" for n in range(20)]
    assert team.ann.put(path, json={"labels": twenty}).json()["labels"] == twenty
    assert team.ann.get(f"/conversations/{chat.id}").json()["labels"] == twenty

