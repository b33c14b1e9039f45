"""What each product operation costs in billed Azure operations, measured, and what a month of
traffic costs at list prices.

The whole product as ``make run`` starts it (Azurite, the Messenger simulator, the devhost with
its background router, sender and timers), set up through the management API: an account, a
page, a queue, 3 available agents and a workstream. Conversations run in batches of at most the
agents' joint capacity: each new customer writes through the simulator's signed webhook, the
agent it is offered to accepts it (seen in their inbox poll), then six times the agent reads
the new messages and replies through the agent API, the customer writes again (five
follow-ups), and the agent closes. The simulator sends the echo, delivery and read webhooks of
every message the page sends, as Facebook does. Three agents poll their inbox
(``GET /api/agent/conversations?since=...``) every 2 s throughout.

The devhost counts every billable call (``messenger_channel.metering``, ``/admin/metering``):
table transactions (a query page is one), blob operations, queue operations, function
executions with their CPU time, Graph calls, each labelled with the function and, for HTTP,
the operation that made it. Each step is measured from quiet to quiet (nothing left in the
queues, every follow-up webhook in), so its counts are the cost of its unit of work; polls and
timers, running meanwhile, are told apart by their labels and reported on their own.

    .venv/bin/python -m bench.costs [--conversations 200] [--batch 30]

Writes bench/results/costs.json and prints the table and the monthly estimate.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import secrets
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import write_result
from devhost.processes import free_port
from devhost.stack import LocalStack, StackConfig
from simulator.client import SimulatorClient

# ---------------------------------------------------------------------------------- prices
# Pay-as-you-go list prices, USD, East US, as docs/DEPLOY.md section 6 uses them: read on
# 2026-11-25 from copies of Azure's pricing pages (Functions, Service Bus, Storage) and of Azure
# Retail Prices API rows dated 2025-09-29 to 2026-10-03 (this workspace cannot open
# azure.microsoft.com). The blob read, list and "other" prices are not in DEPLOY.md: they are
# the Hot LRS rows of the same Blob Storage page (read $0.005 per 10,000; list and create
# container billed as writes), and are assumptions until checked. Prices change: check the
# Azure pricing calculator before budgeting.
PRICES_DATE = "2026-11-25"
PRICES: dict[str, float] = {
    "flex_on_demand_gb_s": 0.000026,  # execution time; 100,000 GB-s free each month
    "flex_on_demand_per_million_executions": 0.40,  # 250,000 free each month
    "flex_always_ready_baseline_gb_s": 0.000004,
    "flex_always_ready_gb_s": 0.000016,
    "flex_always_ready_per_million_executions": 0.40,
    "service_bus_standard_base_per_hour": 0.0135,  # $9.86 for 730 h, 13 M operations included
    "service_bus_standard_per_million_operations": 0.80,  # 13 M to 100 M
    "table_per_10k_transactions": 0.00036,
    "blob_hot_lrs_per_10k_writes": 0.065,
    "blob_hot_lrs_per_10k_reads": 0.005,  # assumed, see above
    "blob_hot_lrs_per_10k_lists": 0.065,  # list and create-container operations
    "blob_hot_lrs_per_10k_other": 0.005,  # get properties; assumed, see above
}
FREE = {"flex_on_demand_gb_s": 100_000, "flex_on_demand_executions": 250_000,
        "service_bus_operations": 13_000_000}
HOURS_PER_MONTH = 730
MINIMUM_BILLED_SECONDS = 1.0  # Flex Consumption bills at least 1 s per execution period

# ----------------------------------------------------------------------------- assumptions
AGENTS = 3
POLL_SECONDS = 2.0
BUSINESS_HOURS_PER_DAY = 10
BUSINESS_DAYS_PER_MONTH = 22
CUSTOMER_MESSAGES_PER_CONVERSATION = 6  # as in the run; agent replies as many
VOLUMES = (100_000, 1_000_000)
MEMORY_GB = (2.0, 0.5)  # 2,048 MB (the default instance size) and 512 MB
# Timer schedules (functions/conversation_timers.py, TOKEN_CHECK_SCHEDULE default).
TIMER_RUNS_PER_MONTH = {"auto_close": HOURS_PER_MONTH * 60, "distribute": HOURS_PER_MONTH * 60,
                        "token_check": HOURS_PER_MONTH / 6}

POLL = "GET agent/conversations"
READ = "GET agent/conversations/{id}/messages"
TIMERS = ("auto_close", "distribute", "token_check")
WEBHOOK = "facebook_webhook"
FOLLOWUPS = ("echo", "delivery", "read")  # what the simulator sends after each page message
PHASES = ("first_message", "follow_up", "accept", "reply", "close")
EMPTY_WINDOW_SECONDS = 20.0


def new_id() -> str:
    return str(10**14 + secrets.randbelow(9 * 10**14))


# ------------------------------------------------------------------------------- counters
Counts = dict[str, float]


def parse(key: str) -> tuple[str, dict[str, str]]:
    """``table.read{table=Contacts,function=router}`` → the name and its labels."""
    name, brace, rest = key.partition("{")
    if not brace:
        return name, {}
    labels = dict(part.partition("=")[::2] for part in rest[:-1].split(","))
    return name, labels


def key_of(name: str, labels: Mapping[str, str]) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f"{k}={v}" for k, v in labels.items()) + "}"


def minus(a: Mapping[str, float], *others: Mapping[str, float]) -> Counts:
    result = dict(a)
    for other in others:
        for key, value in other.items():
            result[key] = result.get(key, 0) - value
    return {key: value for key, value in result.items() if abs(value) > 1e-9}


def added(a: Mapping[str, float], b: Mapping[str, float]) -> Counts:
    result = dict(a)
    for key, value in b.items():
        result[key] = result.get(key, 0) + value
    return result


def scaled(counts: Mapping[str, float], factor: float) -> Counts:
    return {key: value * factor for key, value in counts.items()}


def plain(counts: Mapping[str, float]) -> Counts:
    return {key: value for key, value in counts.items() if "{" not in key}


@dataclass
class Bucket:
    """What one kind of work spent over the run, and how many units of it there were."""

    units: float = 0
    counts: Counts = field(default_factory=dict)

    def add(self, counts: Mapping[str, float], units: float = 0) -> None:
        self.counts = added(self.counts, counts)
        self.units += units


def split_step(counts: Mapping[str, float]) -> dict[str, Counts]:
    """A step's counters by who spent them: inbox polls, message reads, timers, and the work
    itself (everything else). Each part holds plain names, names by table, queue, container
    and endpoint (``table.read{table=Contacts}``) and by function (``...{function=router}``)."""
    total: Counts = defaultdict(float)  # nothing scoped: everyone's
    parts: dict[str, Counts] = {"poll": defaultdict(float), "read": defaultdict(float),
                                "timers": defaultdict(float)}
    functions: Counts = defaultdict(float)
    operations: Counts = defaultdict(float)
    for key, value in counts.items():
        name, labels = parse(key)
        if "trigger" in labels:
            continue
        operation, function = labels.pop("operation", None), labels.pop("function", None)
        view = key_of(name, labels)
        if operation is not None:
            owner = {POLL: "poll", READ: "read"}.get(operation)
            if owner is not None:
                parts[owner][view] += value
                if not labels:
                    parts[owner][f"{name}{{function=agent_api}}"] += value
            elif not labels:
                operations[f"{name}{{operation={operation}}}"] += value
        elif function is not None:
            if function in TIMERS:
                parts["timers"][view] += value
                if not labels:
                    parts["timers"][f"{name}{{function={function}}}"] += value
            elif not labels:
                functions[f"{name}{{function={function}}}"] += value
        else:
            total[view] += value

    def unscoped(part: Counts) -> Counts:
        return {key: value for key, value in part.items() if "function=" not in key}

    work = minus(total, *(unscoped(part) for part in parts.values()))
    # agent_api's own counters include its polls and reads.
    for owner in ("poll", "read"):
        for key, value in plain(parts[owner]).items():
            functions[f"{key}{{function=agent_api}}"] -= value
    work.update({key: value for key, value in functions.items() if abs(value) > 1e-9})
    work.update(operations)
    return {"work": work, **{owner: dict(part) for owner, part in parts.items()}}


# --------------------------------------------------------------------------------- the run
class Devhost:
    """The devhost's admin routes and its process CPU time."""

    def __init__(self, url: str, key: str, pid: int) -> None:
        self.admin = httpx.Client(base_url=f"{url}/admin", timeout=60,
                                  headers={"Authorization": f"Bearer {key}"})
        self.pid = pid
        self._ticks = os.sysconf("SC_CLK_TCK")

    def counters(self, *names: str) -> Counts:
        answer = self.admin.get("/metering", params={"name": list(names)})
        answer.raise_for_status()
        counts: Counts = answer.json()["counters"]
        return counts

    def take(self) -> Counts:
        """The counters since the last take, zeroed at once (nothing is lost in between)."""
        answer = self.admin.post("/metering/reset")
        answer.raise_for_status()
        counts: Counts = answer.json()["counters"]
        return counts

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._ticks  # utime + stime

    def close(self) -> None:
        self.admin.close()


