"""The customer's earlier conversations for the agent (``GET /api/agent/conversations/{id}/
history``) on Azurite: the same profile's and those of every profile linked to the same
contact (``ContactLinks``), newest first with their messages; who may read it; paging; stale
link rows; the backfill of links made before the index. Conversations and messages are
written through the store (the behaviour under test is the reading)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.conversations.agent_contacts import create_contact, link_contact
from messenger_channel.conversations.contact_search import every_entity
from messenger_channel.conversations.history import STALE_AFTER, ContactLinks
from messenger_channel.conversations.models import (
    Contact,
    Conversation,
    ConversationTables,
    Message,
    State,
    message_key,
)
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.services import Services
from messenger_channel.storage.errors import StorageUnavailable
from messenger_channel.storage.tables import Table, UpsertOp
from messenger_channel.workforce.agents import AgentCreate, Agents
from tests.integration.test_agent_api import AgentClient
from tests.support.engine import new_id
from tests.support.keys import MANAGEMENT_KEY

DAY = timedelta(days=1)


@dataclass
class Desk:
    """One agent's view, and the writes that make customers' pasts."""

    services: Services
    api: TestClient
    agent_id: str
    agent: AgentClient

    @property
    def tables(self) -> ConversationTables:
        return ConversationTables(self.services.tables)

    def now(self) -> datetime:
        return self.services.clock.now()

    def colleague(self, name: str) -> tuple[str, AgentClient]:
        created = Agents(self.services.tables, self.services.clock).create(AgentCreate(
            name=name, queue_ids=[], capacity=100, presence="available"))
        return created.agent.id, AgentClient(self.api, created.api_key)

    def profile(self, page_id: str | None = None, name: str = "Lea Roy") -> Contact:
        now = self.now()
        profile = Contact(id=f"ct_{new_id()}", page_id=page_id or new_id(), psid=new_id(),
                          name=name, created_at=now, updated_at=now)
        self.tables.contacts.create(profile)
        return profile

    def conversation(self, profile: Contact, age: timedelta, texts: Sequence[str] = ("Hi",),
                     state: State = "closed") -> Conversation:
        """A conversation of the profile created ``age`` ago, with one message per text a
        second apart; held by the desk's agent unless closed."""
        at = self.now() - age
        conversation = Conversation(
            id=f"cv_{new_id()}", page_id=profile.page_id, psid=profile.psid,
            contact_id=profile.linked_contact_id or profile.id, state=state, locale="en-US",
            agent_id=self.agent_id, opened_by="test", customer_name=profile.name,
            assigned_at=at, closed_at=None if state != "closed" else at + timedelta(hours=1),
            last_activity_at=at, created_at=at, updated_at=at)
        store = ConversationStore(self.services.tables, self.services.clock)
        store.create(conversation, due_at=self.now() + DAY)
        messages = [Message(conversation_id=conversation.id,
                            id=message_key(at + timedelta(seconds=n), f"{conversation.id}-{n}"),
                            direction="in" if n % 2 == 0 else "out",
                            author="customer" if n % 2 == 0 else "agent", text=text,
                            status="received" if n % 2 == 0 else "sent",
                            created_at=at + timedelta(seconds=n))
                    for n, text in enumerate(texts)]
        for start in range(0, len(messages), 100):
            self.tables.messages.transaction([UpsertOp(m) for m in messages[start:start + 100]])
        return conversation

    def history(self, conversation_id: str, **params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.agent.ok(
            "GET", f"/conversations/{conversation_id}/history", **params)
        return answer

    def walk(self, conversation_id: str, limit: int) -> list[str]:
        """Every conversation id of the history, page after page."""
        ids: list[str] = []
        cursor = None
        while True:
            page = self.history(conversation_id, limit=limit,
                                **({} if cursor is None else {"cursor": cursor}))
            assert len(page["items"]) <= limit
            ids += [item["conversation"]["id"] for item in page["items"]]
            cursor = page["next"]
            if cursor is None:
                return ids


@pytest.fixture
def desk(services: Services, api: TestClient) -> Desk:
    created = Agents(services.tables, services.clock).create(AgentCreate(
        name="Ann", queue_ids=[], capacity=100, presence="available"))
    return Desk(services, api, created.agent.id, AgentClient(api, created.api_key))


def listed(page: dict[str, Any]) -> list[tuple[str, list[str | None]]]:
    return [(item["conversation"]["id"], [m["text"] for m in item["messages"]])
            for item in page["items"]]


def test_the_customers_and_linked_profiles_past_newest_first(desk: Desk) -> None:
    lea = desk.profile()
    old = [desk.conversation(lea, age * DAY, [f"day -{age}", "answer", "thanks"])
           for age in (30, 20, 10)]
    current = desk.conversation(lea, timedelta(0), ["Hello again"], state="active")
    assert listed(desk.history(current.id)) == [
        (old[2].id, ["day -10", "answer", "thanks"]), (old[1].id, ["day -20", "answer", "thanks"]),
        (old[0].id, ["day -30", "answer", "thanks"])]
    # Her profile on another page, linked to the same contact; a stranger on hers, not linked.
    contact = create_contact(desk.services, desk.agent_id, "Lea Roy", None, None)
    desk.agent.ok("POST", f"/conversations/{current.id}/contact", {"contact_id": contact.id})
    elsewhere = desk.profile()
    before = desk.conversation(elsewhere, 15 * DAY, ["other page"])
    open_there = desk.conversation(elsewhere, timedelta(hours=1), ["now"], state="active")
    link_contact(desk.services, open_there.id, desk.agent_id, contact.id)
    stranger = desk.profile(lea.page_id, "Sam Stone")
    desk.conversation(stranger, 5 * DAY, ["not hers"])
    page = desk.history(current.id)
    assert set(page) == {"items", "next", "since"} and page["next"] is None
    newest_first = [open_there.id, old[2].id, before.id, old[1].id, old[0].id]
    assert [item["conversation"]["id"] for item in page["items"]] == newest_first
    first = page["items"][0]
    assert first["conversation"]["page_id"] == elsewhere.page_id
    assert first["conversation"]["customer"]["contact_id"] == contact.id
    assert [(m["author"], m["direction"]) for m in page["items"][1]["messages"]] == [
        ("customer", "in"), ("agent", "out"), ("customer", "in")]
    # From the other profile's side: the same contact's past, hers included.
    assert [item["conversation"]["id"] for item in desk.history(open_there.id)["items"]] == [
        current.id, old[2].id, before.id, old[1].id, old[0].id]
    # Pages of one and of two walk the same list.
    assert desk.walk(current.id, 1) == desk.walk(current.id, 2) == newest_first


def test_only_whoever_sees_the_conversation_reads_its_history(desk: Desk) -> None:
    lea = desk.profile()
    desk.conversation(lea, DAY)
    current = desk.conversation(lea, timedelta(0), state="active")
    _, other = desk.colleague("Bob")
    for client, conversation_id in ((other, current.id), (desk.agent, "cv_nope"),
                                    (desk.agent, "%7F")):
        answer = client.call("GET", f"/conversations/{conversation_id}/history")
        assert answer.status_code == 404 and answer.json()["error"] == "not_found"
    path = f"/conversations/{current.id}/history"
    for limit in (0, 21):
        assert desk.agent.call("GET", path, limit=limit).status_code == 422
    for cursor in ("nope", "%%%", "MTIz"):
        answer = desk.agent.call("GET", path, cursor=cursor)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_cursor"
    assert desk.history(current.id, limit=20)["next"] is None


def test_each_conversation_shows_its_latest_200_messages(desk: Desk) -> None:
    lea = desk.profile()
    long = desk.conversation(lea, DAY, [f"m{n}" for n in range(205)])
    current = desk.conversation(lea, timedelta(0), state="active")
    [(conversation_id, texts)] = listed(desk.history(current.id))
    assert conversation_id == long.id and texts == [f"m{n}" for n in range(5, 205)]


def test_stale_link_rows_are_skipped_then_deleted(desk: Desk,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    services = desk.services
    first = create_contact(services, desk.agent_id, "Lea Roy", None, None)
    second = create_contact(services, desk.agent_id, "Mia Stone", None, None)
    lea = desk.profile()
    current = desk.conversation(lea, timedelta(0), state="active")
    link_contact(services, current.id, desk.agent_id, first.id)
    mia = desk.profile()
    mias = desk.conversation(mia, DAY, state="active")
    link_contact(services, mias.id, desk.agent_id, first.id)
    assert [i["conversation"]["id"] for i in desk.history(current.id)["items"]] == [mias.id]
    link_contact(services, mias.id, desk.agent_id, second.id)  # relinked: her row stays
    # A link interrupted after its row (written first): the profile was never linked.
    zoe = desk.profile()
    zoes = desk.conversation(zoe, DAY, state="active")
    original = Table.update

    def lost(self: Table[Any], *args: Any, **kwargs: Any) -> Any:
        if self.model is Contact:
            raise StorageUnavailable("injected: the process stopped here")
        return original(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Table, "update", lost)
        with pytest.raises(StorageUnavailable):
            link_contact(services, zoes.id, desk.agent_id, first.id)
    stored = desk.tables.contacts.get(zoe.page_id, zoe.psid)
    assert stored is not None and stored.linked_contact_id is None
    links = ContactLinks(services.tables, services.clock)

    def rows_of_first() -> set[str]:
        return {row.psid for row in every_entity(links.rows) if row.contact_id == first.id}

    assert rows_of_first() == {lea.psid, mia.psid, zoe.psid}
    assert desk.history(current.id)["items"] == []
    assert rows_of_first() == {lea.psid, mia.psid, zoe.psid}  # young: maybe a link in flight
    services.clock.set_offset(STALE_AFTER.total_seconds() + 1)
    assert desk.history(current.id)["items"] == []
    assert rows_of_first() == {lea.psid}
    assert [i["conversation"]["id"] for i in desk.history(mias.id)["items"]] == []
    link_contact(services, mias.id, desk.agent_id, first.id)  # back to the first: listed again
    assert [i["conversation"]["id"] for i in desk.history(current.id)["items"]] == [mias.id]


def test_backfill_writes_the_links_made_before_the_index(desk: Desk) -> None:
    services = desk.services
    contact = create_contact(services, desk.agent_id, "Lea Roy", None, None)
    linked_before: list[Contact] = []
    for _ in range(2):  # linked as link_contact did before ContactLinks existed
        profile = desk.profile()
        linked_before.append(desk.tables.contacts.update(
            profile.page_id, profile.psid,
            lambda c: c.model_copy(update={"linked_contact_id": contact.id})))
    lea, mia = linked_before
    current = desk.conversation(lea, timedelta(0), state="active")
    earlier = desk.conversation(mia, DAY)
    assert desk.history(current.id)["items"] == []
    manager = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
    done = desk.api.post("/api/manage/backfill/contacts", headers=manager)
    assert done.status_code == 200 and done.json()["rows"] >= 2, done.text
    links = ContactLinks(services.tables, services.clock)
    assert {(row.contact_id, row.page_id, row.psid) for row in every_entity(links.rows)} == {
        (contact.id, p.page_id, p.psid) for p in linked_before}
    assert [i["conversation"]["id"] for i in desk.history(current.id)["items"]] == [earlier.id]
    again = desk.api.post("/api/manage/backfill/contacts", headers=manager)
    assert again.json() == {"rows": 0}
