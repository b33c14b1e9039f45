"""``python -m bench.ingest``: what the webhook costs, measured against floors in the same run.

(a) in-process CPU per request for verify + parse + building the queue messages, next to the
    floor (HMAC-SHA256 of the same bytes + ``json.loads``);
(b) the same with the enqueue into the durable local queue (SQLite, fsync per send);
(c) the devhost over HTTP (Azurite, local queue): throughput and p50/p99 latency of signed
    1-event and 10-event posts (unique mids) at fixed concurrencies, driven by ``wrk`` (a C
    load generator: a Python one saturates its own core first and measures itself), and
    p99 at a fixed 200 req/s (open loop; Python is fast enough for that rate).

Writes bench/results/ingest.json and bench/results/ingest.png.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx

from bench.common import RESULTS, cpu_seconds_per_call, summary_ms, write_result
from devhost.processes import free_port
from devhost.stack import LocalStack, StackConfig
from messenger_channel.bus.local import LocalQueue
from messenger_channel.bus.port import QueueMessage
from messenger_channel.clock import Clock
from messenger_channel.facebook.signature import sign
from messenger_channel.ingress.archive import WebhookArchive
from messenger_channel.ingress.counters import IngressCounters
from messenger_channel.ingress.directory import AccountKeys
from messenger_channel.ingress.quarantine import Quarantine
from messenger_channel.ingress.webhook import WebhookIngress
from messenger_channel.provisioning.models import Page, ProvisioningState
from simulator.client import SimulatorClient

APP_SECRET = "bench-app-secret-0123456789abcdef"
PAGE_ID = "100000000000777"
_mids = itertools.count()


def webhook_body(events: int, page_id: str = PAGE_ID) -> bytes:
    """A Meta-shaped body (compact, non-ASCII escaped) with ``events`` unique messages."""
    now = int(time.time() * 1000)
    messaging = [
        {
            "sender": {"id": f"{5550000 + i}"},
            "recipient": {"id": page_id},
            "timestamp": now,
            "message": {"mid": f"m_bench_{next(_mids)}", "text": "Olá, preciso de ajuda ä"},
        }
        for i in range(events)
    ]
    payload = {"object": "page", "entry": [{"id": page_id, "time": now, "messaging": messaging}]}
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()


class _Directory:
    def __init__(self) -> None:
        now = datetime.now(UTC)
        self.keys = AccountKeys("acc_bench", "100000000000001", APP_SECRET, "verify")
        self.page_entity = Page(
            page_id=PAGE_ID,
            account_id="acc_bench",
            name="Bench",
            provisioning_state=ProvisioningState.RUNNING,
            created_at=now,
            updated_at=now,
        )

    def account(self, account_id: str, *, fresh: bool = False) -> AccountKeys:
        return self.keys

    def page(self, page_id: str) -> Page:
        return self.page_entity


class _NoQueue:
    def send(self, queue: str, messages: list[QueueMessage]) -> None:
        pass

    def check(self) -> None:
        pass


class _NoArchive:
    def keep(self, *args: object) -> str:
        return ""

    def quarantine(self, *args: object) -> str:
        return ""


def _ingress(queue: object) -> WebhookIngress:
    return WebhookIngress(
        directory=cast(Any, _Directory()),
        queue=cast(Any, queue),
        archive=cast(WebhookArchive, _NoArchive()),
        quarantine=cast(Quarantine, None),
        counters=cast(IngressCounters, None),
        clock=Clock(),
        max_body_bytes=4 * 1024 * 1024,
    )


def in_process(events: int, data_dir: Path) -> dict[str, Any]:
    body = webhook_body(events)
    signature = sign(APP_SECRET, body)

    def floor() -> None:
        hmac.compare_digest(
            hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest(), signature[7:]
        )
        json.loads(body)

    without_queue = _ingress(_NoQueue())
    queue = LocalQueue(data_dir / f"bench-{events}.sqlite", Clock())
    with_queue = _ingress(queue)

    def fresh_body_call(ingress: WebhookIngress) -> None:
        # Unique mids every time, so duplicate detection never short-cuts the enqueue.
        fresh = webhook_body(events)
        ingress.receive("acc_bench", sign(APP_SECRET, fresh), fresh)

    floor_s = cpu_seconds_per_call(floor)
    ingest_s = cpu_seconds_per_call(lambda: without_queue.receive("acc_bench", signature, body))
    body_build_s = cpu_seconds_per_call(lambda: sign(APP_SECRET, webhook_body(events)))
    enqueue_s = cpu_seconds_per_call(lambda: fresh_body_call(with_queue), number=200) - body_build_s
    queue.close()
    return {
        "events_per_request": events,
        "body_bytes": len(body),
        "floor_us": round(floor_s * 1e6, 2),
        "ingest_us": round(ingest_s * 1e6, 2),
        "ingest_ratio_to_floor": round(ingest_s / floor_s, 2),
        "ingest_with_enqueue_us": round(enqueue_s * 1e6, 2),
        "ingest_with_enqueue_ratio_to_floor": round(enqueue_s / floor_s, 2),
    }


WRK_SECONDS = 4


def _wrk_script(path: Path, webhook_path: str, bodies: list[bytes]) -> None:
    """A Lua script that posts each pre-signed body once, in turn (wrk cannot sign)."""
    with path.open("w") as out:
        out.write("bodies, signatures = {}, {}\n")
        for index, body in enumerate(bodies, 1):
            out.write(f"bodies[{index}] = {json.dumps(body.decode())}\n"
                      f'signatures[{index}] = "{sign(APP_SECRET, body)}"\n')
        out.write(f"""
