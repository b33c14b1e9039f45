"""``python -m bench.router_load``: the router under webhook load, and its own cost per event.

The whole local stack as ``make run`` starts it (Azurite in memory, the Messenger simulator,
the devhost), seeded through the management API like ``bench.costs``: an account, a page
connected through the simulator, one queue, 3 agents in the queue who are *offline*, and a
push workstream (fallback queue; greeting, agent_unavailable and position_in_queue automated
messages). With nobody to offer to, every customer waits in the queue: the worst case for the
queue-position step, which reads the waiting rows ahead of the conversation (up to 500) on
every event of a waiting conversation. The simulator knows every customer (profile, open
messaging window) so profile reads and automated sends succeed; its automatic echo, delivery
and read webhooks are off, so the inbound queue holds only the customers' own messages and
"per event" means per customer message.

1. Webhook load with ``wrk`` (C; one thread, 16 connections, 20 s): pre-signed 1-event bodies,
   customer ``i % 5,000`` in turn, unique mids (nothing is dropped as a duplicate): the first
   5,000 requests are the first messages of 5,000 customers, the next 5,000 their second...
   (a) a stack with ``DEVHOST_RUN_TRIGGERS=0`` (the webhook alone; nothing consumes the
   queue); (b) a second stack with triggers on (router, sender and timers in the devhost
   process, 4 sessions at a time per queue function, as ``make run`` runs them).
2. The router after (b). A sampler reads the devhost's counters (``GET /admin/metering``,
   cumulative) and the devhost's and Azurite's CPU time every 0.5 s from the start of (b) and
   through a drain window (``--drain-seconds``, 150 by default) with no more load. (A full
   drain of what (b) enqueues is out of reach in the run's time: the window's rate says how
   long it would take.) Router executions run in queue order, so the k-th one is customer
   k's first message with k-1 conversations already waiting; cut every 100 executions
   (linear interpolation between samples) they give router CPU ms per event
   (``function.cpu_ms`` / ``function.executions`` of ``router``: the CPU time of the thread
   that ran each execution), table transactions and rows read per event, as the queue grows.
3. Controlled points on a third stack (triggers off: the router runs when
   ``POST /admin/functions/router`` drains the queue, on one thread, with the same metering):
   100 first messages at 0 waiting; then waiting conversations added through the product's
   own ``ConversationStore.create`` (what the router writes for a new conversation) up to
   1,000 and 5,000, with 100 first messages measured at each; then follow-ups (a second
   message) of 100 customers at the front of the queue and 100 at the back.
4. In process, on that stack: ``process_inbound`` (envelope validation, archive,
   ``handle_inbound``) over 500 first messages of new customers with 5,000+ waiting, under
   ``py-spy`` (CPU samples; each charged to the first category met walking from the leaf to
   the root: HTTP client, Azure SDK, pydantic, our table (de)serialisation, SQLite, logging,
   product logic...), and 50 more under cProfile for the per-call view. ``py-spy`` also
   samples the devhost's router threads for 10 s of the drain window in 2.

Writes bench/results/router_load.json, .png and .md; about 9 minutes on the 2-core machine.
``py-spy`` is a dev tool, not a requirement: ``.venv/bin/pip install py-spy``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import RESULTS, percentile, write_result
from devhost.processes import free_port
from devhost.stack import LocalStack, StackConfig
from messenger_channel.facebook.signature import sign
from simulator.client import SimulatorClient

CUSTOMERS = 5000
CONNECTIONS = 16
WRK_SECONDS = 20
DRAIN_SECONDS = 150
SLICE = 100  # router executions per slice of the drain
AGENTS = 3
POINT = 100  # events per controlled point
WAITING_POINTS = (1000, 5000)
B_REPEATS = 2  # more runs of (b) after the drain window
PROFILE_ENVELOPES = 500
SAMPLE_SECONDS = 0.5
WEBHOOK = "facebook_webhook"
# The earlier measurement this one is compared with (not in the repo: quoted in the brief of
# this benchmark): 5,000 customers, 16 connections, the router scanning open conversations.
EARLIER = {"triggers_off_rps": 936.0, "triggers_on_rps": 144.0, "triggers_on_p99_ms": 243.0}
SAMPLED = ("function.executions", "function.cpu_ms", "function.wall_ms", "function.failures",
           "table.transactions", "table.rows", "queue.sent", "queue.complete",
           "queue.duplicates", "queue.dead_letter", "graph.calls", "graph.failures",
           "blob.write")
AUTOMATED = {
    "greeting": {"en-US": "Hello! Thanks for writing to us."},
    "agent_unavailable": {"en-US": "All our agents are busy right now; please stay with us."},
    "position_in_queue": {"en-US": "You are number {QueuePosition} in line for {QueueName}."},
}


def new_id() -> str:
    return str(10**14 + secrets.randbelow(9 * 10**14))


def now_ms() -> int:
    return int(time.time() * 1000)


# ------------------------------------------------------------------------------- the stack
class Stack:
    """One local stack, set up through the management API and the simulator."""

    def __init__(self, data: Path, *, triggers: bool) -> None:
        self.key = "bench-management-key-" + "0" * 20
        self.triggers = triggers
        self.config = StackConfig(
            data_dir=data, devhost_port=free_port(), simulator_port=free_port(),
            azurite_ports=None, azurite_in_memory=True, log_dir=data / "logs",
            management_api_key=self.key, demo=False,
            extra_env={"DEVHOST_RUN_TRIGGERS": "1" if triggers else "0"})
        self.stack = LocalStack(self.config)
        self.stack.start()
        devhost = next(child for child in self.stack.children if child.name == "devhost")
        assert devhost.process is not None
        assert self.stack.azurite is not None
        self.devhost_pid = devhost.process.pid
        azurite_process = self.stack.azurite._process  # its pid, for CPU time
        assert azurite_process is not None
        self.azurite_pid = azurite_process.pid
        self.url = self.config.devhost_url
        headers = {"Authorization": f"Bearer {self.key}"}
        self.admin = httpx.Client(base_url=f"{self.url}/admin", headers=headers, timeout=60)
        self.manage = httpx.Client(base_url=f"{self.url}/api/manage", headers=headers,
                                   timeout=60)
        self.simulator = SimulatorClient(self.config.simulator_url)
        self._ticks = os.sysconf("SC_CLK_TCK")

    def set_up(self) -> None:
        app_id, self.secret, token = new_id(), "s" + new_id(), "EAA" + new_id()
        self.app_id = app_id
        self.page_id = new_id()
        self.simulator.put_app(app_id, self.secret)
        # Only the customers' messages reach the inbound queue (see the module's docstring).
        self.simulator.config(auto_echo=False, auto_delivery=False, auto_read=False)
        self.account = self._post("/accounts", {"name": "Router load", "app_id": app_id,
                                                "app_secret": self.secret})["id"]
        self.simulator.put_page(self.page_id, "Router load", app_id=app_id,
                                access_token=token, account_id=self.account)
        page = self._post(f"/accounts/{self.account}/pages",
                          {"page_id": self.page_id, "name": "Router load",
                           "access_token": token})
        assert page["provisioning_state"] == "Running", page
        self.queue = self._post("/queues", {"name": "Support"})
        self.agents = [self._post("/agents", {"name": f"Agent {i}",
                                              "queue_ids": [self.queue["id"]],
                                              "presence": "offline"})["id"]
                       for i in range(AGENTS)]
        self.workstream = self._post("/workstreams", {
            "name": "Router load", "page_id": self.page_id,
            "fallback_queue_id": self.queue["id"], "automated_messages": AUTOMATED})
        self.webhook_path = f"/api/facebook/webhook/{self.account}"

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.manage.post(path, json=body)
        if answer.status_code >= 400:
            raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text}")
        return answer.json()

    def register(self, psids: list[str]) -> None:
        """The simulator's users: profile readable, messaging window open (as if they wrote
        through Messenger), so profile reads and automated sends succeed."""
        opened = now_ms()
        url = f"{self.config.simulator_url}/_sim/users"
        with httpx.Client(timeout=30) as client, ThreadPoolExecutor(8) as pool:
            def put(item: tuple[int, str]) -> None:
                number, psid = item
                client.put(f"{url}/{psid}", json={
                    "page_id": self.page_id, "first_name": f"Cliente{number}",
                    "last_name": "Teste", "locale": "en_US",
                    "last_message_at": opened}).raise_for_status()
            list(pool.map(put, enumerate(psids)))

    def counters(self, *names: str) -> dict[str, float]:
        answer = self.admin.get("/metering", params={"name": list(names)} if names else None)
        answer.raise_for_status()
        counts: dict[str, float] = answer.json()["counters"]
        return counts

    def take(self) -> dict[str, float]:
        answer = self.admin.post("/metering/reset")
        answer.raise_for_status()
        counts: dict[str, float] = answer.json()["counters"]
        return counts

    def cpu_seconds(self, pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._ticks

    def cpu(self) -> dict[str, float]:
        return {"devhost": self.cpu_seconds(self.devhost_pid),
                "azurite": self.cpu_seconds(self.azurite_pid)}

    def drain_router(self) -> dict[str, Any]:
        """Triggers off: the router on every inbound message due now, on one thread."""
        answer = self.admin.post("/functions/router", timeout=900)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def table_store(self) -> Any:
        from messenger_channel.storage.tables import TableStore

        assert self.stack.storage is not None
        return TableStore.from_connection_string(self.stack.storage.connection_string)

    def log_errors(self) -> list[str]:
        """The devhost's logged errors: message, function and the exception's last line."""
        path = self.config.data_dir / "logs" / "devhost.log"
        if not path.exists():
            return []
        found = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict) or record.get("level") not in ("error", "ERROR"):
                continue
            last = (record.get("exception") or "").strip().splitlines()[-1:] or [""]
            found.append(f"{record.get('time')} {record.get('function', '')}: "
                         f"{record.get('message')}: {last[0][:300]}")
        return found[-20:]

    def close(self) -> None:
        self.admin.close()
        self.manage.close()
        self.simulator.close()
        self.stack.stop()


# ------------------------------------------------------------------------------- the bodies
class Bodies:
    """Signed 1-event webhook bodies: customer ``i % n`` in turn, unique mids."""

    def __init__(self, stack: Stack, psids: list[str], run: str) -> None:
        self.stack, self.psids, self.run = stack, psids, run

    def body(self, index: int, number: int, at: int) -> bytes:
        psid = self.psids[index]
        payload = {"object": "page", "entry": [{"id": self.stack.page_id, "time": at,
                   "messaging": [{"sender": {"id": psid},
                                  "recipient": {"id": self.stack.page_id}, "timestamp": at,
                                  "message": {"mid": f"m_{self.run}_{psid}_{number}",
                                              "text": f"Olá, preciso de ajuda ä ({number})"}}]}]}
        return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()

    def rounds(self, count: int, first_number: int = 1) -> list[bytes]:
        """``count`` bodies: round r (0-based) is message ``first_number + r`` of every customer,
        in customer order; a later round has a later event time."""
        base, n = now_ms(), len(self.psids)
        return [self.body(i % n, first_number + i // n, base + i // n) for i in range(count)]


def wrk_script(path: Path, webhook_path: str, bodies: list[bytes], secret: str) -> None:
    """Each pre-signed body once, in turn (wrk cannot sign); one wrk thread keeps the order."""
    with path.open("w") as out:
        out.write("bodies, signatures = {}, {}\n")
        for index, body in enumerate(bodies, 1):
            out.write(f"bodies[{index}] = {json.dumps(body.decode())}\n"
                      f'signatures[{index}] = "{sign(secret, body)}"\n')
        out.write(f"""
