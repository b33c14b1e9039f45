"""Read-modify-write under concurrent writers, against a real Azurite.

The races are forced, not hoped for: in every round both writers read the same version of
the entity and meet at a barrier before either writes. The naive read-then-upsert then loses
exactly one increment per round; ``update`` loses none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from devhost.azurite import AzuriteEndpoints
from messenger_channel.storage.errors import ConcurrencyConflict, InvalidEntity, NotFound
from messenger_channel.storage.tables import Entity, Table, TableStore

ROUNDS = 50


class Counter(Entity):
    name: str
    value: int = 0

    def partition_key(self) -> str:
        return "counters"

    def row_key(self) -> str:
        return self.name


def increment(counter: Counter) -> Counter:
    return counter.model_copy(update={"value": counter.value + 1})


class RoundBarrier:
    """Makes both writers meet once per round, after their first read of the round only:
    a writer retrying after a 412 must not wait for the other, which has moved on."""

    def __init__(self) -> None:
        self._barrier = threading.Barrier(2, timeout=10)
        self._local = threading.local()

    def start_round(self) -> None:
        self._local.waiting = True

    def meet(self) -> None:
        if self._local.waiting:
            self._local.waiting = False
            self._barrier.wait()


def run_writers(
    azurite: AzuriteEndpoints, table_prefix: str, write: Callable[[Table[Counter]], None]
) -> None:
    """Two writers, each with its own store (its own connections, like two function hosts),
    each calling ``write`` ROUNDS times."""

    def writer() -> None:
        with TableStore.from_connection_string(azurite.connection_string,
                                               prefix=table_prefix) as store:
            table = store.table("Counters", Counter)
            for _ in range(ROUNDS):
                write(table)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(writer), pool.submit(writer)]:
            future.result()


def test_naive_read_then_upsert_loses_updates(
    table_store: TableStore, azurite: AzuriteEndpoints, table_prefix: str
) -> None:
    counters = table_store.table("Counters", Counter)
    counters.create(Counter(name="c"))
    rounds = RoundBarrier()

    def naive_increment(table: Table[Counter]) -> None:
        rounds.start_round()
        current = table.get("counters", "c")
        assert current is not None
        rounds.meet()
        table.upsert(increment(current))

    run_writers(azurite, table_prefix, naive_increment)

    stored = counters.get("counters", "c")
    assert stored is not None
    assert stored.value == ROUNDS  # half of the 2 x ROUNDS increments were lost


def test_update_loses_no_increment_under_concurrent_writers(
    table_store: TableStore, azurite: AzuriteEndpoints, table_prefix: str
) -> None:
    counters = table_store.table("Counters", Counter)
    counters.create(Counter(name="c"))
    rounds = RoundBarrier()
    calls = []

    def racing_increment(counter: Counter) -> Counter:
        calls.append(counter.value)
        rounds.meet()
        return increment(counter)

    def safe_increment(table: Table[Counter]) -> None:
        rounds.start_round()
        table.update("counters", "c", racing_increment)

    run_writers(azurite, table_prefix, safe_increment)

    stored = counters.get("counters", "c")
    assert stored is not None
    assert stored.value == 2 * ROUNDS
    assert len(calls) >= 2 * ROUNDS + ROUNDS  # every round cost at least one retry


def test_update_gives_up_with_concurrency_conflict(table_store: TableStore) -> None:
    counters = table_store.table("Counters", Counter)
    counters.create(Counter(name="c"))
    calls = []

    def always_races(counter: Counter) -> Counter:
        calls.append(counter.value)
        counters.upsert(Counter(name="c", value=counter.value + 1000))  # another writer wins
        return increment(counter)

    with pytest.raises(ConcurrencyConflict, match="4 attempts"):
        counters.update("counters", "c", always_races, retries=3)

    assert len(calls) == 4
    stored = counters.get("counters", "c")
    assert stored is not None
    assert stored.value == 4000  # only the other writer's changes


def test_update_of_a_missing_entity_raises_not_found(table_store: TableStore) -> None:
    with pytest.raises(NotFound):
        table_store.table("Counters", Counter).update("counters", "nope", increment)


def test_update_returning_none_writes_nothing(table_store: TableStore) -> None:
    counters = table_store.table("Counters", Counter)
    etag = counters.create(Counter(name="c", value=7))

    result = counters.update("counters", "c", lambda counter: None)

    assert result == Counter(name="c", value=7)
    found = counters.get_with_etag("counters", "c")
    assert found is not None
    assert found.etag == etag


def test_update_refuses_a_mutate_that_changes_the_keys(table_store: TableStore) -> None:
    counters = table_store.table("Counters", Counter)
    counters.create(Counter(name="c"))

    with pytest.raises(InvalidEntity, match="keys"):
        counters.update("counters", "c", lambda counter: Counter(name="other"))


def test_update_hands_mutate_a_copy(table_store: TableStore) -> None:
    counters = table_store.table("Counters", Counter)
    counters.create(Counter(name="c", value=1))

    def mutate_in_place_but_report_no_change(counter: Counter) -> None:
        counter.value = 99

    assert counters.update("counters", "c", mutate_in_place_but_report_no_change).value == 1


def test_create_or_update_resolves_a_find_or_create_race(
    table_store: TableStore, azurite: AzuriteEndpoints, table_prefix: str
) -> None:
    both_found_nothing = threading.Barrier(2, timeout=10)
    factory_calls = []

    def fresh_counter() -> Counter:
        factory_calls.append(1)
        both_found_nothing.wait()  # both writers saw no entity before either creates one
        return Counter(name="c")

    def find_or_create(table: Table[Counter]) -> None:
        table.create_or_update("counters", "c", fresh_counter, increment)

    with ThreadPoolExecutor(max_workers=2) as pool:
        stores = [TableStore.from_connection_string(azurite.connection_string,
                                                    prefix=table_prefix) for _ in range(2)]
        futures = [pool.submit(find_or_create, store.table("Counters", Counter))
                   for store in stores]
        for future in futures:
            future.result()
        for store in stores:
            store.close()

    stored = table_store.table("Counters", Counter).get("counters", "c")
    assert stored is not None
    assert stored.value == 2
    assert len(factory_calls) == 2