@dataclass
class Poll:
    at: float
    agent: int
    items: int


class Agent:
    def __init__(self, index: int, url: str, key: str) -> None:
        self.index = index
        self.api = httpx.Client(base_url=f"{url}/api/agent", timeout=60,
                                headers={"Authorization": f"Bearer {key}"})
        self.poller = httpx.Client(base_url=f"{url}/api/agent", timeout=60,
                                   headers={"Authorization": f"Bearer {key}"})
        self.since: str | None = None
        self.message_cursors: dict[str, str] = {}

    def close(self) -> None:
        self.api.close()
        self.poller.close()


class Inbox:
    """What the agents' polls saw: per customer (psid), the conversation and who it is
    offered to or held by."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.conversation: dict[str, str] = {}  # psid -> conversation id
        self.offered_to: dict[str, int] = {}  # conversation id -> agent index
        self.polls: list[Poll] = []
        self.errors = 0

    def seen(self, agent: int, items: list[dict[str, Any]]) -> None:
        with self.lock:
            self.polls.append(Poll(time.monotonic(), agent, len(items)))
            for item in items:
                self.conversation[item["psid"]] = item["id"]
                if item["state"] == "offered":
                    self.offered_to[item["id"]] = agent


class Pollers:
    """Each agent's console: ``GET /conversations?since=`` every 2 s."""

    def __init__(self, agents: list[Agent], inbox: Inbox) -> None:
        self.agents = agents
        self.inbox = inbox
        self.running = threading.Event()
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.running.set()
        self.threads = [threading.Thread(target=self._poll, args=(agent,), daemon=True)
                        for agent in self.agents]
        for thread in self.threads:
            thread.start()

    def _poll(self, agent: Agent) -> None:
        # Staggered like three people who signed in at different moments.
        self.stopping.wait(agent.index * POLL_SECONDS / len(self.agents))
        while not self.stopping.is_set():
            started = time.monotonic()
            if self.running.is_set():
                try:
                    params = {} if agent.since is None else {"since": agent.since}
                    answer = agent.poller.get("/conversations", params=params)
                    answer.raise_for_status()
                    page = answer.json()
                    agent.since = page["since"]
                    self.inbox.seen(agent.index, page["items"])
                except httpx.HTTPError:
                    with self.inbox.lock:
                        self.inbox.errors += 1
            self.stopping.wait(max(0.0, POLL_SECONDS - (time.monotonic() - started)))

    @contextmanager
    def paused(self) -> Iterator[None]:
        self.running.clear()
        time.sleep(0.3)  # let a poll under way finish
        try:
            yield
        finally:
            self.running.set()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)


