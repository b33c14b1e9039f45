"""Contacts search on Azurite: agents' contacts and customers' Messenger profiles found by
word prefixes through the ``ContactWords`` index, its cost, its repair after a write
interrupted between any two requests, and the backfill of contacts stored before it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel import metering
from messenger_channel.conversations.agent_contacts import (
    AgentContact,
    backfill_contact_words,
    create_contact,
    search_contacts,
)
from messenger_channel.conversations.contact_search import (
    STALE_AFTER,
    ContactIndex,
    ContactWord,
    every_entity,
)
from messenger_channel.conversations.contacts import find_or_create_contact, rename_contact
from messenger_channel.conversations.models import Contact, ConversationTables
from messenger_channel.services import Services
from messenger_channel.storage.errors import StorageUnavailable
from messenger_channel.storage.tables import Table
from simulator.client import SimulatorClient
from tests.integration.test_agent_api import AgentClient
from tests.support.engine import Engine, new_id

WRITES = ("create", "upsert", "replace", "delete", "transaction")


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        engine = Engine(services, simulator)
        engine.connect_page()
        yield engine


def customer(engine: Engine, first: str, last: str = "") -> Contact:
    """A customer who wrote to the page: the profile made from Facebook's answer."""
    psid = new_id()
    engine.simulator.put_user(psid, engine.page_id, first_name=first, last_name=last)
    return find_or_create_contact(engine.services, engine.page_id, psid)


def found(services: Services, query: str) -> list[str]:
    return [item.id for item in search_contacts(services, query)]


def rows(services: Services) -> set[tuple[str, str]]:
    """The index: (word key, target) of every row."""
    table = ContactIndex(services.tables, services.clock).rows
    return {(row.key, row.ref.text) for row in every_entity(table)}


def later(services: Services, seconds: float) -> None:
    services.clock.set_offset(services.clock.offset_seconds + seconds)


@contextmanager
def writes_fail_at(monkeypatch: pytest.MonkeyPatch, failing: int | None) -> Iterator[list[int]]:
    """Table writes (of any table) counted; the ``failing``-th (from 0) raises as a lost
    connection would, and every write after it too: the process died there."""
    done = [0]
    with monkeypatch.context() as patch:
        for name in WRITES:
            original = getattr(Table, name)

            def counted(self: Table[Any], *args: Any, _original: Callable[..., Any] = original,
                        **kwargs: Any) -> Any:
                if failing is not None and done[0] >= failing:
                    raise StorageUnavailable("injected: the process stopped here")
                done[0] += 1
                return _original(self, *args, **kwargs)

            patch.setattr(Table, name, counted)
        yield done


