"""The Table Storage layer against a real Azurite: mapping, CRUD, queries, limits, batches."""

from __future__ import annotations

import socket
import string
from datetime import UTC, datetime, timedelta, timezone
from enum import IntEnum, StrEnum
from typing import Any, Literal

import pytest
from azure.data.tables import TableClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, create_model

from devhost.azurite import AzuriteEndpoints
from messenger_channel.settings import Settings
from messenger_channel.storage.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    EntityTooLarge,
    InvalidContinuation,
    InvalidEntity,
    InvalidKey,
    NotFound,
    StorageUnavailable,
)
from messenger_channel.storage.tables import (
    CreateOp,
    DeleteOp,
    Entity,
    ReplaceOp,
    Table,
    TableStore,
    UpsertOp,
)


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Priority(IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    city: str
    since: datetime


class Everything(Entity):
    """One field of every kind the mapping handles."""

    pk: str
    rk: str
    text: str
    count: int
    ratio: float
    flag: bool
    at: datetime
    status: Status
    priority: Priority
    kind: Literal["a", "b"]
    tags: list[str]
    scores: dict[str, int]
    address: Address
    history: list[Address]
    note: str | None = None
    closed_at: datetime | None = None

    def partition_key(self) -> str:
        return self.pk

    def row_key(self) -> str:
        return self.rk


class Item(Entity):
    group: str
    name: str
    count: int = 0
    status: Status = Status.OPEN
    note: str | None = None

    def partition_key(self) -> str:
        return self.group

    def row_key(self) -> str:
        return self.name


def everything(**changes: Any) -> Everything:
    values: dict[str, Any] = {
        "pk": "page-1", "rk": "O'Brien & co", "text": "héllo \u2028 😀 \x00",
        "count": 2**40, "ratio": 3.0, "flag": True,
        "at": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2))),
        "status": Status.CLOSED, "priority": Priority.HIGH, "kind": "b",
        "tags": ["x", "ÿ"], "scores": {"a": -1, "b": 2**53 + 1},
        "address": Address(city="Zürich", since=datetime(2001, 1, 1, tzinfo=UTC)),
        "history": [Address(city="Oslo", since=datetime(1999, 12, 31, 23, 59, tzinfo=UTC))],
    }  # fmt: skip
    return Everything(**{**values, **changes})


def raw_client(azurite: AzuriteEndpoints, table: Table[Any]) -> TableClient:
    """The SDK's own view of the table, to check how properties are stored."""
    return TableClient.from_connection_string(azurite.connection_string, table_name=table.name)


# ------------------------------------------------------------------------------- mapping


def test_every_field_type_round_trips_and_is_stored_natively(
    table_store: TableStore, azurite: AzuriteEndpoints
) -> None:
    table = table_store.table("Things", Everything)
    original = everything()
    table.create(original)

    assert table.get(original.pk, original.rk) == original
    stored = raw_client(azurite, table).get_entity(original.pk, original.rk)
    assert stored["text"] == original.text
    assert stored["count"].value == 2**40  # Edm.Int64, beyond Int32
    assert isinstance(stored["ratio"], float)
    assert stored["ratio"] == 3.0
    assert stored["at"] == datetime(2024, 5, 6, 5, 8, 9, 123456, tzinfo=UTC)
    assert (stored["status"], stored["priority"], stored["kind"]) == ("closed", 2, "b")
    assert stored["tags"] == '["x","ÿ"]'
    assert "note" not in stored
    assert "closed_at" not in stored


def test_datetimes_read_back_as_plain_aware_utc(table_store: TableStore) -> None:
    table = table_store.table("Things", Everything)
    table.create(everything())

    read = table.get("page-1", "O'Brien & co")

    assert read is not None
    assert type(read.at) is datetime
    assert read.at.tzinfo is UTC


keys = st.text(
    alphabet=st.characters(exclude_characters="/\\#?", exclude_categories=("Cc", "Cs")),
    min_size=1, max_size=40,
)  # fmt: skip
moments = st.datetimes(
    min_value=datetime(1601, 1, 2), max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                               timezone(timedelta(hours=-8))]),
)  # fmt: skip
addresses = st.builds(Address, city=st.text(max_size=20), since=moments)
entities = st.builds(
    Everything,
    pk=keys, rk=keys, text=st.text(max_size=50),
    count=st.integers(-(2**63), 2**63 - 1), ratio=st.floats(allow_nan=False),
    flag=st.booleans(), at=moments, status=st.sampled_from(Status),
    priority=st.sampled_from(Priority), kind=st.sampled_from(["a", "b"]),
    tags=st.lists(st.text(max_size=10), max_size=5),
    scores=st.dictionaries(st.text(max_size=5), st.integers(), max_size=5),
    address=addresses, history=st.lists(addresses, max_size=3),
    note=st.none() | st.text(max_size=20), closed_at=st.none() | moments,
)  # fmt: skip