class Run:
    def __init__(self, stack: LocalStack, config: StackConfig, key: str) -> None:
        devhost = next(child for child in stack.children if child.name == "devhost")
        assert devhost.process is not None
        self.host = Devhost(config.devhost_url, key, devhost.process.pid)
        self.url = config.devhost_url
        self.manage = httpx.Client(base_url=f"{config.devhost_url}/api/manage", timeout=60,
                                   headers={"Authorization": f"Bearer {key}"})
        self.simulator = SimulatorClient(config.simulator_url)
        self.inbox = Inbox()
        self.agents: list[Agent] = []
        self.buckets: dict[str, Bucket] = defaultdict(Bucket)
        self.steps: list[dict[str, Any]] = []
        self.held: dict[str, int] = {}  # conversation id -> the agent holding it
        self.timeouts = 0
        self.errors: list[dict[str, Any]] = []
        self.log_dir = config.log_dir or config.data_dir
        self.idle_cpu_per_s = 0.0
        self.empty_window = (math.inf, math.inf)
        self.inboxes_measured = False
        self.pollers = Pollers(self.agents, self.inbox)

    # -- set-up ------------------------------------------------------------------------------
    def set_up(self) -> None:
        app_id, secret, token = new_id(), "s" + new_id(), "EAA" + new_id()
        self.page_id = new_id()
        self.simulator.put_app(app_id, secret)
        self.simulator.config(auto_echo=True, auto_delivery=True, auto_read=True)
        self.account = self._post("/accounts", {"name": "Costs", "app_id": app_id,
                                                "app_secret": secret})["id"]
        self.simulator.put_page(self.page_id, "Costs", app_id=app_id, access_token=token,
                                account_id=self.account)
        self._post(f"/accounts/{self.account}/pages", {"page_id": self.page_id,
                                                       "name": "Costs", "access_token": token})
        queue = self._post("/queues", {"name": "Costs"})["id"]
        for index in range(AGENTS):
            agent = self._post("/agents", {"name": f"Agent {index}", "queue_ids": [queue],
                                           "presence": "available"})
            self.agents.append(Agent(index, self.url, agent["api_key"]))
        workstream = self._post("/workstreams", {"name": "Costs", "page_id": self.page_id,
                                                 "fallback_queue_id": queue})
        self.capacity = AGENTS * 100 // workstream["capacity_per_conversation"]

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        answer = self.manage.post(path, json=body)
        if answer.status_code >= 400:
            raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text}")
        return answer.json()

    # -- steps ---------------------------------------------------------------------------------
    def quiet(self, says: int, timeout: float = 120.0) -> None:
        """Until nothing is left to do: every queue message settled, every follow-up webhook of
        every page message in, and the counters still for a moment."""
        deadline = time.monotonic() + timeout
        last: tuple[float, ...] | None = None
        while time.monotonic() < deadline:
            c = self.host.counters("function.executions", "graph.calls", "graph.failures",
                                   "queue.sent", "queue.duplicates", "queue.complete",
                                   "queue.dead_letter")
            sends = (c.get("graph.calls{graph_operation=send_message}", 0)
                     - c.get("graph.failures{graph_operation=send_message}", 0))
            state = (c.get(f"function.executions{{function={WEBHOOK}}}", 0),
                     *(c.get(f"{name}{{queue={queue}}}", 0)
                       for queue in ("inbound", "outbound")
                       for name in ("queue.sent", "queue.complete", "queue.dead_letter")),
                     sends)
            webhooks_in = state[0] >= says + len(FOLLOWUPS) * sends
            settled = all(
                c.get(f"queue.sent{{queue={q}}}", 0) - c.get(f"queue.duplicates{{queue={q}}}", 0)
                <= c.get(f"queue.complete{{queue={q}}}", 0)
                + c.get(f"queue.dead_letter{{queue={q}}}", 0)
                for q in ("inbound", "outbound"))
            if webhooks_in and settled and state == last:
                return
            last = state if webhooks_in and settled else None
            time.sleep(0.3)
        self.timeouts += 1
        print(f"  (a step did not settle within {timeout:g} s; counted as it was)", flush=True)

    def step(self, phase: str, units: int, work: Callable[[], int], *,
             polls_to: str = "poll") -> None:
        """Run ``work`` (it returns how many customer webhooks it made the simulator post),
        wait until quiet, and book the counters: the work's to ``phase``, the polls' to
        ``polls_to``, the reads' and timers' to theirs."""
        self.host.take()
        cpu, started = self.host.cpu_seconds(), time.monotonic()
        says = work()
        self.quiet(says)
        counts = self.host.take()
        cpu_used, duration = self.host.cpu_seconds() - cpu, time.monotonic() - started
        parts = split_step(counts)
        polls = parts["poll"].get("function.executions", 0)
        self.buckets[phase].add(parts["work"], units)
        self.buckets[polls_to].add(parts["poll"], polls)
        self.buckets["read"].add(parts["read"], parts["read"].get("function.executions", 0))
        self.buckets["timers"].add(parts["timers"], parts["timers"].get("function.executions", 0))
        self.steps.append({"phase": phase, "units": units, "seconds": duration,
                           "cpu_beyond_idle_s": cpu_used - self.idle_cpu_per_s * duration,
                           "polls": polls, "polls_to": polls_to})

    # -- the units of work -----------------------------------------------------------------------
    def customers_write(self, psids: list[str], number: int) -> int:
        for psid in psids:
            self.simulator.say(self.account, self.page_id, psid, f"Message {number} from {psid}")
        return len(psids)

    def accept_all(self, psids: list[str]) -> int:
        pending = set(psids)
        deadline = time.monotonic() + 150  # an offer can wait for the distribute timer
        while pending and time.monotonic() < deadline:
            with self.inbox.lock:
                ready = [(psid, self.inbox.conversation[psid],
                          self.inbox.offered_to.get(self.inbox.conversation[psid]))
                         for psid in pending if psid in self.inbox.conversation]
            for psid, conversation, agent in ready:
                if agent is None:
                    continue
                answer = self.call(self.agents[agent], "POST",
                                   f"/conversations/{conversation}/accept")
                if answer.status_code == 200:
                    self.held[conversation] = agent
                    pending.discard(psid)
                else:  # the offer moved on meanwhile: wait for the next poll
                    with self.inbox.lock:
                        self.inbox.offered_to.pop(conversation, None)
            if pending:
                time.sleep(0.25)
        if pending:
            raise RuntimeError(f"{len(pending)} conversations were never offered")
        return 0

    def read_and_reply(self, psids: list[str], number: int) -> int:
        for psid in psids:
            conversation = self.inbox.conversation[psid]
            agent = self.agents[self.held[conversation]]
            cursor = agent.message_cursors.get(conversation)
            answer = self.call(agent, "GET", f"/conversations/{conversation}/messages",
                               params={} if cursor is None else {"since": cursor})
            if answer.status_code == 200:
                agent.message_cursors[conversation] = answer.json()["since"]
            self.call(agent, "POST", f"/conversations/{conversation}/messages",
                      json={"text": f"Reply {number} to {psid}"})
        return 0

    def close_all(self, psids: list[str]) -> int:
        for psid in psids:
            conversation = self.inbox.conversation[psid]
            self.call(self.agents[self.held[conversation]], "POST",
                      f"/conversations/{conversation}/close")
        return 0

    def call(self, agent: Agent, method: str, path: str, **request: Any) -> httpx.Response:
        """An agent's request; a 5xx is recorded (with the devhost's log of it) and retried
        twice, as the console's user would, so that one failure does not end the run."""
        for attempt in range(3):
            answer = agent.api.request(method, path, **request)
            if answer.status_code < 500:
                if answer.status_code >= 400 and not path.endswith("/accept"):
                    raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text}")
                return answer
            self.errors.append({"request": f"{method} {path}", "status": answer.status_code,
                                "attempt": attempt + 1, "log": self.log_tail()})
            print(f"  {method} {path} answered {answer.status_code}; see errors in the "
                  "result", flush=True)
            time.sleep(1)
        return answer

    def log_tail(self, lines: int = 40) -> str:
        """The devhost log's last traceback, if any."""
        path = self.log_dir / "devhost.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        start = max((i for i, line in enumerate(text) if "Traceback" in line), default=-1)
        return "\n".join(text[start:start + lines] if start >= 0 else text[-lines:])

    def conversation_batch(self, count: int) -> None:
        psids = [new_id() for _ in range(count)]
        for number, psid in enumerate(psids):
            self.simulator.put_user(psid, self.page_id, first_name=f"Customer{number}",
                                    last_name="Costs")
        self.step("first_message", count, lambda: self.customers_write(psids, 1))
        self.step("accept", count, lambda: self.accept_all(psids))
        if not self.inboxes_measured:
            self.measure_inboxes()
        for number in range(1, CUSTOMER_MESSAGES_PER_CONVERSATION + 1):
            if number > 1:
                self.step("follow_up", count, functools.partial(self.customers_write, psids,
                                                                number))
            self.step("reply", count, functools.partial(self.read_and_reply, psids, number))
        self.step("close", count, lambda: self.close_all(psids))

    def measure(self, conversations: int, batch: int) -> None:
        # Idle: what the devhost burns with nothing to do (its queue runners poll SQLite).
        self.host.take()
        cpu, started = self.host.cpu_seconds(), time.monotonic()
        time.sleep(10)
        seconds = time.monotonic() - started
        self.idle_cpu_per_s = (self.host.cpu_seconds() - cpu) / seconds
        self.buckets["idle"].add(self.host.take(), seconds)
        self.pollers.start()
        try:
            done = 0
            while done < conversations:
                size = min(batch, self.capacity, conversations - done)
                print(f"  conversations {done + 1}-{done + size} of {conversations}", flush=True)
                self.conversation_batch(size)
                done += size
            with self.pollers.paused():
                # token_check runs every 6 hours: run it once to know its cost.
                self.step("token_check", 0, self.check_tokens)
        finally:
            self.pollers.stop()

    def measure_inboxes(self) -> None:
        """With the first batch held by the agents and nothing happening: polls that find
        nothing new (the steady cost of an open console), then whole-inbox loads."""
        print("  polls with nothing new, whole-inbox loads", flush=True)
        # First each agent's poll picks up the accepts (its polls are booked as the run's).
        self.step("settle", 0, lambda: self.wait_for_polls(POLL_SECONDS + 0.5))
        self.empty_window = (time.monotonic(), math.inf)
        self.step("nothing_new", 0, self.wait_for_polls, polls_to="poll_empty")
        self.empty_window = (self.empty_window[0], time.monotonic())
        with self.pollers.paused():
            # The console reloads the whole inbox (no since=) every 15th poll.
            self.step("full_reloads", 0, self.full_loads, polls_to="full_inbox_load")
        self.inboxes_measured = True

    def wait_for_polls(self, seconds: float = EMPTY_WINDOW_SECONDS) -> int:
        time.sleep(seconds)
        return 0

    def check_tokens(self) -> int:
        self.host.admin.post("/functions/token_check").raise_for_status()
        return 0

    def full_loads(self) -> int:
        for agent in self.agents:
            for _ in range(5):
                agent.api.get("/conversations").raise_for_status()
        return 0

    def close(self) -> None:
        for agent in self.agents:
            agent.close()
        self.host.close()
        self.manage.close()
        self.simulator.close()