def count_writes(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> int:
    with writes_fail_at(monkeypatch, None) as done:
        action()
    return done[0]


# ------------------------------------------------------------------------------ finding


def test_profiles_are_found_by_word_prefixes_any_case_and_any_accent(engine: Engine) -> None:
    elodie = customer(engine, "Élodie", "Martin-Dubois")
    lukasz = customer(engine, "Łukasz", "Nowak")
    zoe = customer(engine, "Zoë", "O'Brien")
    services = engine.services
    assert found(services, "elo") == found(services, "ÉLODIE") == [elodie.id]
    assert found(services, "dubois") == found(services, "martin dub") == [elodie.id]
    assert found(services, "lukasz") == found(services, "ŁUK") == [lukasz.id]
    assert found(services, "zoe") == found(services, "brien") == [zoe.id]
    assert found(services, "o") == [zoe.id]  # "O'Brien": o, brien
    assert found(services, "n") == [lukasz.id]  # newest first: nothing else starts with n
    assert found(services, "martin nowak") == []
    assert found(services, "zed") == found(services, "") == found(services, " - ") == []


def test_a_customer_without_a_name_from_facebook_is_not_indexed(engine: Engine) -> None:
    services = engine.services
    nameless = find_or_create_contact(services, new_id(), new_id())  # a page without a token
    assert nameless.name_missing_reason == "page_token_missing"
    assert found(services, "customer") == []
    assert rows(services) == set()


def test_agent_contacts_are_found_by_name_email_and_phone(engine: Engine) -> None:
    services = engine.services
    lea = create_contact(services, "ag_1", "Léa Roy", "Lea.Roy@Example.test",
                         "+33 6 12 34 56 78")
    bob = create_contact(services, "ag_1", "Bob Stone", "bob@corp.example", "06-12-34-56-78")
    for query in ("lea", "roy lea", "LEA.ROY@EXA", "lea.roy@example.test", "example.te",
                  "+33 6 12", "33612345678", "(33) 612"):
        assert found(services, query) == [lea.id], query
    for query in ("bob@", "corp", "06 12", "0612345678", "06.12.34"):
        assert found(services, query) == [bob.id], query
    assert found(services, "6 12") == []  # digits are matched from the start
    assert found(services, "roy@example") == []  # an email prefix starts with the address
    assert found(services, "st") == [bob.id]
    assert found(services, "ex") == [bob.id, lea.id]  # both emails, newest first


def test_both_kinds_answer_one_query_newest_first(engine: Engine, api: TestClient) -> None:
    services = engine.services
    profile = customer(engine, "Lea", "Martin")
    contact = create_contact(services, "ag_1", "Lea Roy", None, None)
    assert found(services, "lea") == [contact.id, profile.id]
    assert found(services, "lea mar") == [profile.id]
    assert found(services, "roy le") == [contact.id]
    _, key = engine.agent("Ann", queues=[])
    items = AgentClient(api, key).ok("GET", "/contacts", query="LÉA")["items"]
    assert [(i["id"], i["kind"], i["page_id"], i["psid"], i["name"]) for i in items] == [
        (contact.id, "contact", None, None, "Lea Roy"),
        (profile.id, "profile", engine.page_id, profile.psid, "Lea Martin")]


def test_at_most_fifty_newest_first(engine: Engine) -> None:
    services = engine.services
    made = [create_contact(services, "ag_1", f"Sam {n}", None, None) for n in range(53)]
    newest = [c.id for c in sorted(made, key=lambda c: c.created_at, reverse=True)]
    assert found(services, "sam") == newest[:50]
    assert found(services, "sam 5") == [made[n].id for n in (52, 51, 50, 5)]
    assert found(services, "sam 52") == [made[52].id]


def test_a_search_costs_a_range_read_per_word_and_a_point_read_per_answer(
        engine: Engine) -> None:
    services = engine.services
    for n in range(3):
        create_contact(services, "ag_1", f"Lea Roy {n}", f"lea{n}@example.test", None)
    create_contact(services, "ag_1", "Lea Stone", None, None)
    customer(engine, "Leandro", "Stone")
    found(services, "warm")  # the table exists: its creation is not a search's cost

    def cost(query: str, answers: int) -> dict[str, float]:
        with metering.measure() as measured:
            assert len(found(services, query)) == answers
        return {name: measured.counts.get(name, 0)
                for name in ("table.transactions", "table.query", "table.read")}

    assert cost("lea", 5) == {"table.transactions": 6, "table.query": 1, "table.read": 5}
    assert cost("lea roy", 3) == {"table.transactions": 5, "table.query": 2, "table.read": 3}
    assert cost("lea zed", 0) == {"table.transactions": 2, "table.query": 2, "table.read": 0}
    assert cost("zed", 0) == {"table.transactions": 1, "table.query": 1, "table.read": 0}


# ------------------------------------------------------------------------------ self-healing


def test_an_agent_contact_interrupted_between_any_two_writes(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    services = engine.services

    def create() -> AgentContact:
        return create_contact(services, "ag_1", "Léa Roy", "lea@example.test", "+33 612")

    # Rows of partitions 3 (33612), e (example), l (lea, lea@example.test), r, t; the contact.
    assert count_writes(monkeypatch, create) == 6
    index = ContactIndex(services.tables, services.clock).rows
    for row in every_entity(index):  # start again from nothing
        index.delete(row.partition_key(), row.row_key())
        services.tables.table("AgentContacts", AgentContact).delete("contact", row.target_row)
    for failing in range(6):
        with writes_fail_at(monkeypatch, failing), pytest.raises(StorageUnavailable):
            create()
        assert found(services, "lea") == found(services, "33") == []  # rows, no contact
    kept = rows(services)
    assert len(kept) == 0 + 1 + 2 + 4 + 5 + 6  # each try: a new id, one partition further
    later(services, STALE_AFTER.total_seconds() / 2)
    assert found(services, "lea roy") == found(services, "33") == [] and rows(services) == kept
    later(services, STALE_AFTER.total_seconds())  # old enough: a search deletes what it met
    for word in ("lea", "roy", "example", "test", "33"):
        assert found(services, word) == []
    assert rows(services) == set()
    contact = create()  # the agent tries again
    assert found(services, "lea roy") == found(services, "+33 6") == [contact.id]


def test_a_profile_interrupted_between_any_two_writes(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    services = engine.services
    psid = new_id()
    engine.simulator.put_user(psid, engine.page_id, first_name="Élodie", last_name="Martin")

    def make() -> Contact:
        return find_or_create_contact(services, engine.page_id, psid)

    assert count_writes(monkeypatch, lambda: make()) == 3  # partitions e, m; the contact
    profiles = ConversationTables(services.tables).contacts
    profiles.delete(engine.page_id, psid)
    for failing in range(3):
        with writes_fail_at(monkeypatch, failing), pytest.raises(StorageUnavailable):
            make()
        assert found(services, "elodie") == []
    profile = make()  # the event, redelivered
    assert found(services, "elo mar") == [profile.id]
    assert rows(services) == {("elodie", f"{engine.page_id}:{psid}"),
                              ("martin", f"{engine.page_id}:{psid}")}


def test_a_rename_interrupted_between_any_two_writes(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    services = engine.services
    profiles = ConversationTables(services.tables).contacts

    def lea_roy_settled() -> Contact:
        profile = customer(engine, "Lea", "Roy")
        later(services, STALE_AFTER.total_seconds() + 1)  # its rows are old now
        return profile

    first = lea_roy_settled()
    # Rows of m and s, the contact, then the old rows: l and r, each read, then deleted.
    writes = count_writes(monkeypatch, lambda: rename_contact(
        services, engine.page_id, first.psid, "Mia Stone"))
    assert writes == 5
    for failing in range(writes):
        profile = lea_roy_settled()
        with writes_fail_at(monkeypatch, failing):
            try:
                rename_contact(services, engine.page_id, profile.psid, "Mia Stone")
            except StorageUnavailable:
                failed = True
            else:  # the old rows' deletion is best effort: the rename is done without it
                failed = False
        stored = profiles.get(engine.page_id, profile.psid)
        assert stored is not None
        renamed = stored.name == "Mia Stone"
        assert renamed == (failing >= 3) != failed
        assert (profile.id in found(services, "lea roy")) != renamed
        assert (profile.id in found(services, "mia stone")) == renamed
        rename_contact(services, engine.page_id, profile.psid, "Mia Stone")  # done again
        assert profile.id in found(services, "mia st")
        assert profile.id not in found(services, "lea") + found(services, "roy")
    words_of: dict[str, set[str]] = {}
    for key, target in rows(services):
        words_of.setdefault(target, set()).add(key)
    assert len(words_of) == writes + 1
    assert all(held == {"mia", "stone"} for held in words_of.values()), words_of


def test_a_rename_within_minutes_leaves_young_rows_for_later_searches(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    services = engine.services
    profile = customer(engine, "Lea", "Roy")
    ref = f"{engine.page_id}:{profile.psid}"
    rename_contact(services, engine.page_id, profile.psid, "Lea Stone")
    assert found(services, "roy") == [] and ("roy", ref) in rows(services)  # young: kept
    later(services, STALE_AFTER.total_seconds() + 1)
    assert found(services, "roy") == []
    assert rows(services) == {("lea", ref), ("stone", ref)}
    assert count_writes(monkeypatch, lambda: rename_contact(  # same words: the contact only
        services, engine.page_id, profile.psid, "LÉA STONE")) == 1
    assert found(services, "le st") == [profile.id]
    rename_contact(services, engine.page_id, profile.psid, None)  # the name is gone
    later(services, STALE_AFTER.total_seconds() + 1)
    assert found(services, "lea") == found(services, "stone") == []
    assert rows(services) == set()


# ------------------------------------------------------------------------------ backfill


def test_backfill_indexes_what_was_stored_before_the_index(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    services = engine.services
    with monkeypatch.context() as before_the_index:
        before_the_index.setattr(ContactIndex, "add", lambda self, target: None)
        contact = create_contact(services, "ag_1", "Léa Roy", "lea@example.test", "0612")
        profile = customer(engine, "Lea", "Martin")
        nameless = find_or_create_contact(services, new_id(), new_id())
    assert nameless.name_missing_reason is not None
    assert found(services, "lea") == [] and rows(services) == set()
    assert backfill_contact_words(services.tables, services.clock) == 8
    assert found(services, "lea") == [profile.id, contact.id]
    assert found(services, "0612") == [contact.id]
    assert found(services, "mar") == [profile.id]
    table: Table[ContactWord] = ContactIndex(services.tables, services.clock).rows
    stored = sorted(every_entity(table), key=lambda row: row.row_key())
    later(services, 60)
    assert backfill_contact_words(services.tables, services.clock) == 0
    assert sorted(every_entity(table), key=lambda row: row.row_key()) == stored