# The table is shared by the examples on purpose: upsert replaces whatever an earlier
# example left under the same keys.
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entity=entities)
def test_any_entity_round_trips(table_store: TableStore, entity: Everything) -> None:
    table = table_store.table("Things", Everything)
    table.upsert(entity)
    assert table.get(entity.pk, entity.rk) == entity


def test_upsert_replaces_the_whole_entity(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    table.upsert(Item(group="g", name="n", note="first"))
    table.upsert(Item(group="g", name="n", count=2))

    assert table.get("g", "n") == Item(group="g", name="n", count=2, note=None)


def test_naive_datetimes_are_refused(table_store: TableStore) -> None:
    table = table_store.table("Things", Everything)
    with pytest.raises(InvalidEntity, match="naive"):
        table.create(everything(at=datetime(2024, 1, 1)))


def test_models_the_table_cannot_hold_fail_at_definition() -> None:
    with pytest.raises(TypeError, match="must default to None"):
        create_model("Optional", __base__=Item, extra=(int | None, 5))
    with pytest.raises(TypeError, match="alias"):
        create_model("Aliased", __base__=Item, extra=(int, Field(0, alias="Extra")))
    with pytest.raises(TypeError, match="reserved"):
        create_model("Reserved", __base__=Item, Timestamp=(str, ""))


# ---------------------------------------------------------------------------- operations


def test_point_reads(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    etag = table.create(Item(group="g", name="n", count=1))

    assert table.get("g", "n") == Item(group="g", name="n", count=1)
    assert table.get("g", "missing") is None
    found = table.get_with_etag("g", "n")
    assert found is not None
    assert found.etag == etag


def test_duplicate_create_raises_already_exists(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    table.create(Item(group="g", name="n", count=1))

    with pytest.raises(AlreadyExists):
        table.create(Item(group="g", name="n", count=2))
    assert table.get("g", "n") == Item(group="g", name="n", count=1)


def test_delete_honours_the_etag(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    stale = table.create(Item(group="g", name="n"))
    fresh = table.upsert(Item(group="g", name="n", count=1))

    with pytest.raises(ConcurrencyConflict):
        table.delete("g", "n", etag=stale)
    assert table.get("g", "n") is not None

    table.delete("g", "n", etag=fresh)
    assert table.get("g", "n") is None
    table.delete("g", "n")  # already gone: not an error


def test_replace_honours_the_etag(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    stale = table.create(Item(group="g", name="n"))
    table.upsert(Item(group="g", name="n", count=1))

    with pytest.raises(ConcurrencyConflict):
        table.replace(Item(group="g", name="n", count=99), stale)
    table.delete("g", "n")
    with pytest.raises(NotFound):
        table.replace(Item(group="g", name="n", count=99), stale)


@pytest.mark.parametrize("key", ["", "a/b", "a\\b", "a#b", "a?b", "a\x01b", "a\x7fb", "k" * 513])
def test_invalid_keys_are_refused_before_any_request(table_store: TableStore, key: str) -> None:
    table = table_store.table("Items", Item)
    with pytest.raises(InvalidKey):
        table.create(Item(group="g", name=key))
    with pytest.raises(InvalidKey):
        table.get(key, "n")


def test_longest_key_is_accepted(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    table.create(Item(group="g", name="k" * 512))
    assert table.get("g", "k" * 512) is not None


# ------------------------------------------------------------------------------- queries


def test_query_pages_with_parameters_and_continuation(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    for index in range(25):
        table.create(Item(group="p1", name=f"{index:02}", count=index))
    table.create(Item(group="p2", name="00", count=100))

    pages, cursor = [], None
    while True:
        page = table.query("PartitionKey eq @pk and count ge @least", {"pk": "p1", "least": 3},
                           page_size=10, continuation=cursor)
        pages.append(page.items)
        if page.next is None:
            break
        cursor = page.next

    assert [len(items) for items in pages] == [10, 10, 2]
    assert [item.count for items in pages for item in items] == list(range(3, 25))


def test_query_parameters_take_enums_and_datetimes(table_store: TableStore) -> None:
    table = table_store.table("Things", Everything)
    table.create(everything(rk="early", at=datetime(2020, 1, 1, tzinfo=UTC)))
    table.create(everything(rk="late", at=datetime(2030, 1, 1, tzinfo=UTC)))
    table.create(everything(rk="open", at=datetime(2030, 1, 1, tzinfo=UTC), status=Status.OPEN))

    page = table.query("status eq @status and at gt @after",
                       {"status": Status.CLOSED, "after": datetime(2025, 1, 1, tzinfo=UTC)})

    assert [thing.rk for thing in page.items] == ["late"]
    assert page.next is None


def test_query_parameters_with_quotes_cannot_inject(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    table.create(Item(group="g", name="n"))

    page = table.query("PartitionKey eq @pk", {"pk": "x' or PartitionKey eq 'g"})

    assert page.items == []


@pytest.mark.parametrize(
    ("query_filter", "parameters"),
    [
        ("(PartitionKey eq @pk)", {"pk": "g"}),  # glued to a parenthesis: never substituted
        ("PartitionKey eq @pk", {}),
        ("PartitionKey eq 'g'", {"pk": "g"}),
        ("PartitionKey eq  @pk", {"pk": "g"}),
    ],
)
def test_malformed_parameterised_filters_are_refused(
    table_store: TableStore, query_filter: str, parameters: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="space"):
        table_store.table("Items", Item).query(query_filter, parameters)


@pytest.mark.parametrize("cursor", ["garbage!", "bm90IGpzb24", "WzEsMl0"])
def test_forged_cursors_are_refused(table_store: TableStore, cursor: str) -> None:
    with pytest.raises(InvalidContinuation):
        table_store.table("Items", Item).query("PartitionKey eq 'g'", continuation=cursor)


def test_list_partition_follows_every_page(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    table.transaction([CreateOp(Item(group="p", name=f"{index:04}")) for index in range(100)])
    table.transaction([CreateOp(Item(group="p", name=f"{index:04}")) for index in range(100, 150)])
    table.create(Item(group="other", name="0"))

    names = [item.name for item in table.list_partition("p")]

    assert names == [f"{index:04}" for index in range(150)]


# -------------------------------------------------------------------------------- limits


def test_string_limit_counts_utf16_code_units(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    table.create(Item(group="g", name="ascii", note="x" * 32768))
    table.create(Item(group="g", name="emoji", note="😀" * 16384))  # 32768 code units

    with pytest.raises(EntityTooLarge, match=r"Item\.note"):
        table.create(Item(group="g", name="too-long", note="x" * 32769))
    with pytest.raises(EntityTooLarge, match=r"Item\.note"):
        table.create(Item(group="g", name="too-many-units", note="😀" * 16385))
    assert table.get("g", "too-long") is None
    assert table.get("g", "emoji") == Item(group="g", name="emoji", note="😀" * 16384)


def test_entity_limit_is_one_mebibyte(table_store: TableStore) -> None:
    fields: dict[str, Any] = {f"p{i}": (str, "") for i in range(17)}
    wide = create_model("Wide", __base__=Item, **fields)
    table = table_store.table("Wide", wide)
    fits = {f"p{i}": "x" * 30000 for i in range(17)}  # about 1,020,000 bytes in UTF-16
    table.create(wide(group="g", name="fits", **fits))

    with pytest.raises(EntityTooLarge, match="1 MiB"):
        table.create(wide(group="g", name="too-big", **{f"p{i}": "x" * 32000 for i in range(17)}))


# -------------------------------------------------------------------------- transactions


def test_transaction_applies_every_operation(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    etag = table.create(Item(group="g", name="replace-me"))
    table.create(Item(group="g", name="delete-me"))

    table.transaction([
        CreateOp(Item(group="g", name="new")),
        UpsertOp(Item(group="g", name="upserted", count=1)),
        ReplaceOp(Item(group="g", name="replace-me", count=2), etag),
        DeleteOp("g", "delete-me"),
    ])  # fmt: skip

    assert {item.name: item.count for item in table.list_partition("g")} == {
        "new": 0, "upserted": 1, "replace-me": 2,
    }  # fmt: skip


def test_transaction_is_all_or_nothing(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    table.create(Item(group="g", name="exists"))

    with pytest.raises(AlreadyExists, match="operation 1"):
        table.transaction([CreateOp(Item(group="g", name="a")),
                           CreateOp(Item(group="g", name="exists"))])

    assert [item.name for item in table.list_partition("g")] == ["exists"]


def test_transaction_with_a_stale_etag_conflicts(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    stale = table.create(Item(group="g", name="n"))
    table.upsert(Item(group="g", name="n", count=1))

    with pytest.raises(ConcurrencyConflict):
        table.transaction([ReplaceOp(Item(group="g", name="n", count=5), stale)])
    with pytest.raises(ConcurrencyConflict):
        table.transaction([DeleteOp("g", "n", etag=stale)])
    assert table.get("g", "n") == Item(group="g", name="n", count=1)


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ([], "1 to 100"),
        ([CreateOp(Item(group="g", name=str(index))) for index in range(101)], "1 to 100"),
        ([CreateOp(Item(group="a", name="1")), CreateOp(Item(group="b", name="1"))],
         "one partition"),
        ([CreateOp(Item(group="g", name="1")), DeleteOp("g", "1")], "twice"),
    ],
)
def test_transaction_rules_are_checked_before_sending(
    table_store: TableStore, operations: list[Any], message: str
) -> None:
    table = table_store.table("Items", Item)
    with pytest.raises(ValueError, match=message):
        table.transaction(operations)
    assert table.query("PartitionKey ne ''").items == []


# ------------------------------------------------------------------ store and availability


def test_check_passes_against_azurite(table_store: TableStore) -> None:
    table_store.check()


def test_unreachable_storage_raises_storage_unavailable(azurite: AzuriteEndpoints) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = azurite.connection_string.replace(f":{azurite.table_port}/", f":{port}/")
    with TableStore.from_connection_string(dead, retry_total=0) as store:
        with pytest.raises(StorageUnavailable, match="unreachable"):
            store.check()
        with pytest.raises(StorageUnavailable):
            store.table("Items", Item).get("g", "n")


def test_wrong_account_key_raises_storage_unavailable(azurite: AzuriteEndpoints) -> None:
    wrong = azurite.connection_string.replace("AccountKey=", "AccountKey=AAAA")
    with TableStore.from_connection_string(wrong, retry_total=0) as store, pytest.raises(
        StorageUnavailable, match="credentials"
    ):
        store.check()


def test_store_from_settings_uses_the_connection_string(
    azurite: AzuriteEndpoints, table_prefix: str
) -> None:
    settings = Settings(
        AzureWebJobsStorage=azurite.connection_string, PUBLIC_BASE_URL="http://localhost",
        MANAGEMENT_API_KEY="k" * 16, QUEUE_BACKEND="local",
    )  # fmt: skip
    with TableStore.from_settings(settings, prefix=table_prefix) as store:
        table = store.table("Items", Item)
        table.create(Item(group="g", name="n"))
        assert table.get("g", "n") is not None


@pytest.mark.parametrize("name", ["ab", "1abc", "with-dash", "x" * 64])
def test_invalid_table_names_are_refused(name: str) -> None:
    store = TableStore.from_connection_string("UseDevelopmentStorage=true")
    with pytest.raises(ValueError, match="table name"):
        store.table(name, Item)


def test_key_alphabet_is_what_the_service_accepts(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    name = string.punctuation.translate(str.maketrans("", "", "/\\#?")) + " é😀"
    table.create(Item(group="g", name=name))
    assert table.get("g", name) == Item(group="g", name=name)


def test_count_reads_keys_only_and_stops_at_its_limit(table_store: TableStore) -> None:
    table = table_store.table("Items", Item)
    for index in range(7):
        table.create(Item(group="g", name=f"n{index}", count=index,
                          status=Status.OPEN if index % 2 else Status.CLOSED))
    table.create(Item(group="other", name="n0"))
    assert table.count("PartitionKey eq @pk", {"pk": "g"}, limit=100) == 7
    assert table.count("PartitionKey eq @pk and status eq @s", {"pk": "g", "s": "open"},
                       limit=100) == 3
    assert table.count("PartitionKey eq @pk and RowKey lt @hi", {"pk": "g", "hi": "n3"},
                       limit=100) == 3
    assert table.count("PartitionKey eq @pk", {"pk": "g"}, limit=2) == 2
    assert table.count("PartitionKey eq @pk", {"pk": "nobody"}, limit=5) == 0
    with pytest.raises(ValueError, match="limit"):
        table.count("PartitionKey eq @pk", {"pk": "g"}, limit=0)