# ------------------------------------------------------------------------------- the report
SUMMARY_KEYS = {
    "table_transactions": "table.transactions",
    "table_reads": "table.read",
    "table_reads_missing": "table.read_missing",
    "table_queries": "table.query",
    "table_rows_returned": "table.rows",
    "table_inserts": "table.insert",
    "table_upserts": "table.upsert",
    "table_updates": "table.update",
    "table_deletes": "table.delete",
    "table_batches": "table.batch",
    "table_retries": "table.retry",
    "blob_writes": "blob.write",
    "blob_reads": "blob.read",
    "blob_lists": "blob.list",
    "blob_other": "blob.properties",
    "queue_messages_sent": "queue.sent",
    "servicebus_operations": "servicebus.operations",
    "graph_calls": "graph.calls",
    "executions": "function.executions",
}
_BY_FUNCTION = ("function.executions", "function.cpu_ms", "function.loop_cpu_ms",
                "function.wall_ms", "table.transactions", "table.rows", "blob.write",
                "servicebus.operations", "graph.calls")


def summary(counts: Mapping[str, float], units: float) -> dict[str, Any]:
    """Per unit: the billed operations by kind, and by table, function, operation, endpoint."""
    if not units:
        return {}
    out: dict[str, Any] = {name: round(counts.get(key, 0) / units, 3)
                           for name, key in SUMMARY_KEYS.items()}
    views: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for key, value in counts.items():
        name, labels = parse(key)
        if len(labels) != 1:
            continue
        [(label, where)] = labels.items()
        per = round(value / units, 3)
        if label == "table" and name in ("table.transactions", "table.rows"):
            views["by_table"][where][name] = per
        elif label == "function" and name in _BY_FUNCTION:
            views["by_function"][where][name] = per
        elif label == "operation" and name in ("function.executions", "table.transactions"):
            views["by_operation"][where][name] = per
        elif label == "endpoint" and name == "graph.calls":
            views["graph_by_endpoint"][where][name] = per
        elif label == "container" and name.startswith("blob."):
            views["blob_by_container"][where][name] = per
    for view, entries in views.items():
        out[view] = {where: dict(numbers) for where, numbers in sorted(entries.items())}
    return out