local counter = 0
request = function()
  counter = counter + 1
  local i = ((counter - 1) % {len(bodies)}) + 1
  return wrk.format("POST", "{webhook_path}", {{["Content-Type"] = "application/json",
                    ["X-Hub-Signature-256"] = signatures[i]}}, bodies[i])
end
""")


def prepare_wrk(stack: Stack, bodies: list[bytes], work: Path, label: str) -> Path:
    script = work / f"wrk-{label}.lua"
    wrk_script(script, stack.webhook_path, bodies, stack.secret)
    return script


def run_wrk(stack: Stack, script: Path) -> dict[str, Any]:
    output = subprocess.run(
        ["wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{WRK_SECONDS}s", "--timeout", "10s",
         "--latency", "-s", str(script), stack.url],
        capture_output=True, text=True, check=True).stdout
    script.unlink()

    def latency(label: str) -> float:
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        assert found is not None, output
        return round(float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[
            found.group(2)], 2)

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in ([\d.]+)s", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: (.*)", output)
    assert rate is not None, output
    assert total is not None, output
    return {"connections": CONNECTIONS, "seconds": WRK_SECONDS,
            "requests": int(total.group(1)), "requests_per_s": float(rate.group(1)),
            "p50_ms": latency("50"), "p75_ms": latency("75"), "p90_ms": latency("90"),
            "p99_ms": latency("99"), "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": sockets.group(1).strip() if sockets else None,
            "load_generator": "wrk -t 1"}


async def _post_all(url: str, bodies: list[bytes], secret: str) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    pending = iter(bodies)
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        async def worker() -> None:
            for body in pending:
                started = time.perf_counter()
                answer = await client.post(url, content=body, headers={
                    "X-Hub-Signature-256": sign(secret, body),
                    "Content-Type": "application/json"})
                latencies.append(time.perf_counter() - started)
                statuses[answer.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        wall = time.perf_counter() - started
    return {"requests": len(bodies), "seconds": round(wall, 2),
            "requests_per_s": round(len(bodies) / wall, 1) if wall else None,
            "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "load_generator": f"python httpx, {CONNECTIONS} concurrent"}


def post_all(stack: Stack, bodies: list[bytes]) -> dict[str, Any]:
    if not bodies:
        return {"requests": 0}
    return asyncio.run(_post_all(stack.url + stack.webhook_path, bodies, stack.secret))


# ----------------------------------------------------------------------------- the sampler
def _keep(key: str) -> bool:
    return ("{" not in key or "function=router" in key or "function=sender" in key
            or f"function={WEBHOOK}" in key or "{queue=" in key)


class Sampler:
    """The devhost's counters (cumulative, never reset meanwhile) and CPU times, every 0.5 s."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.samples: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.monotonic()

    def take(self) -> dict[str, Any]:
        counts = {k: v for k, v in self.stack.counters(*SAMPLED).items() if _keep(k)}
        sample = {"t": time.monotonic() - self.started, **self.stack.cpu(), "counts": counts}
        self.samples.append(sample)
        return sample

    def _run(self) -> None:
        while not self.stopping.wait(SAMPLE_SECONDS):
            with contextlib.suppress(httpx.HTTPError):
                self.take()

    def start(self) -> Sampler:
        self.take()
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)

    def at_executions(self, target: float, function: str = "router") -> dict[str, Any]:
        """The sample at the moment the function's ``target``-th execution ended, linearly
        interpolated between the two samples around it."""
        key = f"function.executions{{function={function}}}"
        ordered = sorted(self.samples, key=lambda s: s["t"])
        if target <= 0:  # the last moment before the first execution
            return [s for s in ordered if s["counts"].get(key, 0) <= 0][-1]
        previous = ordered[0]
        for sample in ordered:
            if sample["counts"].get(key, 0) >= target:
                low, high = previous["counts"].get(key, 0), sample["counts"].get(key, 0)
                share = 1.0 if high == low else (target - low) / (high - low)
                return interpolate(previous, sample, share)
            previous = sample
        return ordered[-1]


def interpolate(a: Mapping[str, Any], b: Mapping[str, Any], share: float) -> dict[str, Any]:
    keys = set(a["counts"]) | set(b["counts"])
    counts = {k: a["counts"].get(k, 0) + share * (b["counts"].get(k, 0) - a["counts"].get(k, 0))
              for k in keys}
    return {"t": a["t"] + share * (b["t"] - a["t"]),
            **{name: a[name] + share * (b[name] - a[name]) for name in ("devhost", "azurite")},
            "counts": counts}