local counter = 0
request = function()
  counter = counter + 1
  local i = ((counter - 1) % {len(bodies)}) + 1
  return wrk.format("POST", "{webhook_path}", {{["Content-Type"] = "application/json",
                    ["X-Hub-Signature-256"] = signatures[i]}}, bodies[i])
end
""")


def _wrk_load(base_url: str, webhook_path: str, events: int, concurrency: int,
              work: Path) -> dict[str, Any]:
    # More unique bodies than wrk sends in one run, so no request is a duplicate.
    bodies = [webhook_body(events) for _ in range(12000 if events == 1 else 4000)]
    script = work / f"wrk-{events}-{concurrency}.lua"
    _wrk_script(script, webhook_path, bodies)
    output = subprocess.run(["wrk", "-t", "1", "-c", str(concurrency), "-d", f"{WRK_SECONDS}s",
                             "--latency", "-s", str(script), base_url],
                            capture_output=True, text=True, check=True).stdout
    script.unlink()

    def latency(label: str) -> float:
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        assert found is not None, output
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
        return round(float(found.group(1)) * scale, 3)

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    assert rate is not None, output
    return {"concurrency": concurrency, "requests_per_s": float(rate.group(1)),
            "p50_ms": latency("50"), "p99_ms": latency("99"),
            "non_2xx": int(errors.group(1)) if errors else 0, "load_generator": "wrk"}


async def _post(client: httpx.AsyncClient, url: str, body: bytes, latencies: list[float],
                statuses: dict[int, int]) -> None:
    """One signed webhook post, timed; its status counted."""
    started = time.perf_counter()
    answer = await client.post(url, content=body, headers={
        "X-Hub-Signature-256": sign(APP_SECRET, body), "Content-Type": "application/json"})
    latencies.append(time.perf_counter() - started)
    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1


async def _load(url: str, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    pending = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker() -> None:
            for body in pending:
                await _post(client, url, body, latencies, statuses)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "requests": len(bodies),
        "requests_per_s": round(len(bodies) / wall, 1),
        "statuses": statuses,
        **summary_ms(latencies),
    }


async def _fixed_rate(url: str, bodies: list[bytes], rate: float) -> dict[str, Any]:
    """Open-loop load: requests start on schedule whether or not earlier ones finished."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=256)) as client:

        tasks = []
        start = time.perf_counter()
        for index, body in enumerate(bodies):
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_post(client, url, body, latencies, statuses)))
        await asyncio.gather(*tasks)
    return {
        "rate_per_s": rate,
        "requests": len(bodies),
        "statuses": statuses,
        **summary_ms(latencies),
    }