def report(run: Run, conversations: int) -> dict[str, Any]:
    buckets = run.buckets
    steps = run.steps
    units: dict[str, dict[str, Any]] = {}
    # Devhost CPU beyond idle, less that of the polls made meanwhile (the empty window's rate).
    window = [s for s in steps if s["phase"] == "nothing_new"]
    cpu_per_poll = (sum(s["cpu_beyond_idle_s"] for s in window)
                    / max(1, sum(s["polls"] for s in window)))
    for phase in PHASES:
        bucket = buckets[phase]
        figures = summary(bucket.counts, bucket.units)
        if figures:
            cpu = sum(s["cpu_beyond_idle_s"] - s["polls"] * cpu_per_poll
                      for s in steps if s["phase"] == phase)
            figures["devhost_cpu_ms"] = round(max(0.0, cpu) * 1000 / bucket.units, 2)
            units[phase] = figures
    reads = buckets["read"]
    units["read"] = summary(reads.counts, reads.units)
    # Polls: the empty window's found nothing; of the run's polls, those that found nothing
    # cost as much, and the rest is what a poll with changes costs.
    empty, run_polls = buckets["poll_empty"], buckets["poll"]
    start, end = run.empty_window
    run_seen = [poll for poll in run.inbox.polls if not start <= poll.at <= end]
    with_changes = sum(1 for poll in run_seen if poll.items)
    without = max(0.0, run_polls.units - with_changes)
    changes = minus(run_polls.counts, scaled(empty.counts, without / max(1.0, empty.units)))
    units["poll_empty"] = summary(empty.counts, empty.units)
    units["poll_empty"]["devhost_cpu_ms"] = round(cpu_per_poll * 1000, 2)
    units["poll_changes"] = summary(changes, with_changes)
    if with_changes:
        units["poll_changes"]["conversations_returned_to_the_agent"] = round(
            sum(poll.items for poll in run_seen) / with_changes, 2)
    units["poll_run_average"] = summary(run_polls.counts, run_polls.units)
    full = buckets["full_inbox_load"]
    units["full_inbox_load"] = summary(full.counts, full.units)
    timers = buckets["timers"]
    per_timer: dict[str, Any] = {}
    for name in TIMERS:
        own = {parse(key)[0]: value for key, value in timers.counts.items()
               if key.endswith(f"{{function={name}}}")}
        if own.get("function.executions"):
            per_timer[name] = summary(own, own["function.executions"])
    idle = buckets["idle"]
    return {
        "conversations": conversations,
        "messages_per_conversation": {"customer": CUSTOMER_MESSAGES_PER_CONVERSATION,
                                      "agent": CUSTOMER_MESSAGES_PER_CONVERSATION},
        "agents": AGENTS, "poll_interval_s": POLL_SECONDS,
        "simulator_followups_per_page_message": list(FOLLOWUPS),
        "steps_not_settled": run.timeouts,
        "errors": run.errors,
        "poll_errors": run.inbox.errors,
        "run_polls": {"total": run_polls.units, "with_changes": with_changes},
        "idle": {"devhost_cpu_ms_per_s": round(run.idle_cpu_per_s * 1000, 2),
                 "counts_per_s": {key: round(value / idle.units, 2)
                                  for key, value in sorted(plain(idle.counts).items())}},
        "per_unit": units,
        "timers_per_run": per_timer,
        "steps": [{**s, "seconds": round(s["seconds"], 2),
                   "cpu_beyond_idle_s": round(s["cpu_beyond_idle_s"], 3)} for s in steps],
    }