def between(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    keys = set(a["counts"]) | set(b["counts"])
    return {"seconds": b["t"] - a["t"], "devhost_cpu_s": b["devhost"] - a["devhost"],
            "azurite_cpu_s": b["azurite"] - a["azurite"],
            "counts": {k: b["counts"].get(k, 0) - a["counts"].get(k, 0) for k in keys}}


def inbound_settled(counts: Mapping[str, float], queue: str = "inbound") -> bool:
    sent = counts.get(f"queue.sent{{queue={queue}}}", 0)
    dropped = counts.get(f"queue.duplicates{{queue={queue}}}", 0)
    done = (counts.get(f"queue.complete{{queue={queue}}}", 0)
            + counts.get(f"queue.dead_letter{{queue={queue}}}", 0))
    return sent - dropped <= done


def wait_drained(sampler: Sampler, queues: tuple[str, ...] = ("inbound",),
                 timeout: float = 120.0) -> dict[str, Any]:
    """Until every message sent to ``queues`` is settled and the router's count holds still
    for two samples; returns the sample at the end."""
    deadline = time.monotonic() + timeout
    stable, last = 0, None
    while time.monotonic() < deadline:
        sample = sampler.take()
        runs = sample["counts"].get("function.executions{function=router}", 0)
        if all(inbound_settled(sample["counts"], q) for q in queues) and runs == last:
            stable += 1
            if stable >= 2:
                return sample
        else:
            stable = 0
        last = runs
        time.sleep(SAMPLE_SECONDS)
    raise TimeoutError(f"{queues} not drained within {timeout:g} s")


# --------------------------------------------------------------------------------- figures
def per_event(part: Mapping[str, Any], function: str = "router") -> dict[str, Any]:
    c = part["counts"]
    runs = c.get(f"function.executions{{function={function}}}", 0)
    if not runs:
        return {"events": 0}
    out: dict[str, Any] = {
        "events": round(runs),
        "seconds": round(part["seconds"], 2),
        "events_per_s": round(runs / part["seconds"], 1) if part["seconds"] else None,
        "cpu_ms": round(c.get(f"function.cpu_ms{{function={function}}}", 0) / runs, 2),
        "wall_ms": round(c.get(f"function.wall_ms{{function={function}}}", 0) / runs, 2),
        "table_transactions": round(
            c.get(f"table.transactions{{function={function}}}", 0) / runs, 2),
        "table_rows_read": round(c.get(f"table.rows{{function={function}}}", 0) / runs, 1),
        "graph_calls": round(c.get(f"graph.calls{{function={function}}}", 0) / runs, 2),
        "blob_writes": round(c.get(f"blob.write{{function={function}}}", 0) / runs, 2),
        "queue_sends": round(c.get(f"queue.sent{{function={function}}}", 0) / runs, 2),
        "failures": round(c.get(f"function.failures{{function={function}}}", 0)),
        # Whole processes: the devhost (webhook, router, sender, timers, queue polling) and
        # Azurite (Node), per routed event over the same interval.
        "devhost_process_cpu_ms": round(part["devhost_cpu_s"] * 1000 / runs, 2),
        "azurite_process_cpu_ms": round(part["azurite_cpu_s"] * 1000 / runs, 2),
    }
    by_table: dict[str, dict[str, float]] = defaultdict(dict)
    for key, value in c.items():
        name, _, labels = key.partition("{")
        if name not in ("table.transactions", "table.rows") or f",function={function}}}" \
                not in labels:
            continue
        table = labels.split(",")[0].removeprefix("table=")
        if "=" in table:
            continue
        if value:
            by_table[table]["transactions" if name == "table.transactions" else "rows"] = \
                round(value / runs, 2)
    out["by_table"] = dict(sorted(by_table.items(),
                                  key=lambda kv: -kv[1].get("transactions", 0)))
    return out


def slices(sampler: Sampler, routed: float,
           wrk_window: tuple[float, float]) -> list[dict[str, Any]]:
    """Per ``SLICE`` router executions in queue order: the first messages of customers
    k+1..k+SLICE, with k conversations already waiting."""
    out = []
    for low in range(0, int(routed) - SLICE + 1, SLICE):
        high = low + SLICE
        start, end = sampler.at_executions(low), sampler.at_executions(high)
        span = end["t"] - start["t"]
        overlap = max(0.0, min(end["t"], wrk_window[1]) - max(start["t"], wrk_window[0]))
        out.append({"customers": f"{low + 1}-{high}", "waiting_before": low,
                    "waiting_mid": (low + high) / 2,
                    "position_rows_expected": round(sum(min(k, 499) for k in range(low, high))
                                                    / SLICE, 1),
                    "under_wrk_share": round(overlap / span, 2) if span else 0.0,
                    **per_event(between(start, end))})
    return out


def point(stack: Stack, bodies: list[bytes], waiting_before: int, label: str) -> dict[str, Any]:
    """Triggers off: post ``bodies``, then drain the router on one thread; its counts."""
    post = post_all(stack, bodies)
    stack.take()
    cpu, started = stack.cpu(), time.monotonic()
    drained = stack.drain_router()
    seconds, after = time.monotonic() - started, stack.cpu()
    counts = stack.take()
    part = {"seconds": seconds, "devhost_cpu_s": after["devhost"] - cpu["devhost"],
            "azurite_cpu_s": after["azurite"] - cpu["azurite"], "counts": counts}
    figures = per_event(part)
    print(f"    {label}: {figures.get('cpu_ms')} ms CPU, {figures.get('table_transactions')} "
          f"tx, {figures.get('table_rows_read')} rows per event", flush=True)
    return {"point": label, "waiting_before": waiting_before, "posting": post,
            "drain": drained, **figures}


def seed_waiting(stack: Stack, first: int, count: int) -> dict[str, Any]:
    """``count`` more waiting conversations in the queue, written by the product's own
    ``ConversationStore.create`` (conversation, index rows, due row), arriving now."""
    from messenger_channel.clock import system_clock
    from messenger_channel.conversations.models import Conversation
    from messenger_channel.conversations.store import ConversationStore

    store = ConversationStore(stack.table_store(), system_clock)

    def one(index: int) -> None:
        at = datetime.now(UTC)
        psid = str(9_000_000_000_000 + index)
        store.create(Conversation(
            id=f"cv_seed{index:07d}", page_id=stack.page_id, psid=psid,
            contact_id=f"ct_seed{index:07d}", workstream_id=stack.workstream["id"],
            state="waiting", locale="en-US", queue_id=stack.queue["id"],
            first_text="Seeded", opened_by=f"seed-{index}", waiting_since=at,
            last_customer_message_at=at, last_activity_at=at, unread=1,
            customer_name=f"Seeded {index}", created_at=at, updated_at=at),
            due_at=at + timedelta(days=1))

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(first, first + count)))
    return {"seeded": count, "seconds": round(time.monotonic() - started, 1)}


def count_queue_rows(stack: Stack) -> dict[str, int]:
    from messenger_channel.conversations.indexes import ByQueue, ConversationEntry

    table = stack.table_store().table(ByQueue, ConversationEntry)
    states: Counter[str] = Counter()
    cursor = None
    while True:
        page = table.query("PartitionKey eq @pk", {"pk": stack.queue["id"]}, page_size=1000,
                           continuation=cursor)
        states.update(row.state for row in page.items)
        if page.next is None:
            return dict(states)
        cursor = page.next


# ---------------------------------------------------------------------------------- py-spy
CATEGORIES: list[tuple[str, Callable[[str, str], bool]]] = [
    ("HTTP client and sockets (requests, urllib3, http.client, httpx)",
     lambda f, fn: any(s in f for s in ("/http/client.py", "/socket.py", "/ssl.py",
                                        "/selectors.py", "/urllib3/", "/requests/",
                                        "/httpcore/", "/httpx/", "/h11/", "/email/",
                                        "/azure/core/pipeline/transport/"))),
    ("Azure Tables SDK (entity (de)serialisation, request building)",
     lambda f, fn: "/azure/data/tables/" in f),
    ("Azure Blob SDK", lambda f, fn: "/azure/storage/blob/" in f),
    ("Azure core pipeline (policies, retries, headers)", lambda f, fn: "/azure/core/" in f),
    ("pydantic (validation, model_dump, model_copy)",
     lambda f, fn: "/pydantic/" in f or "pydantic_core" in f),
    ("our table (de)serialisation (storage/tables.py: to/from properties)",
     lambda f, fn: f.endswith("messenger_channel/storage/tables.py") and fn in (
         "to_properties", "from_properties", "_scalar", "_utc", "_plain_utc",
         "entity_size", "_utf16_units", "check_key", "_describe", "_filter_parameters",
         "_storage_plan", "_storage_of", "<dictcomp>", "<listcomp>", "<genexpr>")),
    ("local queue (SQLite)", lambda f, fn: "/bus/local.py" in f or "/sqlite3/" in f),
    ("logging", lambda f, fn: "/logging/" in f or f.endswith("messenger_channel/logs.py")),
    ("metering", lambda f, fn: f.endswith("messenger_channel/metering.py")),
    ("our storage layer (tables.py, blobs.py: calls, ETags, paging)",
     lambda f, fn: "/messenger_channel/storage/" in f),
    ("product logic (messenger_channel)", lambda f, fn: "/messenger_channel/" in f),
]
DESTINATIONS = [("Azurite tables", "/azure/data/tables/"), ("Azurite blobs", "/azure/storage/"),
                ("simulator Graph (httpx)", "/messenger_channel/facebook/graph")]
_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def parse_frame(frame: str) -> tuple[str, str]:
    found = _FRAME.match(frame.strip())
    return (found.group("fn"), found.group("file")) if found else (frame.strip(), "")