def over_http(data_dir: Path, requests: int) -> dict[str, Any]:
    key = "bench-management-key-" + "0" * 20
    config = StackConfig(
        data_dir=data_dir,
        devhost_port=free_port(),
        simulator_port=free_port(),
        azurite_ports=None,
        azurite_in_memory=True,
        log_dir=data_dir / "logs",
        management_api_key=key,
        demo=False,
        extra_env={"DEVHOST_RUN_TRIGGERS": "0"},
    )
    stack = LocalStack(config)
    stack.start()
    try:
        manage = httpx.Client(
            base_url=f"{config.devhost_url}/api/manage",
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        simulator = SimulatorClient(config.simulator_url)
        simulator.put_app("100000000000555", APP_SECRET)
        account = manage.post(
            "/accounts",
            json={"name": "bench", "app_id": "100000000000555", "app_secret": APP_SECRET},
        ).json()
        token = simulator.put_page(
            PAGE_ID, "Bench", app_id="100000000000555", account_id=account["id"]
        )["access_token"]
        added = manage.post(
            f"/accounts/{account['id']}/pages",
            json={"page_id": PAGE_ID, "name": "Bench", "access_token": token},
        )
        assert added.json()["provisioning_state"] == "Running", added.text
        url = f"{config.devhost_url}/api/facebook/webhook/{account['id']}"
        runs = []
        webhook_path = f"/api/facebook/webhook/{account['id']}"
        for events in (1, 10):
            asyncio.run(_load(url, [webhook_body(events) for _ in range(20)], 4))  # warm-up
            for concurrency in (1, 16, 64):
                if shutil.which("wrk"):
                    run = _wrk_load(config.devhost_url, webhook_path, events, concurrency,
                                    data_dir)
                else:  # apt-get install wrk: the Python client measures itself past ~16
                    bodies = [webhook_body(events) for _ in range(requests)]
                    run = asyncio.run(_load(url, bodies, concurrency))
                runs.append({"events_per_request": events, **run})
        paced = asyncio.run(_fixed_rate(url, [webhook_body(1) for _ in range(requests * 2)], 200))
        return {"closed_loop": runs, "fixed_rate": paced}
    finally:
        stack.stop()


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cpu, http) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [f"{r['events_per_request']} event(s)" for r in result["in_process"]]
    width = 0.25
    for offset, (key, name) in enumerate(
        (
            ("floor_us", "floor: HMAC + json.loads"),
            ("ingest_us", "verify + parse + messages"),
            ("ingest_with_enqueue_us", "… + enqueue (SQLite)"),
        )
    ):
        cpu.bar(
            [i + offset * width for i in range(len(labels))],
            [r[key] for r in result["in_process"]],
            width,
            label=name,
        )
    cpu.set_xticks([i + width for i in range(len(labels))], labels)
    cpu.set_ylabel("CPU µs per request")
    cpu.set_yscale("log")
    cpu.set_title("(a, b) in process")
    cpu.legend(fontsize=8)
    for events in (1, 10):
        rows = [r for r in result["http"]["closed_loop"] if r["events_per_request"] == events]
        http.plot(
            [r["concurrency"] for r in rows],
            [r["p99_ms"] for r in rows],
            marker="o",
            label=f"p99, {events} event(s)",
        )
        http.plot(
            [r["concurrency"] for r in rows],
            [r["p50_ms"] for r in rows],
            marker=".",
            linestyle="--",
            label=f"p50, {events} event(s)",
        )
    http.set_xscale("log", base=2)
    http.set_xlabel("concurrent clients")
    http.set_ylabel("latency ms (log)")
    http.set_yscale("log")
    http.set_title("(c) devhost over HTTP")
    http.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="per HTTP run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        data = Path(tmp)
        result: dict[str, Any] = {"in_process": [in_process(n, data) for n in (1, 10)]}
        result["http"] = over_http(data / "stack", args.requests)
    path = write_result("ingest", result)
    plot(result, RESULTS / "ingest.png")
    for row in result["in_process"]:
        print(
            f"{row['events_per_request']:>2} event(s): floor {row['floor_us']} µs, ingest "
            f"{row['ingest_us']} µs ({row['ingest_ratio_to_floor']}× floor), with enqueue "
            f"{row['ingest_with_enqueue_us']} µs ({row['ingest_with_enqueue_ratio_to_floor']}×)"
        )
    for row in result["http"]["closed_loop"]:
        print(
            f"HTTP {row['events_per_request']:>2} event(s) × {row['concurrency']:>2} clients: "
            f"{row['requests_per_s']} req/s, p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms"
        )
    paced = result["http"]["fixed_rate"]
    print(
        f"HTTP at {paced['rate_per_s']} req/s: p50 {paced['p50_ms']} ms, p99 {paced['p99_ms']} ms"
    )
    print(f"written: {path}")


if __name__ == "__main__":
    main()