QUEUE_FUNCTIONS = ("router", "sender")


def monthly(units: Mapping[str, Mapping[str, Any]], timers: Mapping[str, Mapping[str, Any]],
            messages: int, memory_gb: float) -> dict[str, Any]:
    """A month of ``messages`` (half customers', half agents') at list prices."""
    customer = messages / 2
    conversations = customer / CUSTOMER_MESSAGES_PER_CONVERSATION
    business_seconds = BUSINESS_HOURS_PER_DAY * BUSINESS_DAYS_PER_MONTH * 3600
    polls = AGENTS * business_seconds / POLL_SECONDS
    share = poll_change_share(messages)
    volume: dict[str, float] = {
        "first_message": conversations, "follow_up": customer - conversations,
        "accept": conversations, "read": customer, "reply": messages / 2,
        "close": conversations, "poll_changes": polls * share,
        "poll_empty": polls * (1 - share),
        **{f"timer:{name}": TIMER_RUNS_PER_MONTH[name] for name in timers},
    }
    totals: Counts = defaultdict(float)
    runs: Counts = defaultdict(float)  # executions by function
    billed: Counts = defaultdict(float)  # seconds, each execution its 1-s minimum at least
    for unit, count in volume.items():
        figures = timers[unit[6:]] if unit.startswith("timer:") else units.get(unit, {})
        for name in ("table_transactions", "blob_writes", "blob_reads", "blob_lists",
                     "blob_other", "servicebus_operations", "graph_calls"):
            totals[name] += figures.get(name, 0) * count
        for function, numbers in figures.get("by_function", {}).items():
            executions = numbers.get("function.executions", 0)
            if executions <= 0:
                continue
            wall_s = numbers.get("function.wall_ms", 0) / 1000 / executions
            runs[function] += executions * count
            billed[function] += executions * count * max(MINIMUM_BILLED_SECONDS, wall_s)
    http = [f for f in runs if f not in QUEUE_FUNCTIONS and f not in TIMERS]
    http_runs = sum(runs[f] for f in http)
    on_demand_runs = sum(runs[f] for f in runs if f not in http)
    # Executions that overlap on one instance are billed as one busy period, so an instance
    # costs at most the hours it is busy: the business hours, when messages come and agents
    # poll. The HTTP functions share the always-ready instance; each queue function has its
    # own on-demand instances (one is plenty at these rates); a timer runs alone each time.
    http_seconds = min(sum(billed[f] for f in http), business_seconds)
    on_demand_seconds = (sum(min(billed[f], business_seconds) for f in QUEUE_FUNCTIONS)
                         + sum(billed[f] for f in TIMERS))
    lines = {
        "functions: always-ready HTTP execution time":
            http_seconds * memory_gb * PRICES["flex_always_ready_gb_s"],
        "functions: always-ready HTTP executions":
            http_runs / 1e6 * PRICES["flex_always_ready_per_million_executions"],
        "functions: always-ready baseline":
            HOURS_PER_MONTH * 3600 * memory_gb * PRICES["flex_always_ready_baseline_gb_s"],
        "functions: on-demand execution time (router, sender, timers)":
            max(0.0, on_demand_seconds * memory_gb - FREE["flex_on_demand_gb_s"])
            * PRICES["flex_on_demand_gb_s"],
        "functions: on-demand executions":
            max(0.0, on_demand_runs - FREE["flex_on_demand_executions"]) / 1e6
            * PRICES["flex_on_demand_per_million_executions"],
        "service bus: base charge":
            HOURS_PER_MONTH * PRICES["service_bus_standard_base_per_hour"],
        "service bus: operations":
            max(0.0, totals["servicebus_operations"] - FREE["service_bus_operations"]) / 1e6
            * PRICES["service_bus_standard_per_million_operations"],
        "table storage: transactions":
            totals["table_transactions"] / 1e4 * PRICES["table_per_10k_transactions"],
        "blob storage: operations":
            (totals["blob_writes"] * PRICES["blob_hot_lrs_per_10k_writes"]
             + totals["blob_reads"] * PRICES["blob_hot_lrs_per_10k_reads"]
             + totals["blob_lists"] * PRICES["blob_hot_lrs_per_10k_lists"]
             + totals["blob_other"] * PRICES["blob_hot_lrs_per_10k_other"]) / 1e4,
    }
    usd = {name: round(value, 2) for name, value in lines.items()}
    return {
        "messages": messages, "memory_gb": memory_gb, "poll_change_share": round(share, 3),
        "volumes": {name: round(value) for name, value in volume.items()},
        "operations": {name: round(value) for name, value in totals.items()},
        "executions": {name: round(value) for name, value in sorted(runs.items())},
        "billed_seconds": {"http_before_cap": round(sum(billed[f] for f in http)),
                           "http": round(http_seconds),
                           "on_demand_before_cap": round(sum(billed[f] for f in QUEUE_FUNCTIONS)
                                                         + sum(billed[f] for f in TIMERS)),
                           "on_demand": round(on_demand_seconds)},
        "usd": usd, "total_usd": round(sum(lines.values()), 2),
        "dominant": max(usd, key=lambda name: usd[name]),
    }