def categorise(raw: Path, must_contain: str | None = None) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks: each sample to the first category found walking from
    the leaf toward the root; plus where its HTTP goes, and the hottest leaf functions."""
    by_category: Counter[str] = Counter()
    by_destination: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or (must_contain and must_contain not in stack):
            continue
        count = int(count_text)
        frames = [parse_frame(f) for f in stack.split(";")]
        total += count
        category = "other (stdlib, interpreter)"
        for fn, file in reversed(frames):
            found = next((name for name, rule in CATEGORIES if rule(file, fn)), None)
            if found is not None:
                category = found
                break
        by_category[category] += count
        if category.startswith(("HTTP", "Azure")):
            files = " ".join(file for _, file in frames)
            where = next((name for name, marker in DESTINATIONS if marker in files), "other")
            by_destination[where] += count
        fn, file = frames[-1]
        leaves[f"{fn} ({Path(file).parent.name}/{Path(file).name})"] += count
        seen = set()
        for fn, file in frames:
            if "/messenger_channel/" in file and (fn, file) not in seen:
                seen.add((fn, file))
                inclusive[f"{fn} ({file.split('/messenger_channel/')[-1]})"] += count

    def shares(counter: Counter[str], top: int | None = None) -> dict[str, float]:
        return {k: round(100 * v / total, 1) for k, v in counter.most_common(top)} if total \
            else {}

    return {"samples": total, "percent_by_category": shares(by_category),
            "percent_http_by_destination": shares(by_destination),
            "top_leaf_functions_percent": shares(leaves, 15),
            "our_functions_inclusive_percent": shares(inclusive, 25)}


class PySpy:
    def __init__(self, pid: int, output: Path, *, duration: float | None = None,
                 rate: int = 200) -> None:
        self.output = output
        self.binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        argv = [self.binary, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                "--output", str(output), "--full-filenames", "--nonblocking",
                "--gil"]  # only threads holding the GIL: Python's CPU, not waits
        if duration is not None:
            argv += ["--duration", str(int(duration))]
        self.process: subprocess.Popen[bytes] | None = None
        if Path(self.binary).exists():
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE)
            time.sleep(1.0)  # attached

    def stop(self, wait_only: bool = False) -> bool:
        if self.process is None:
            return False
        if not wait_only and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return False
        return self.output.exists()


# --------------------------------------------------------------------- the in-process run
def in_process(stack: Stack, psids: list[str], work: Path) -> dict[str, Any]:
    """``process_inbound`` on 500 envelopes made as the webhook makes them, in this process,
    against the stack's Azurite, simulator and page (its outbound queue apart)."""
    assert stack.stack.storage is not None
    os.environ.update(stack.stack.app_environment(stack.stack.storage))
    from messenger_channel import metering
    from messenger_channel.bus.local import LocalQueue
    from messenger_channel.clock import system_clock
    from messenger_channel.conversations.inbound import process_inbound
    from messenger_channel.facebook.graph import GraphClient
    from messenger_channel.facebook.webhook_events import decode_webhook, split_webhook
    from messenger_channel.queue_messages import envelope_json
    from messenger_channel.secrets import LocalSecretStore
    from messenger_channel.services import Services
    from messenger_channel.settings import get_settings
    from messenger_channel.storage.blobs import BlobStore
    from messenger_channel.storage.tables import TableStore

    settings = get_settings()
    services = Services(settings=settings, clock=system_clock,
                        tables=TableStore.from_settings(settings),
                        blobs=BlobStore.from_settings(settings),
                        queue=LocalQueue(work / "in-process-queue.sqlite", system_clock),
                        secrets=LocalSecretStore(stack.config.data_dir / "secrets.json"),
                        graph=GraphClient(settings.facebook_graph_url))
    bodies = Bodies(stack, psids, "inproc")
    received = datetime.now(UTC).isoformat()

    def envelopes(first: int, count: int) -> list[bytes]:
        out = []
        for index in range(first, first + count):
            raw = split_webhook(decode_webhook(bodies.body(index, 1, now_ms())))
            assert raw is not None
            out += [envelope_json(stack.account, stack.app_id, received, event)
                    for event in raw.events]
        return out

    warm = envelopes(0, 10)
    for body in warm:
        process_inbound(services, body)
    # Plain timing first (no profiler), then py-spy, then cProfile, on fresh customers each.
    plain, spied_bodies = envelopes(10, 50), envelopes(60, PROFILE_ENVELOPES)
    cpu, wall = time.process_time(), time.perf_counter()
    for body in plain:
        process_inbound(services, body)
    plain_cpu_ms = (time.process_time() - cpu) * 1000 / len(plain)
    plain_wall_ms = (time.perf_counter() - wall) * 1000 / len(plain)
    spy = PySpy(os.getpid(), work / "inproc.raw", rate=250)
    before = metering.snapshot()
    cpu, wall = time.process_time(), time.perf_counter()
    for body in spied_bodies:
        process_inbound(services, body)
    spied_cpu_ms = (time.process_time() - cpu) * 1000 / len(spied_bodies)
    spied_wall_ms = (time.perf_counter() - wall) * 1000 / len(spied_bodies)
    used = metering.difference(before, metering.snapshot())
    sampled = spy.stop()
    result: dict[str, Any] = {
        "envelopes": len(spied_bodies), "kind": "first messages of new customers",
        "waiting_in_queue_before": None,
        "cpu_ms_per_envelope_unprofiled": round(plain_cpu_ms, 2),
        "wall_ms_per_envelope_unprofiled": round(plain_wall_ms, 2),
        "cpu_ms_per_envelope_under_py_spy": round(spied_cpu_ms, 2),
        "wall_ms_per_envelope_under_py_spy": round(spied_wall_ms, 2),
        "table_transactions_per_envelope": round(
            used.get("table.transactions", 0) / len(spied_bodies), 2),
        "table_rows_per_envelope": round(used.get("table.rows", 0) / len(spied_bodies), 1),
    }
    if sampled:
        result["py_spy"] = categorise(work / "inproc.raw", "process_inbound")
    # cProfile on 50 more: the per-call view of the same code (its overhead inflates it).
    profiled = envelopes(60 + PROFILE_ENVELOPES, 50)
    profile = cProfile.Profile()
    profile.enable()
    for body in profiled:
        process_inbound(services, body)
    profile.disable()
    stats = pstats.Stats(profile)
    rows = []
    for (file, _, fn), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "messenger_channel" in file or "pydantic" in file or "azure" in file:
            rows.append((cumtime, fn, file.split("site-packages/")[-1].split("/work/main/")[-1],
                         calls, tottime))
    rows.sort(reverse=True)
    result["cprofile_top_cumulative_ms_per_envelope"] = [
        {"function": f"{fn} ({file})", "calls_per_envelope": round(calls / len(profiled), 1),
         "cum_ms": round(cum * 1000 / len(profiled), 2),
         "self_ms": round(tot * 1000 / len(profiled), 2)}
        for cum, fn, file, calls, tot in rows[:30]]
    return result


# -------------------------------------------------------------------------------- the runs
def code_version() -> dict[str, Any]:
    """The commit, and whether the product's code differs from it (others edit this tree)."""
    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent.parent).stdout.strip()

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "product_code_changed_since": git("diff", "--stat", "HEAD", "--", "messenger_channel",
                                              "functions", "devhost", "function_app.py")}


def busy_processes(exclude: set[int]) -> list[str]:
    output = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"],
                            capture_output=True, text=True).stdout.splitlines()[1:]
    busy = []
    for line in output:
        parts = line.split(None, 2)
        if len(parts) == 3 and int(parts[0]) not in exclude and float(parts[1]) >= 10:
            busy.append(f"{parts[1]}% {parts[2][:80]}")
    return busy[:6]


def webhook_alone(work: Path) -> dict[str, Any]:
    """(a): triggers off, nothing consumes the queue."""
    stack = Stack(work / "a", triggers=False)
    try:
        stack.set_up()
        psids = [str(6_000_000_000_000 + i) for i in range(CUSTOMERS)]
        post_all(stack, Bodies(stack, [new_id() for _ in range(50)], "warm").rounds(50))
        script = prepare_wrk(stack, Bodies(stack, psids, "a").rounds(CUSTOMERS * 6), work, "a")
        stack.take()
        cpu = stack.cpu()
        result = run_wrk(stack, script)
        used, after = stack.take(), stack.cpu()
        taken = used.get(f"function.executions{{function={WEBHOOK}}}", 0)
        result["webhook_executions"] = round(taken)
        result["queue_sent"] = round(used.get("queue.sent{queue=inbound}", 0))
        result["queue_duplicates"] = round(used.get("queue.duplicates{queue=inbound}", 0))
        result["router_executions"] = round(used.get("function.executions{function=router}", 0))
        result["devhost_cpu_ms_per_request"] = round(
            (after["devhost"] - cpu["devhost"]) * 1000 / max(1, taken), 3)
        return result
    finally:
        stack.close()


def rates(sampler: Sampler, start: Mapping[str, Any], stop: Mapping[str, Any],
          skip: float = 3.0) -> dict[str, Any]:
    """Webhook executions and router executions over a wrk run; and the webhook's rate once
    ``skip`` s have passed (the router may start idle: the first seconds are the webhook's)."""
    webhook, router = f"function.executions{{function={WEBHOOK}}}", \
        "function.executions{function=router}"
    seconds = stop["t"] - start["t"]
    later = next((s for s in sorted(sampler.samples, key=lambda s: s["t"])
                  if s["t"] >= start["t"] + skip), stop)
    tail = stop["t"] - later["t"]
    return {
        "webhook_executions": round(stop["counts"].get(webhook, 0)
                                    - start["counts"].get(webhook, 0)),
        "routed_meanwhile": round(stop["counts"].get(router, 0) - start["counts"].get(router, 0)),
        "routed_per_s_meanwhile": round((stop["counts"].get(router, 0)
                                         - start["counts"].get(router, 0)) / seconds, 2),
        f"webhook_per_s_after_{skip:g}s": round(
            (stop["counts"].get(webhook, 0) - later["counts"].get(webhook, 0)) / tail, 1)
        if tail > 0 else None,
    }


