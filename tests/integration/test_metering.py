"""The operation counters: the module itself, the storage and queue layers that count, and the
devhost's ``/admin/metering`` routes over a function run that writes a table."""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devhost.azurite import AzuriteEndpoints
from devhost.processes import ChildProcess, free_port
from messenger_channel import metering
from messenger_channel.bus.local import LocalQueue
from messenger_channel.bus.port import QueueMessage
from messenger_channel.clock import Clock
from messenger_channel.storage.blobs import BlobStore
from messenger_channel.storage.tables import CreateOp, Entity, TableStore, UpsertOp

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "integration" / "metering_app" / "function_app.py"
KEY = "test-management-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


class Item(Entity):
    group: str
    key: str

    def partition_key(self) -> str:
        return self.group

    def row_key(self) -> str:
        return self.key


def test_counts_add_up_by_label_and_scope() -> None:
    before = metering.snapshot()
    metering.count("x.read", "x.total", table="A")
    metering.count("x.rows", amount=3, table="A")
    with metering.function_scope("router"):
        metering.count("x.read", "x.total", table="B")
    with metering.function_scope("agent_api", "GET agent/conversations"):
        metering.add({"x.rows": 2})
    used = metering.difference(before, metering.snapshot())
    assert used == {
        "x.read": 2, "x.total": 2, "x.rows": 5,
        "x.read{table=A}": 1, "x.total{table=A}": 1, "x.rows{table=A}": 3,
        "x.read{table=B}": 1, "x.total{table=B}": 1,
        "x.read{function=router}": 1, "x.total{function=router}": 1,
        "x.read{table=B,function=router}": 1, "x.total{table=B,function=router}": 1,
        "x.rows{function=agent_api}": 2, "x.rows{operation=GET agent/conversations}": 2,
    }
    assert metering.split(used)["table=A"] == {"x.read": 1, "x.total": 1, "x.rows": 3}
    assert metering.split(used)["table=B,function=router"] == {"x.read": 1, "x.total": 1}


def test_concurrent_counts_are_all_kept() -> None:
    def work() -> None:
        for _ in range(2000):
            metering.count("x.concurrent", table="T")

    with metering.measure() as measured:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert measured.counts["x.concurrent"] == 16000
    assert measured.counts["x.concurrent{table=T}"] == 16000


def test_a_bad_label_never_breaks_the_caller() -> None:
    metering.add({"x.bad": object()})  # type: ignore[dict-item]  # not a number: dropped


def test_table_operations_are_counted_as_azure_bills_them(table_store: TableStore) -> None:
    items = table_store.table("Items", Item)
    name = items.name
    items.create(Item(group="g", key="warm-up"))  # the table's creation is counted apart
    with metering.measure() as measured:
        items.create(Item(group="g", key="a"))
        items.upsert(Item(group="g", key="b"))
        items.get("g", "a")
        items.get("g", "missing")
        items.update("g", "a", lambda item: item.model_copy(update={"key": "a"}))
        items.transaction([CreateOp(Item(group="g", key=f"c{i}")) for i in range(5)]
                          + [UpsertOp(Item(group="g", key="b"))])
        assert len(items.list_partition("g")) == 8
        first = items.query("PartitionKey eq @pk", {"pk": "g"}, page_size=3)
        items.delete("g", "a")
    used = measured.counts
    assert used[f"table.insert{{table={name}}}"] == 1
    assert used[f"table.upsert{{table={name}}}"] == 1
    assert used[f"table.read{{table={name}}}"] == 3  # two gets and update's read
    assert used[f"table.read_missing{{table={name}}}"] == 1
    assert used[f"table.update{{table={name}}}"] == 1  # the replace under the ETag
    assert used[f"table.batch{{table={name}}}"] == 1
    assert used[f"table.batch_operations{{table={name}}}"] == 6
    assert used[f"table.query{{table={name}}}"] == 2  # one page each
    assert used[f"table.rows{{table={name}}}"] == 8 + len(first.items)
    assert used[f"table.delete{{table={name}}}"] == 1
    assert used[f"table.transactions{{table={name}}}"] == 1 + 1 + 3 + 1 + 1 + 2 + 1


def test_blob_operations_are_counted(blob_store: BlobStore, table_prefix: str) -> None:
    with metering.measure() as measured:
        blob_store.upload("files", "a.txt", b"a", "text/plain")
        blob_store.upload("files", "b.txt", b"b", "text/plain")
        assert blob_store.download("files", "a.txt") == b"a"
        assert len(list(blob_store.list("files"))) == 2
        blob_store.delete("files", "b.txt")
    container = f"{table_prefix}files"
    assert measured.counts[f"blob.write{{container={container}}}"] == 2
    assert measured.counts[f"blob.create_container{{container={container}}}"] == 1
    assert measured.counts[f"blob.read{{container={container}}}"] == 1
    assert measured.counts[f"blob.list{{container={container}}}"] == 1
    assert measured.counts[f"blob.delete{{container={container}}}"] == 1