def poll_change_share(messages: int) -> float:
    """The share of polls that find something new: each agent sees the changes of the
    conversations it holds; changes (customer and agent messages, accepts, closes, offers)
    arrive as a Poisson stream over business hours, shared evenly by the agents."""
    conversations = messages / 2 / CUSTOMER_MESSAGES_PER_CONVERSATION
    changes = messages + 3 * conversations  # offer, accept, close
    per_agent_per_s = changes / (BUSINESS_HOURS_PER_DAY * BUSINESS_DAYS_PER_MONTH * 3600) / AGENTS
    return 1 - math.exp(-per_agent_per_s * POLL_SECONDS)


def costs(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [monthly(result["per_unit"], result["timers_per_run"], messages, memory)
            for messages in VOLUMES for memory in MEMORY_GB]


# -------------------------------------------------------------------------------- printing
COLUMNS = [("table tx", "table_transactions"), ("reads", "table_reads"),
           ("queries", "table_queries"), ("rows", "table_rows_returned"),
           ("writes", None), ("blob w", "blob_writes"), ("blob r", "blob_reads"),
           ("SB ops", "servicebus_operations"), ("execs", "executions"),
           ("graph", "graph_calls")]


def print_table(units: dict[str, dict[str, Any]],
                timers: dict[str, dict[str, Any]]) -> None:
    print("\nPer unit of work, as counted on the devhost (polls, reads and timers apart; "
          "'writes' = inserts, upserts, updates, deletes and batches; CPU: the devhost "
          "process beyond idle):")
    print(f"{'unit':<20}" + "".join(f"{title:>9}" for title, _ in COLUMNS) + f"{'CPU ms':>9}")
    rows = {**units, **{f"timer {name}": figures for name, figures in timers.items()}}
    for name, figures in rows.items():
        if not figures:
            continue
        cells = []
        for _, key in COLUMNS:
            if key is None:
                value = sum(figures.get(k, 0) for k in ("table_inserts", "table_upserts",
                                                        "table_updates", "table_deletes",
                                                        "table_batches"))
            else:
                value = figures.get(key, 0)
            cells.append(f"{value:>9.2f}")
        cpu = figures.get("devhost_cpu_ms")
        print(f"{name:<20}" + "".join(cells) + (f"{cpu:>9.1f}" if cpu is not None else ""))
    print("\nBy function, per unit (executions, table transactions, rows returned, Service Bus"
          " operations, Graph calls, wall ms, CPU ms of the function's thread):")
    for name, figures in rows.items():
        for function, n in (figures or {}).get("by_function", {}).items():
            cpu = n.get("function.cpu_ms")
            runs, tx = n.get("function.executions", 0), n.get("table.transactions", 0)
            rows, sb = n.get("table.rows", 0), n.get("servicebus.operations", 0)
            graph, wall = n.get("graph.calls", 0), n.get("function.wall_ms", 0)
            print(f"  {name:<18} {function:<17}{runs:>6.2f} x {tx:>7.2f} tx {rows:>7.2f} rows"
                  f" {sb:>5.2f} SB {graph:>5.2f} graph {wall:>8.1f} ms"
                  + (f" {cpu:>7.1f} CPU ms" if cpu is not None else " (async: no thread CPU)"))


def print_costs(estimates: list[dict[str, Any]]) -> None:
    print(f"\nMonthly cost at list prices of {PRICES_DATE} (USD, East US, pay-as-you-go).")
    print(f"Assumptions: half customer, half agent messages, "
          f"{CUSTOMER_MESSAGES_PER_CONVERSATION} of each per conversation, all in business "
          f"hours; {AGENTS} agents polling every {POLL_SECONDS:g} s for "
          f"{BUSINESS_HOURS_PER_DAY} h/day x {BUSINESS_DAYS_PER_MONTH} days; every execution "
          "billed its 1-s minimum, an instance at most its busy hours; timers on schedule.")
    width = max(len(name) for name in estimates[0]["usd"]) + 2
    print(" " * width + "".join(
        f"{format(e['messages'], ',') + ' @ ' + format(e['memory_gb'], 'g') + ' GB':>20}"
        for e in estimates))
    for name in estimates[0]["usd"]:
        print(f"{name:<{width}}" + "".join(f"{e['usd'][name]:>20.2f}" for e in estimates))
    print(f"{'total':<{width}}" + "".join(f"{e['total_usd']:>20.2f}" for e in estimates))
    print(f"{'per 1,000 messages':<{width}}" + "".join(
        f"{1000 * e['total_usd'] / e['messages']:>20.3f}" for e in estimates))
    print("dominant: " + "; ".join(
        f"{format(e['messages'], ',')} @ {e['memory_gb']:g} GB: {e['dominant']}"
        for e in estimates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--batch", type=int, default=30,
                        help="conversations open at once (at most the agents' capacity)")
    arguments = parser.parse_args()
    key = "bench-management-key-" + "0" * 20
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as data:
        config = StackConfig(data_dir=Path(data), devhost_port=free_port(),
                             simulator_port=free_port(), azurite_ports=None,
                             azurite_in_memory=True, log_dir=Path(data) / "logs",
                             management_api_key=key, demo=False)
        stack = LocalStack(config)
        stack.start()
        try:
            run = Run(stack, config, key)
            try:
                run.set_up()
                run.measure(arguments.conversations, arguments.batch)
                result = report(run, arguments.conversations)
            finally:
                run.close()
        finally:
            stack.stop()
    estimates = costs(result)
    result["monthly"] = estimates
    result["prices"] = {"date": PRICES_DATE, "region": "East US", "currency": "USD",
                        **PRICES, "free": FREE}
    result["run_seconds"] = round(time.monotonic() - started)
    path = write_result("costs", result)
    print_table(result["per_unit"], result["timers_per_run"])
    print_costs(estimates)
    print(path)


if __name__ == "__main__":
    main()
