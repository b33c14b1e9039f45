"""The devhost runs a small test FunctionApp exactly as `python -m devhost` would."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devhost.processes import ChildProcess, free_port, http_ok
from messenger_channel.bus.local import LocalQueue
from messenger_channel.clock import Clock
from tests.support.eventually import eventually

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "integration" / "devhost_app" / "function_app.py"
KEY = "test-management-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


class RunningHost:
    def __init__(self, url: str, data: Path) -> None:
        self.url = url
        self.data = data

    def lines(self, name: str) -> list[dict[str, object]]:
        path = self.data / f"{name}.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def enqueue(self, items: list[dict[str, object]]) -> None:
        assert httpx.post(f"{self.url}/api/enqueue", json=items).status_code == 202

    def run(self, name: str) -> dict[str, int]:
        answer = httpx.post(f"{self.url}/admin/functions/{name}", headers=AUTH, timeout=60)
        assert answer.status_code == 200, answer.text
        result: dict[str, int] = answer.json()
        return result


def start_host(
    tmp: Path, *, run_triggers: bool, schedule: str = "0 0 0 1 1 *"
) -> tuple[ChildProcess, RunningHost]:
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "LOCAL_DATA_DIR": str(tmp),
        "MANAGEMENT_API_KEY": KEY,
        "DEVHOST_RUN_TRIGGERS": "1" if run_triggers else "0",
        "TEST_SCHEDULE": schedule,
        "PYTHONPATH": str(ROOT),
    }
    child = ChildProcess(
        "devhost",
        [sys.executable, "-m", "devhost", "--app", str(APP), "--port", str(port)],
        env=env,
        cwd=ROOT,
        log_file=tmp / "devhost.log",
    )
    child.start()
    url = f"http://127.0.0.1:{port}"
    try:
        child.wait_ready(http_ok(f"{url}/api/files/ready"), 30)
    except BaseException:
        child.stop()
        raise
    return child, RunningHost(url, tmp)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    child, running = start_host(tmp_path_factory.mktemp("devhost"), run_triggers=False)
    yield running
    child.stop()


def test_http_trigger_gets_route_query_body_and_headers(host: RunningHost) -> None:
    answer = httpx.post(f"{host.url}/api/echo/bob?x=1", content=b"hello", headers={"x-test": "t"})
    assert answer.status_code == 201
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {
        "name": "bob",
        "method": "POST",
        "query": {"x": "1"},
        "body": "hello",
        "signature": "t",
    }


def test_literal_route_wins_and_catch_all_takes_the_rest(host: RunningHost) -> None:
    assert httpx.get(f"{host.url}/api/echo/fixed").text == "literal route wins"
    assert httpx.get(f"{host.url}/api/files/a/b/c.txt").text == "a/b/c.txt"


def test_unknown_route_wrong_method_and_crash_get_json_errors(host: RunningHost) -> None:
    missing = httpx.get(f"{host.url}/api/nothing/here")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert httpx.get(f"{host.url}/elsewhere").status_code == 404
    assert httpx.put(f"{host.url}/api/echo/x").status_code == 405
    crashed = httpx.get(f"{host.url}/api/boom")
    assert crashed.status_code == 500
    assert "unhandled" not in crashed.text  # the exception text stays in the log


def test_concurrent_requests_are_served_in_parallel(host: RunningHost) -> None:
    with httpx.Client() as client:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda i: client.get(f"{host.url}/api/echo/n{i}"), range(64)))
    assert [a.json()["name"] for a in answers] == [f"n{i}" for i in range(64)]


def test_admin_routes_need_the_management_key(host: RunningHost) -> None:
    assert httpx.get(f"{host.url}/admin/functions").status_code == 401
    wrong = httpx.get(f"{host.url}/admin/functions", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert httpx.post(f"{host.url}/admin/functions/router").status_code == 401
    listed = httpx.get(f"{host.url}/admin/functions", headers=AUTH).json()["functions"]
    kinds = {f["name"]: f["trigger"] for f in listed}
    assert kinds["router"] == "queue" and kinds["tick"] == "timer" and kinds["echo"] == "http"
    unknown = httpx.post(f"{host.url}/admin/functions/nope", headers=AUTH)
    assert unknown.status_code == 404
    assert httpx.post(f"{host.url}/admin/functions/echo", headers=AUTH).status_code == 400


def test_queue_function_runs_over_due_messages_in_session_order(host: RunningHost) -> None:
    host.enqueue(
        [
            {"id": "a1", "session": "A"},
            {"id": "b1", "session": "B"},
            {"id": "a2", "session": "A"},
            {"id": "a1", "session": "A"},
        ]
    )  # last: a duplicate
    assert host.run("router") == {"processed": 3, "failed": 0}
    processed = host.lines("processed")
    assert [p["id"] for p in processed if p["session"] == "A"] == ["a1", "a2"]
    assert {p["id"] for p in processed} == {"a1", "a2", "b1"}
    assert host.run("router") == {"processed": 0, "failed": 0}


def test_failing_message_is_abandoned_then_dead_lettered(host: RunningHost) -> None:
    host.enqueue([{"id": "f1", "session": "F", "fail": True}, {"id": "f2", "session": "F"}])
    for attempt in range(1, 11):
        assert host.run("router") == {"processed": 0, "failed": 1}, attempt
    counts = [f["delivery_count"] for f in host.lines("failures") if f["id"] == "f1"]
    assert counts == list(range(1, 11))
    # The tenth failure reached the queue's max: dead-lettered, so f2 is next in its session.
    assert host.run("router") == {"processed": 1, "failed": 0}
    queue = LocalQueue(host.data / "queues.sqlite", Clock())
    [dead] = queue.dead_letters("inbound")
    assert dead.message_id == "f1"
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert "asked to fail" in (dead.dead_letter_description or "")


def test_timer_function_runs_on_request(host: RunningHost) -> None:
    before = len(host.lines("ticks"))
    assert host.run("tick") == {"processed": 1, "failed": 0}
    assert len(host.lines("ticks")) == before + 1


def test_clock_offset_is_set_at_run_time(host: RunningHost) -> None:
    shifted = httpx.put(f"{host.url}/admin/clock", headers=AUTH, json={"offset_seconds": 86400})
    assert shifted.status_code == 200 and shifted.json()["offset_seconds"] == 86400
    host.run("tick")
    tick_time = host.lines("ticks")[-1]["now"]
    assert isinstance(tick_time, str) and tick_time > time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 86000)
    )
    bad = httpx.put(f"{host.url}/admin/clock", headers=AUTH, json={"offset_seconds": "soon"})
    assert bad.status_code == 422 and bad.json()["error"] == "validation_error"
    httpx.put(f"{host.url}/admin/clock", headers=AUTH, json={"offset_seconds": 0})


def test_background_triggers_deliver_messages_and_fire_timers(tmp_path: Path) -> None:
    child, running = start_host(tmp_path, run_triggers=True, schedule="* * * * * *")
    try:
        running.enqueue([{"id": f"m{i}", "session": f"S{i % 3}"} for i in range(9)])
        eventually(lambda: (len(running.lines("processed")), len(running.lines("ticks"))),
                   lambda counts: counts[0] >= 9 and counts[1] >= 2, interval=0.1,
                   what="(messages processed, ticks) to reach (9, 2)")
        assert sorted(str(p["id"]) for p in running.lines("processed")) == sorted(
            f"m{i}" for i in range(9)
        )
        assert len(running.lines("ticks")) >= 2
    finally:
        child.stop()


def run_devhost(app: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``python -m devhost`` with only the settings every app needs; for start-up failures."""
    return subprocess.run(
        [sys.executable, "-m", "devhost", "--app", str(app), "--port", "0"],
        env={"PATH": "/usr/bin:/bin", "LOCAL_DATA_DIR": str(tmp_path),
             "MANAGEMENT_API_KEY": KEY, "PYTHONPATH": str(ROOT)},
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


def test_reserved_route_is_refused_at_start_up(tmp_path: Path) -> None:
    result = run_devhost(ROOT / "tests" / "integration" / "reserved_app" / "function_app.py",
                         tmp_path)
    assert result.returncode == 2
    assert "reserves" in result.stderr and "admin/things" in result.stderr


def test_missing_schedule_setting_is_named_at_start_up(tmp_path: Path) -> None:
    result = run_devhost(APP, tmp_path)
    assert result.returncode == 2
    assert "TEST_SCHEDULE" in result.stderr