def test_local_queue_counts_service_bus_operations(tmp_path: Path) -> None:
    queue = LocalQueue(tmp_path / "queues.sqlite", Clock())
    try:
        with metering.measure() as measured:
            message = QueueMessage(body=b"{}", session_id="s", message_id="m1")
            queue.send("inbound", [message, QueueMessage(body=b"{}", session_id="t",
                                                         message_id="m2")])
            queue.send("inbound", [message])  # a duplicate: still a billed send
            first = queue.receive("inbound")
            second = queue.receive("inbound")
            assert first is not None and second is not None
            queue.complete(first)
            queue.abandon(second)
        used = measured.counts
        assert used["queue.sent{queue=inbound}"] == 3
        assert used["queue.duplicates{queue=inbound}"] == 1
        assert used["queue.received{queue=inbound}"] == 2
        assert used["queue.complete{queue=inbound}"] == 1
        assert used["queue.abandon{queue=inbound}"] == 1
        assert used["servicebus.operations{queue=inbound}"] == 3 + 2 + 2
    finally:
        queue.close()


@pytest.fixture
def host(tmp_path: Path, azurite: AzuriteEndpoints) -> Iterator[str]:
    port = free_port()
    prefix = f"t{uuid.uuid4().hex[:12]}"
    env = {
        "PATH": "/usr/bin:/bin",
        "LOCAL_DATA_DIR": str(tmp_path),
        "MANAGEMENT_API_KEY": KEY,
        "DEVHOST_RUN_TRIGGERS": "0",
        "METERING_TEST_STORAGE": azurite.connection_string,
        "METERING_TEST_PREFIX": prefix,
        "PYTHONPATH": str(ROOT),
    }
    child = ChildProcess("devhost", [sys.executable, "-m", "devhost", "--app", str(APP),
                                     "--port", str(port)],
                         env=env, cwd=ROOT, log_file=tmp_path / "devhost.log")
    child.start()
    url = f"http://127.0.0.1:{port}"
    try:
        child.wait_ready(lambda: ready(url), 30)
        yield url
    finally:
        child.stop()


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/admin/metering", headers=AUTH, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def counters(url: str) -> dict[str, float]:
    answer = httpx.get(f"{url}/admin/metering", headers=AUTH)
    assert answer.status_code == 200, answer.text
    found: dict[str, float] = answer.json()["counters"]
    return found


def test_admin_metering_shows_function_runs_and_table_writes(host: str) -> None:
    assert httpx.get(f"{host}/admin/metering").status_code == 401
    assert httpx.post(f"{host}/admin/metering/reset").status_code == 401
    httpx.post(f"{host}/admin/metering/reset", headers=AUTH).raise_for_status()

    assert httpx.put(f"{host}/api/notes/n1", content=b"hello").status_code == 204
    after_write = counters(host)
    assert after_write["function.executions{function=put_note}"] == 1
    assert after_write["function.executions{operation=PUT notes/{id}}"] == 1
    assert after_write["function.executions{trigger=http}"] == 1
    assert after_write["table.upsert{function=put_note}"] == 1
    [table] = [k[len("table.upsert{table="):-1] for k in after_write
               if k.startswith("table.upsert{table=") and "," not in k]
    assert after_write[f"table.upsert{{table={table},operation=PUT notes/{{id}}}}"] == 1
    assert after_write["function.cpu_ms{function=put_note}"] > 0

    assert httpx.post(f"{host}/api/enqueue", json=[{"key": "q1"}, {"key": "q2"}]).is_success
    ran = httpx.post(f"{host}/admin/functions/router", headers=AUTH, timeout=60).json()
    assert ran == {"processed": 2, "failed": 0}
    after_run = counters(host)
    assert after_run["function.executions{function=router}"] == 2
    assert after_run["function.executions{trigger=queue}"] == 2
    assert after_run["table.insert{function=router}"] == 2
    assert after_run["table.read{function=router}"] == 2
    assert after_run["function.cpu_ms{function=router}"] > 0
    assert after_run["queue.sent{queue=inbound}"] == 2
    assert after_run["queue.received{queue=inbound}"] == 2
    assert after_run["queue.complete{queue=inbound}"] == 2
    assert after_run["table.transactions"] >= 5

    only = httpx.get(f"{host}/admin/metering", headers=AUTH,
                     params={"name": ["queue.sent", "queue.complete"]}).json()["counters"]
    assert {key.partition("{")[0] for key in only} == {"queue.sent", "queue.complete"}
    assert only["queue.sent{queue=inbound}"] == 2

    taken = httpx.post(f"{host}/admin/metering/reset", headers=AUTH).json()["counters"]
    assert taken["function.executions{function=router}"] == 2
    assert "function.executions" not in counters(host)