def under_load(work: Path, drain_seconds: float) -> dict[str, Any]:
    """(b) and the drain window after it: triggers on."""
    stack = Stack(work / "b", triggers=True)
    try:
        stack.set_up()
        psids = [str(7_000_000_000_000 + i) for i in range(CUSTOMERS)]
        stack.register(psids)
        # Warm-up without opening conversations: read receipts of unknown customers.
        warm = [json.dumps({"object": "page", "entry": [{
            "id": stack.page_id, "time": now_ms(), "messaging": [{
                "sender": {"id": new_id()}, "recipient": {"id": stack.page_id},
                "timestamp": now_ms(), "read": {"watermark": now_ms()}}]}]}).encode()
            for _ in range(50)]
        post_all(stack, warm)
        wait_drained(Sampler(stack))
        script = prepare_wrk(stack, Bodies(stack, psids, "b").rounds(CUSTOMERS * 4), work, "b")
        # The repeats after the drain window: 5,000 other customers each, first messages.
        repeats = [prepare_wrk(stack, Bodies(stack, [str(7_000_000_000_000 + 10**6 * r + i)
                                                     for i in range(CUSTOMERS)],
                                             f"b{r}").rounds(CUSTOMERS * 4), work, f"b{r}")
                   for r in range(2, 2 + B_REPEATS)]
        stack.take()
        sampler = Sampler(stack).start()
        print("(b) webhook with the router in process, triggers on", flush=True)
        b_start = sampler.take()
        b = run_wrk(stack, script)
        b_end = sampler.take()
        router = "function.executions{function=router}"
        print(f"    {b['requests_per_s']} req/s, p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms, "
              f"non-2xx {b['non_2xx']}; routed meanwhile {b_end['counts'].get(router, 0):.0f}",
              flush=True)
        print(f"    drain window: {drain_seconds:g} s", flush=True)
        spy = PySpy(stack.devhost_pid, work / "devhost.raw", duration=10, rate=100)
        deadline = time.monotonic() + drain_seconds
        drained = None
        while time.monotonic() < deadline:
            sample = sampler.take()
            if inbound_settled(sample["counts"]):
                drained = sample
                break
            time.sleep(SAMPLE_SECONDS)
        spied = spy.stop(wait_only=True)
        end = drained or sampler.take()
        # (b) again, with the router busy from the first request (no head start).
        again: list[dict[str, Any]] = []
        windows = [(round(b_start["t"], 2), round(b_end["t"], 2))]
        for number, repeat in enumerate(repeats, 2):
            start = sampler.take()
            run = run_wrk(stack, repeat)
            stop = sampler.take()
            again.append({"run": f"b{number}", **run, **rates(sampler, start, stop)})
            windows.append((round(start["t"], 2), round(stop["t"], 2)))
            print(f"    (b{number}) {run['requests_per_s']} req/s, p50 {run['p50_ms']} ms, "
                  f"p99 {run['p99_ms']} ms, non-2xx {run['non_2xx']}", flush=True)
        sampler.stop()
        c = end["counts"]
        accepted = (c.get(f"function.executions{{function={WEBHOOK}}}", 0)
                    - c.get("queue.duplicates{queue=inbound}", 0))
        routed = c.get(router, 0)
        window = between(b_end, end)
        drain = per_event(window)
        rows = slices(sampler, routed, (b_start["t"], b_end["t"]))
        tail = [row for row in rows if row["waiting_before"] >= 500] or rows[-2:]
        tail_rate = (sum(row["events"] for row in tail)
                     / max(1e-9, sum(row["seconds"] for row in tail)))
        backlog = accepted - routed
        final = stack.counters("function.failures", "queue.dead_letter", "graph.failures")
        result: dict[str, Any] = {
            "b_triggers_on": {**b, **rates(sampler, b_start, b_end)},
            "b_repeats_after_drain_window": again,
            "wrk_windows": windows,
            "routed_during_b": round(b_end["counts"].get(router, 0)),
            "routed_per_s_during_b": round(b_end["counts"].get(router, 0)
                                           / (b_end["t"] - b_start["t"]), 2),
            "events_accepted": round(accepted),
            "drain_window_s": drain_seconds,
            "drained": drained is not None,
            "routed_by_end_of_window": round(routed),
            "backlog_at_end": round(backlog),
            "routed_per_s_at_500_plus_waiting": round(tail_rate, 2),
            "projected_drain_s": round(backlog / tail_rate) if tail_rate else None,
            "router_in_window": drain,
            "sender_b_and_window": per_event(between(b_start, end), "sender"),
            "slices": rows,
            "timeline": [{"t": round(s["t"], 2), "router": s["counts"].get(router, 0),
                          "webhook": s["counts"].get(f"function.executions{{function={WEBHOOK}}}",
                                                     0),
                          "router_cpu_ms": round(s["counts"].get(
                              "function.cpu_ms{function=router}", 0)),
                          "devhost_cpu_s": round(s["devhost"], 2),
                          "azurite_cpu_s": round(s["azurite"], 2)}
                         for s in sorted(sampler.samples, key=lambda s: s["t"])],
            "checks": {"router_failures": final.get("function.failures{function=router}", 0),
                       "sender_failures": final.get("function.failures{function=sender}", 0),
                       "dead_letters": final.get("queue.dead_letter", 0),
                       "graph_failures": final.get("graph.failures", 0),
                       "devhost_log_errors": stack.log_errors()},
        }
        if spied:
            result["devhost_py_spy"] = categorise(work / "devhost.raw", "process_inbound")
        print(f"    routed {routed:.0f} of {accepted:.0f}; {drain.get('events_per_s')} events/s "
              f"in the window, {drain.get('cpu_ms')} ms router CPU per event", flush=True)
        return result
    finally:
        stack.close()


def controlled(work: Path, profile: bool) -> dict[str, Any]:
    """The router's cost at 0, 1,000 and 5,000 waiting; follow-ups; the in-process profile."""
    stack = Stack(work / "c", triggers=False)
    try:
        stack.set_up()
        front = [str(7_100_000_000_000 + i) for i in range(POINT)]
        later = {w: [str(7_200_000_000_000 + w * 10 + i) for i in range(POINT)]
                 for w in WAITING_POINTS}
        extra = [str(8_000_000_000_000 + i) for i in range(PROFILE_ENVELOPES + 120)]
        stack.register(front + [p for ps in later.values() for p in ps] + extra)
        post_all(stack, Bodies(stack, [new_id() for _ in range(10)], "warm").rounds(10))
        stack.drain_router()
        waiting = 10
        points = [point(stack, Bodies(stack, front, "c").rounds(POINT), waiting,
                        "first messages, front of the queue")]
        waiting += POINT
        seeding = []
        for target in WAITING_POINTS:
            seeding.append({"to": target, **seed_waiting(stack, waiting, target - waiting)})
            waiting = target
            points.append(point(stack, Bodies(stack, later[target], "c").rounds(POINT), waiting,
                                f"first messages, {target:,} waiting"))
            waiting += POINT
        points.append(point(stack, Bodies(stack, front, "c").rounds(POINT, 2), 10,
                            "follow-ups, front of the queue (positions 11-110)"))
        back = later[WAITING_POINTS[-1]]
        points.append(point(stack, Bodies(stack, back, "c").rounds(POINT, 2),
                            WAITING_POINTS[-1], f"follow-ups, {WAITING_POINTS[-1]:,}+ ahead"))
        result: dict[str, Any] = {"points": points, "seeding": seeding,
                                  "queue_rows_by_state": count_queue_rows(stack)}
        if profile:
            print("in-process profile of process_inbound", flush=True)
            profiled = in_process(stack, extra, work)
            profiled["waiting_in_queue_before"] = result["queue_rows_by_state"].get("waiting")
            result["in_process"] = profiled
        final = stack.counters("function.failures", "queue.dead_letter")
        result["checks"] = {"router_failures": final.get("function.failures{function=router}", 0),
                            "dead_letters": final.get("queue.dead_letter", 0),
                            "devhost_log_errors": stack.log_errors()}
        return result
    finally:
        stack.close()


# ----------------------------------------------------------------------------------- plot
def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ((cpu_axis, tx_axis), (rps_axis, time_axis)) = plt.subplots(2, 2, figsize=(15, 11))
    ticks = [0, 250, 500, 1000, 2000, 5000]

    def below(axis: Any, *legend: Any) -> None:
        axis.legend(*legend, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    load = result["under_load"]
    rows = load["slices"]
    points = result["controlled"]["points"]
    firsts = [p for p in points if p["point"].startswith("first")]
    follows = [p for p in points if p["point"].startswith("follow")]

    def mid(p: Mapping[str, Any]) -> float:
        return float(p["waiting_before"] + POINT / 2)

    x = [row["waiting_mid"] for row in rows]
    cpu_axis.plot(x, [row["cpu_ms"] for row in rows], marker=".",
                  label="router thread, first messages (drain after (b), 4 threads)")
    cpu_axis.plot(x, [row["azurite_process_cpu_ms"] for row in rows], linestyle=":",
                  color="tab:green", label="Azurite process, per routed event (same slices)")
    cpu_axis.plot([mid(p) for p in firsts], [p["cpu_ms"] for p in firsts], "s",
                  color="tab:red", label="router, first messages (controlled, 1 thread)")
    cpu_axis.plot([mid(p) for p in follows], [p["cpu_ms"] for p in follows], "D",
                  color="tab:purple", label="router, follow-ups (controlled)")
    cpu_axis.axvline(500, color="grey", linewidth=0.8, linestyle="--")
    cpu_axis.annotate("position read cap (500)", (500, 0), fontsize=7, rotation=90,
                      textcoords="offset points", xytext=(3, 5))
    cpu_axis.set_xscale("symlog", linthresh=1000)
    cpu_axis.set_xticks(ticks, [f"{t:,}" for t in ticks])
    cpu_axis.set_xlim(-50, 6000)
    cpu_axis.set_xlabel("conversations already waiting in the queue (linear to 1,000, then log)")
    cpu_axis.set_ylabel("CPU ms per event")
    cpu_axis.set_ylim(bottom=0)
    cpu_axis.set_title("CPU per event as the queue grows")
    below(cpu_axis)
    tx_axis.plot(x, [row["table_transactions"] for row in rows], marker=".",
                 label="transactions, first messages (drain)")
    tx_axis.plot([mid(p) for p in firsts], [p["table_transactions"] for p in firsts], "s",
                 color="tab:red", label="transactions, first messages (controlled)")
    tx_axis.plot([mid(p) for p in follows], [p["table_transactions"] for p in follows], "D",
                 color="tab:purple", label="transactions, follow-ups (controlled)")
    tx_axis.set_xscale("symlog", linthresh=1000)
    tx_axis.set_xticks(ticks, [f"{t:,}" for t in ticks])
    tx_axis.set_xlim(-50, 6000)
    tx_axis.set_xlabel("conversations already waiting in the queue (linear to 1,000, then log)")
    tx_axis.set_ylabel("table transactions per event")
    tx_axis.set_ylim(bottom=0, top=max(60.0, 1.2 * max(
        [row["table_transactions"] for row in rows] + [p["table_transactions"] for p in points])))
    rows_axis = tx_axis.twinx()
    rows_axis.plot(x, [row["table_rows_read"] for row in rows], color="tab:orange",
                   linestyle="--", label="rows read (query results), first messages")
    rows_axis.plot([mid(p) for p in points], [p["table_rows_read"] for p in points], "x",
                   color="tab:orange", label="rows read, controlled points")
    rows_axis.set_ylabel("table rows read per event", color="tab:orange")
    rows_axis.set_ylim(bottom=0)
    handles = [h for axis in (tx_axis, rows_axis) for h in axis.get_legend_handles_labels()[0]]
    labels = [t for axis in (tx_axis, rows_axis) for t in axis.get_legend_handles_labels()[1]]
    below(tx_axis, handles, labels)
    tx_axis.set_title("Router table work per event")
    a, b = result["webhook_alone"], load["b_triggers_on"]
    runs = [("(a) off", a), ("(b) on", b)] + [
        (f"({r['run']}) on", r) for r in load.get("b_repeats_after_drain_window", [])]
    positions = list(range(len(runs)))
    rps_axis.bar([-0.2, 0.8], [EARLIER["triggers_off_rps"], EARLIER["triggers_on_rps"]], 0.4,
                 color="lightgrey", label="earlier, wrk average (scans)")
    bars = rps_axis.bar([p + 0.2 if p < 2 else p for p in positions],
                        [run["requests_per_s"] for _, run in runs], 0.4, color="tab:blue",
                        label="now, wrk average over 20 s")
    for bar, (_, run) in zip(bars, runs, strict=True):
        rps_axis.annotate(f"{run['requests_per_s']:.0f}/s\np50 {run['p50_ms']:.0f} ms\n"
                          f"p99 {run['p99_ms']:.0f} ms",
                          (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom", fontsize=7)
    steady = [(p + 0.2 if p < 2 else p, run.get("webhook_per_s_after_3s"))
              for p, (_, run) in zip(positions, runs, strict=True) if p >= 1]
    rps_axis.plot([x for x, _ in steady], [y for _, y in steady], "v", color="black",
                  label="now, webhook rate after the first 3 s (router busy)")
    rps_axis.set_xticks(positions, [name for name, _ in runs])
    rps_axis.set_ylabel("acknowledged webhooks per second")
    rps_axis.set_ylim(top=1.3 * max([EARLIER["triggers_off_rps"]]
                                    + [run["requests_per_s"] for _, run in runs]))
    rps_axis.set_title(f"Webhook, wrk {CONNECTIONS} connections, {CUSTOMERS:,} customers")
    below(rps_axis)
    timeline = load["timeline"]
    times = [row["t"] for row in timeline]
    for key, color, label, axis in (("webhook", "tab:blue", "webhook acks/s", time_axis),
                                    ("router", "tab:orange", "router events routed/s",
                                     time_axis.twinx())):
        rate = []  # over the last 5 s: the counters move in steps
        for i, row in enumerate(timeline):
            j = max([k for k in range(i) if times[k] <= times[i] - 5.0] or [0])
            rate.append((row[key] - timeline[j][key]) / max(1e-9, times[i] - times[j]))
        axis.plot(times, rate, color=color, linewidth=0.8, label=label)
        axis.set_ylabel(label, color=color)
        axis.set_ylim(bottom=0)
    for window in load.get("wrk_windows", []):
        time_axis.axvspan(window[0], window[1], color="grey", alpha=0.15)
    time_axis.set_xlabel("seconds since (b) started (grey: wrk running)")
    time_axis.set_title("Stack (b): webhook acks/s and router routed/s (5-s windows)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


# ---------------------------------------------------------------------------------- report
def _row(name: str, r: Mapping[str, Any]) -> str:
    return (f"| {name} | {r.get('events')} | {r.get('events_per_s')} | {r.get('cpu_ms')} | "
            f"{r.get('wall_ms')} | {r.get('table_transactions')} | {r.get('table_rows_read')} | "
            f"{r.get('devhost_process_cpu_ms')} | {r.get('azurite_process_cpu_ms')} |")


SHORT = {name: short for (name, _), short in zip(CATEGORIES, (
    "HTTP client and sockets", "Azure Tables SDK (entity (de)serialisation)", "Azure Blob SDK",
    "Azure core pipeline", "pydantic", "our table (de)serialisation", "local queue (SQLite)",
    "logging", "metering", "our storage layer", "product logic"), strict=True)}


NOTES = """\
## Notes from the runs of 2026-12-04 (written by hand after them)

- **The triggers-on figure is not stable from run to run.** The devhost is one Python process:
  the webhook's event loop, 4 router threads and 4 sender threads share one GIL, about one
  core. A routed first message costs the process ~270 ms CPU (router ~170 ms; the sender
  3 x 27 ms and 3 x 13 table transactions for the 3 automated messages; queue polling), as
  much as ~450 webhook requests (0.6 ms each),
  so how the GIL is handed round decides the split. Three full runs at the same settings gave
  (b) = 64 req/s (partly on the previous commit), 375 req/s (same commit as this file: 1,647
  requests in the first 2 s before the router's first executions ended, then ~315 req/s, in
  phases of ~90 and ~440 req/s) and 86 req/s (this file; 61 and 73 in the repeats). The
  router's rate barely moved (2.5-4 events/s) in all of them.
- **A failure under load, in the storage layer (not this benchmark).** In the 375 req/s run the
  router failed once: `AttributeError: '_SansIOHTTPPolicyRunner' object has no attribute
  'next'` (message abandoned and redelivered: nothing lost); in the first run the `distribute`
  timer and the sender failed in the same millisecond (the same race, by the look of it: only
  the first line of their tracebacks was kept). Cause: `TableStore.table()`
  (`messenger_channel/storage/tables.py`) calls `TableServiceClient.get_table_client()` on every
  call, and that builds a new azure-core `Pipeline` from the service client's *shared* policy
  list; `Pipeline.__init__` (azure-core 1.41.0, `pipeline/_base.py`) re-links each shared
  `HTTPPolicy`'s `.next` to the new pipeline's fresh `_SansIOHTTPPolicyRunner` before that
  runner has a `.next` of its own. A request passing through the shared policy on another
  thread at that instant fails. The router asks for a table about 50 times per first message
  (`ConversationTables`, `ConversationIndexes`, `ConversationStore`, `Distributor` made per
  event; cProfile: 2,500 `get_table_client` calls for 50 envelopes), from 4 router threads, 4
  sender threads and the timers. A `TableClient` kept per table name in `TableStore` would end
  the race and its ~5% of the router's CPU.
- **What the position step spends.** Counting the line reads up to 499 whole
  `ConversationEntry` rows (25-odd properties, several datetimes each): every row is decoded by
  the Azure SDK (`_convert_to_entity`, `strptime` per datetime: ~12% of all CPU in `_strptime`
  alone), then by `from_properties` and pydantic, to be counted and dropped; 0.16 ms per row.
  A projection (`select` of the keys and `state`) or a count kept elsewhere would remove most of
  the 60%.
- **Per-request overhead.** A first message is 44 table requests (a follow-up 18), each through
  azure-core's policies and `requests` (its proxy lookup from the environment on every request:
  `getproxies_environment` ~1%; a new retry policy per `TableClient`: `RetryPolicyBase.__init__`
  ~1.6%). The 6 entity-group transactions of a first message come back as multipart responses
  that `email.feedparser` parses with a regex compiled per response boundary (12
  `re.compile` calls per first message, never cached): ~4.5% of the CPU (`re/_parser.py`).
- Product code changed during the first full run (commit dd4d774, "a waiting customer's later
  messages do not recount the line"); that run was discarded. This file's numbers are all at
  6f4137e, whose product code is dd4d774's.
"""


def findings(result: dict[str, Any]) -> list[str]:
    """The headline numbers, read from the result."""
    a, load, control = result["webhook_alone"], result["under_load"], result["controlled"]
    points = {p["point"]: p for p in control["points"]}
    firsts = [p for p in control["points"] if p["point"].startswith("first")]
    follows = [p for p in control["points"] if p["point"].startswith("follow")]
    front, last = firsts[0], firsts[-1]
    plateau = firsts[1:]
    per_row = ((plateau[0]["cpu_ms"] - front["cpu_ms"])
               / max(1.0, plateau[0]["table_rows_read"] - front["table_rows_read"]))
    on = [load["b_triggers_on"], *load.get("b_repeats_after_drain_window", [])]
    routed = load["routed_per_s_at_500_plus_waiting"]
    out = ["## Findings", "",
           f"- Webhook alone (triggers off): {a['requests_per_s']:.0f} req/s, p99 "
           f"{a['p99_ms']} ms (earlier {EARLIER['triggers_off_rps']:.0f}). With the router "
           "consuming in the same process: " + ", ".join(
               f"{run['requests_per_s']:.0f} req/s (p99 {run['p99_ms']:.0f} ms)" for run in on)
           + f" over the {len(on)} runs of 20 s (earlier {EARLIER['triggers_on_rps']:.0f}, "
           f"p99 {EARLIER['triggers_on_p99_ms']:.0f} ms).",
           f"- The router routes {routed} events/s with 500+ conversations waiting (4 threads, "
           f"the devhost process; {last['events_per_s']}/s on one thread, nothing else "
           f"running). The webhook alone acknowledges {a['requests_per_s'] / routed:.0f} times "
           f"that, and {min(r['requests_per_s'] for r in on) / routed:.0f}-"
           f"{max(r['requests_per_s'] for r in on) / routed:.0f} times that while sharing "
           "the process with the router: under sustained load the inbound queue only grows "
           f"(after (b) and the {load['drain_window_s']:g}-s window {load['backlog_at_end']:,} "
           f"events were still queued, about {(load['projected_drain_s'] or 0) / 60:.0f} min "
           "of routing).",
           f"- Router CPU per first message: {front['cpu_ms']} ms at the front of the queue, "
           + ", ".join(f"{p['cpu_ms']} ms with {p['waiting_before']:,} waiting"
                       for p in plateau)
           + f": it grows by {per_row:.3f} ms per waiting row read ahead, up to the 499-row "
           "cap, and is flat beyond it (nothing else grows with the waiting conversations). "
           f"{front['table_transactions']:g} table transactions per first message, the same "
           "at every size.",
           "- Follow-ups (a second message while waiting): " + ", ".join(
               f"{p['cpu_ms']} ms, {p['table_transactions']:g} transactions, "
               f"{p['table_rows_read']:g} rows ({p['point'].split(', ', 1)[1]})"
               for p in follows) + ": the line is not counted again.",
           ]
    profile = control.get("in_process", {}).get("py_spy")
    if profile:
        inclusive = profile["our_functions_inclusive_percent"]
        position = next((v for k, v in inclusive.items() if k.startswith(
            "ConversationIndexes.position_in_queue ")), None)
        top = list(profile["percent_by_category"].items())[:5]
        out.append(f"- Where a first message's CPU goes (in process, 5,000+ waiting): the "
                   f"queue-position step {position}% (reading ~500 full index rows to count "
                   "them); by layer " + ", ".join(f"{SHORT.get(k, k)} {v}%" for k, v in top)
                   + ".")
    del points
    return [*out, ""]


def markdown(result: dict[str, Any]) -> str:
    a, load, control = result["webhook_alone"], result["under_load"], result["controlled"]
    b = load["b_triggers_on"]
    m = result["machine_load"]
    lines = [
        "# Router under webhook load (`bench/router_load.py`)", "",
        f"Measured {result['measured_at']} on {result['machine']['cpus']} cores, Python "
        f"{result['machine']['python']}; load average {m['loadavg_start']} at the start, "
        f"{m['loadavg_end']} at the end; other processes busy at the start: "
        f"{m['busy_at_start'] or 'none'}. The run took {result['run_seconds']} s. Code: "
        f"commit {result['code']['at_start']['commit']}"
        + (" (the same at the end)" if result["code"]["at_start"] == result["code"]["at_end"]
           else f", at the end {result['code']['at_end']}") + ".", "",
        *findings(result),
        "## Method", "",
        "The whole local stack (Azurite in memory, Messenger simulator, devhost), seeded "
        "through the management API: one account, a page connected through the simulator, one "
        f"queue, {AGENTS} agents in it who are **offline**, one push workstream with greeting, "
        "agent_unavailable and position_in_queue automated messages. Nobody can be offered a "
        "conversation, so every customer waits, and every event of a waiting conversation "
        "counts its position: the waiting rows ahead of it in the queue's index partition, up "
        "to 500. The simulator knows the customers (profile, open window); its automatic echo, "
        "delivery and read webhooks are off, so every inbound event is a customer message.", "",
        f"1. `wrk -t 1 -c {CONNECTIONS} -d {WRK_SECONDS}s`, pre-signed 1-event bodies, customer "
        f"`i % {CUSTOMERS}` in turn, unique mids. (a) a stack with `DEVHOST_RUN_TRIGGERS=0`; "
        "(b) a second stack with triggers on (router, sender and timers in the devhost "
        "process, 4 sessions at a time each).",
        f"2. After (b), a drain window of {load['drain_window_s']:g} s without load. Counters "
        "(`GET /admin/metering`) and process CPU sampled every 0.5 s; router executions in "
        f"queue order are customer 1, 2, 3...'s first messages, cut every {SLICE} "
        "(interpolated between samples). Router CPU = `function.cpu_ms{function=router}` "
        "(CPU time of the thread that ran the execution) / `function.executions{function=router}`.",
        "3. Controlled points on a third stack with triggers off: the router runs on one thread "
        "when `POST /admin/functions/router` drains the queue. 100 first messages at the front "
        "of the queue; waiting conversations added with the product's own "
        "`ConversationStore.create` up to 1,000 and 5,000, 100 first messages at each; then a "
        "second message from 100 customers at the front and 100 at the back.",
        f"4. In process on that stack: `process_inbound` (validation, archive, "
        f"`handle_inbound`) over {PROFILE_ENVELOPES} first messages of new customers with "
        "5,000+ waiting, sampled by `py-spy` (CPU samples; each charged to the first category "
        "met walking from the leaf to the root); 50 more under cProfile. `py-spy` also sampled "
        "the devhost's router threads for 10 s of the drain window.", "",
        f"## Webhook load (wrk, {CONNECTIONS} connections, {WRK_SECONDS} s, {CUSTOMERS:,} "
        "customers)", "",
        "| run | acknowledged req/s (wrk) | p50 ms | p99 ms | non-2xx | socket errors | "
        "webhook/s after the first 3 s | routed meanwhile | earlier |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| (a) triggers off | {a['requests_per_s']:.0f} | {a['p50_ms']} | {a['p99_ms']} | "
        f"{a['non_2xx']} | {a['socket_errors'] or 'none'} | | | "
        f"{EARLIER['triggers_off_rps']:.0f} req/s |",
    ]
    for name, run in [("(b) triggers on", b)] + [
            (f"({r['run']}) triggers on, after the drain window", r)
            for r in load.get("b_repeats_after_drain_window", [])]:
        lines.append(
            f"| {name} | {run['requests_per_s']:.0f} | {run['p50_ms']} | {run['p99_ms']} | "
            f"{run['non_2xx']} | {run['socket_errors'] or 'none'} | "
            f"{run.get('webhook_per_s_after_3s')} | {run.get('routed_meanwhile')} "
            f"({run.get('routed_per_s_meanwhile')}/s) | "
            + (f"{EARLIER['triggers_on_rps']:.0f} req/s, p99 {EARLIER['triggers_on_p99_ms']:.0f}"
               " ms |" if run is b else " |"))
    lines += [
        "",
        f"(a) cost the devhost {a['devhost_cpu_ms_per_request']} ms CPU per request. (b) ran "
        "on a fresh stack whose router was idle at the first request; (b2) and (b3) ran after "
        "the drain window, 5,000 new customers each, with the router busy throughout.", "",
        "## The router draining after (b)", "",
        f"In the {load['drain_window_s']:g} s window the router routed "
        f"{load['router_in_window'].get('events')} events; "
        f"{load['routed_by_end_of_window']:,} of the {load['events_accepted']:,} accepted were "
        f"routed by its end, {load['backlog_at_end']:,} left. With 500+ conversations waiting "
        f"it routes {load['routed_per_s_at_500_plus_waiting']} events/s: the rest would take "
        f"about {load['projected_drain_s']} s "
        f"({(load['projected_drain_s'] or 0) / 60:.0f} min) to drain.", "",
        "| phase | events | routed/s | router CPU ms/event | wall ms/event | table tx/event | "
        "rows read/event | devhost CPU ms/event | Azurite CPU ms/event |",
        "|---|---|---|---|---|---|---|---|---|",
        _row("drain window (after (b))", load["router_in_window"]),
        "", f"Per {SLICE} first messages, in queue order (k conversations already waiting):", "",
        "| customers | waiting before | position rows expected | router CPU ms | wall ms | "
        "table tx | rows read | routed/s | devhost CPU ms | Azurite CPU ms | under wrk |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in load["slices"]:
        lines.append(f"| {row['customers']} | {row['waiting_before']} | "
                     f"{row['position_rows_expected']} | {row['cpu_ms']} | {row['wall_ms']} | "
                     f"{row['table_transactions']} | {row['table_rows_read']} | "
                     f"{row['events_per_s']} | {row['devhost_process_cpu_ms']} | "
                     f"{row['azurite_process_cpu_ms']} | {row['under_wrk_share']:.0%} |")
    lines += ["", "## Controlled points (triggers off, router on one thread)", "",
              "| point | events | routed/s | router CPU ms/event | wall ms/event | table tx/event"
              " | rows read/event | devhost CPU ms/event | Azurite CPU ms/event |",
              "|---|---|---|---|---|---|---|---|---|"]
    lines += [_row(p["point"], p) for p in control["points"]]
    lines += ["", "Seeding (the product's `ConversationStore.create`, 8 threads): " + "; ".join(
        f"to {s['to']:,} in {s['seconds']} s" for s in control["seeding"]) + ". Index rows "
        f"in the queue's partition at the end, by state: {control['queue_rows_by_state']}.", "",
        "Table transactions per event by table (router):", ""]
    by = {p["point"]: p.get("by_table", {}) for p in control["points"]}
    names = list(by)
    lines += ["| table | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    tables = list(dict.fromkeys(t for p in by.values() for t in p))
    for table in tables:
        cells = [f"{by[n].get(table, {}).get('transactions', 0)}"
                 + (f" ({by[n][table]['rows']:g} rows)" if by[n].get(table, {}).get("rows")
                    else "") for n in names]
        lines.append(f"| {table} | " + " | ".join(cells) + " |")
    profile = control.get("in_process")
    if profile:
        lines += ["", "## Where the router's CPU goes", "",
                  f"In process, {profile['envelopes']} first messages with "
                  f"{profile.get('waiting_in_queue_before')} conversations waiting: "
                  f"{profile['cpu_ms_per_envelope_unprofiled']} ms CPU and "
                  f"{profile['wall_ms_per_envelope_unprofiled']} ms wall per envelope without a "
                  f"profiler, {profile['cpu_ms_per_envelope_under_py_spy']} ms CPU under "
                  f"py-spy; {profile['table_transactions_per_envelope']} table transactions "
                  f"and {profile['table_rows_per_envelope']} rows read each.", ""]
        for title, spied in (("in-process run", profile.get("py_spy")),
                             ("devhost router threads, drain window",
                              load.get("devhost_py_spy"))):
            if not spied or not spied.get("samples"):
                continue
            lines += [f"py-spy, {title} ({spied['samples']} samples): share of CPU samples", "",
                      "| category | % |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in spied["percent_by_category"].items()]
            lines += ["", "HTTP and Azure SDK samples by destination: " + ", ".join(
                f"{k} {v}%" for k, v in spied["percent_http_by_destination"].items()) + ".", ""]
        if profile.get("py_spy"):
            lines += ["Our functions, inclusive share of the in-process CPU samples:", "",
                      "| function | % |", "|---|---|"]
            lines += [f"| `{k}` | {v} |" for k, v in
                      list(profile["py_spy"]["our_functions_inclusive_percent"].items())[:20]]
            lines += ["", "Hottest leaf functions (self time):", "", "| function | % |",
                      "|---|---|"]
            lines += [f"| `{k}` | {v} |" for k, v in
                      profile["py_spy"]["top_leaf_functions_percent"].items()]
    checks = load["checks"]
    lines += ["", "## Checks", "",
              f"- Stack (b): router failures {checks['router_failures']}, sender failures "
              f"{checks['sender_failures']}, dead letters {checks['dead_letters']}, Graph "
              f"failures {checks['graph_failures']}; devhost log errors: "
              f"{len(checks['devhost_log_errors'])}.",
              f"- Controlled stack: router failures {control['checks']['router_failures']}, "
              f"dead letters {control['checks']['dead_letters']}; devhost log errors: "
              f"{len(control['checks']['devhost_log_errors'])}.", ""]
    errors = checks["devhost_log_errors"] + control["checks"]["devhost_log_errors"]
    if errors:
        lines += ["Errors in the devhost logs:", "", "```", *errors, "```", ""]
    return "\n".join(lines) + "\n" + NOTES


# ------------------------------------------------------------------------------------ main
def main() -> None:
    global CUSTOMERS, WRK_SECONDS, SLICE, POINT, WAITING_POINTS, PROFILE_ENVELOPES
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--customers", type=int, default=CUSTOMERS, help="a smaller smoke run")
    parser.add_argument("--seconds", type=int, default=WRK_SECONDS, help="wrk's duration")
    parser.add_argument("--drain-seconds", type=float, default=DRAIN_SECONDS)
    parser.add_argument("--smoke", action="store_true",
                        help="a 2-minute check of the script itself; its numbers mean nothing")
    arguments = parser.parse_args()
    CUSTOMERS, WRK_SECONDS = arguments.customers, arguments.seconds
    if arguments.smoke:
        CUSTOMERS, WRK_SECONDS, arguments.drain_seconds = 300, 3, 20
        SLICE, POINT, WAITING_POINTS, PROFILE_ENVELOPES = 20, 20, (100, 300), 40
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    started = time.monotonic()
    loadavg_start = [round(x, 2) for x in os.getloadavg()]
    busy = busy_processes({os.getpid()})
    version = code_version()
    result: dict[str, Any] = {"customers": CUSTOMERS, "connections": CONNECTIONS,
                              "wrk_seconds": WRK_SECONDS, "agents_offline": AGENTS,
                              "automated_messages": sorted(AUTOMATED), "earlier": EARLIER}
    with tempfile.TemporaryDirectory(prefix="bench-router-load-") as tmp:
        work = Path(tmp)
        print("(a) webhook alone, triggers off", flush=True)
        result["webhook_alone"] = a = webhook_alone(work)
        print(f"    {a['requests_per_s']} req/s, p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms, "
              f"non-2xx {a['non_2xx']}", flush=True)
        result["under_load"] = under_load(work, arguments.drain_seconds)
        print("controlled points (triggers off)", flush=True)
        result["controlled"] = controlled(work, not arguments.skip_profile)
    result["machine_load"] = {"loadavg_start": loadavg_start,
                              "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                              "busy_at_start": busy}
    result["run_seconds"] = round(time.monotonic() - started)
    result["code"] = {"at_start": version, "at_end": code_version()}
    path = write_result("router_load", result)
    result = json.loads(path.read_text())
    plot(result, RESULTS / "router_load.png")
    (RESULTS / "router_load.md").write_text(markdown(result))
    print(markdown(result))
    print(path)


if __name__ == "__main__":
    main()
