"""``python -m bench.scale``: the cost of the product's operations against the size of history.

Issue 13: conversations are found through index rows (inbox per agent, queue, customer, day,
due; ``messenger_channel/conversations/indexes.py``) instead of a scan of the Conversations
table, so what an operation costs should not grow with the conversations closed in the past.

1. The whole local stack (Azurite in memory, the Messenger simulator, the devhost with its
   background router and timers), seeded through the management API: one account, one page,
   one queue, 3 agents (available, capacity 100), one push workstream (default auto-close,
   1 unit per conversation), and 50 open conversations (customers write through the
   simulator's signed webhook, agents accept through the agent API).
2. History in steps of 0, 10k, 50k, 100k closed conversations (cumulative), written straight
   into the stack's Azurite through the product's storage layer (``TableStore``, the devhost's
   connection string, no table prefix) as months of traffic would leave them: a ``Conversation``
   in state ``closed`` and its permanent index rows (what ``ConversationIndexes.write(None, c)``
   leaves for a closed conversation: the customer row and the day row). The first 500 go
   through ``write`` itself, to measure that path's rate; the rest write the same rows
   (``permanent_places`` + ``entry``) batched per partition with ``Table.transaction``: the
   live-row deletes ``write`` also issues are no-ops for a closed conversation. With the first
   step (size 0) come the 20,000 customers' ``Contact`` profiles (names with accents) and, as
   the product indexes a profile it creates, their words (``contact_search``). Message
   history rows are not written: they live in per-conversation partitions that none of the
   measured operations reads.
3. At each size, over HTTP as a client would: the agent inbox poll (full, and ``since=`` when
   nothing changed), a customer's message until it is in the inbox of the agent it is offered
   to (polled every 20 ms), a contact search, one ``auto_close`` and one ``distribute`` run
   (``POST /admin/functions/{name}``, as the host lets an operator); and once, for reference,
   the filtered scan the previous code did (``state ne 'closed'`` paged over Conversations).
   Besides wall time: the CPU per call of the devhost and Azurite processes (``/proc``), which
   the other work on a shared machine disturbs far less, and the devhost's storage counters
   per call (``/admin/metering``: table transactions, rows read).

Writes bench/results/scale.json and bench/results/scale.png. Takes about 20 minutes on the
2-core machine. Not asserted in any test: it depends on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import RESULTS, percentile, write_result
from devhost.processes import free_port
from devhost.stack import LocalStack, StackConfig
from messenger_channel.clock import Clock
from messenger_channel.conversations.contacts import contact_id
from messenger_channel.conversations.indexes import (
    ConversationEntry,
    ConversationIndexes,
    entry,
    permanent_places,
)
from messenger_channel.conversations.models import (
    Contact,
    Conversation,
    ConversationTables,
    short_hash,
)
from messenger_channel.storage.tables import (
    MAX_BATCH_OPERATIONS,
    CreateOp,
    Table,
    TableStore,
    UpsertOp,
)
from simulator.client import SimulatorClient

SIZES = (0, 10_000, 50_000, 100_000)
CUSTOMERS = 20_000
OPEN_CONVERSATIONS = 50
AGENTS = 3
WRITE_THREADS = 8
THROUGH_WRITE = 500  # history conversations written through ConversationIndexes.write itself
HISTORY_DAYS = 90
POLLS, ROUNDS, SEARCHES, TIMER_RUNS = 50, 20, 30, 10
SETTLE_SECONDS = 5
OLD_SCANS = 5  # the first is the figure; the others show its spread
POLL_EVERY = 0.02
ROUND_TIMEOUT = 30.0
SEARCH_QUERY = "jos"
TARGET_RATIO = 1.5
MANAGEMENT_KEY = "bench-scale-management-key-" + "0" * 16
PSID_BASE = 7_100_000_000_000_000  # history customers: PSID_BASE + i
LIVE_PSID_BASE = 7_200_000_000_000_000  # customers who write during the bench

FIRST_NAMES = ("José", "Josefa", "Joséphine", "María", "Łukasz", "Zoë", "Chloé", "André",
               "Björn", "Søren", "Renée", "Iñigo", "François", "Noémie", "Jürgen", "Inês",
               "Mateo", "Élodie", "Ana", "Håkon")
LAST_NAMES = ("Álvarez", "Müller", "Núñez", "Gonçalves", "Østergaard", "Kowalski", "Dubois",
              "Pérez", "García", "Lefèvre", "Ström", "Novák", "Şahin", "Jóhannsdóttir",
              "Costa", "Łukaszewicz", "Ibáñez", "Schäfer", "Nováková", "Brontë")
LOCALES = ("en-US", "pt-BR", "es-ES", "fr-FR", "de-DE", "pl-PL")
FIRST_TEXTS = ("Olá, preciso de ajuda com o meu pedido", "Where is my order?",
               "¿Puedo cambiar la dirección de entrega?", "Je n'ai pas reçu ma facture",
               "Mein Paket ist beschädigt angekommen", "Hello, I need to return an item")
LAST_TEXTS = ("Obrigado!", "Thanks, that solved it", "Perfecto, gracias",
              "Merci beaucoup, bonne journée", "Danke für die schnelle Hilfe", "ok 👍")

FIGURES = (
    ("inbox_full", "inbox poll, full (GET /api/agent/conversations)"),
    ("inbox_since", "inbox poll, since= (nothing changed)"),
    ("message_to_inbox", "customer message → in the agent's inbox"),
    ("contact_search", f"contact search (GET /api/agent/contacts?query={SEARCH_QUERY})"),
    ("auto_close_run", "auto_close run (POST /admin/functions/auto_close)"),
    ("distribute_run", "distribute run (POST /admin/functions/distribute)"),
)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def new_id() -> str:
    return str(10**14 + random.SystemRandom().randrange(9 * 10**14))


# ------------------------------------------------------------------------------ failures


@dataclass
class Failures:
    """Every non-2xx answer and failed function run, with the devhost log lines around it."""

    log_dir: Path
    seen: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, answer: httpx.Response, what: str) -> httpx.Response:
        failed_run = (answer.request.url.path.startswith("/admin/functions/")
                      and answer.status_code == 200 and answer.json().get("failed"))
        if answer.is_success and not failed_run:
            return answer
        record = {"what": what, "request": f"{answer.request.method} {answer.request.url}",
                  "status": answer.status_code, "body": answer.text[:2000],
                  "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                  "devhost_log": self.log_tail()}
        with self.lock:
            self.seen.append(record)
        log(f"FAILURE {what}: {record['request']} → {answer.status_code} {answer.text[:300]}")
        return answer

    def log_tail(self, lines: int = 30) -> list[str]:
        path = self.log_dir / "devhost.log"
        if not path.exists():
            return []
        return path.read_text(errors="replace").splitlines()[-lines:]

    def error_lines(self) -> list[str]:
        path = self.log_dir / "devhost.log"
        if not path.exists():
            return []
        return [line for line in path.read_text(errors="replace").splitlines()
                if '"ERROR"' in line or "Traceback" in line or '"CRITICAL"' in line]


# ------------------------------------------------------------------------------ the product


@dataclass
class Seeded:
    account: str
    page_id: str
    queue: str
    workstream: str
    agents: list[dict[str, Any]]  # id, api_key, name
    inboxes: list[httpx.Client]  # /api/agent with each agent's key


class Bench:
    def __init__(self, config: StackConfig, stack: LocalStack, failures: Failures) -> None:
        self.config = config
        self.failures = failures
        auth = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
        self.manage = httpx.Client(base_url=f"{config.devhost_url}/api/manage", headers=auth,
                                   timeout=60)
        self.admin = httpx.Client(base_url=f"{config.devhost_url}/admin", headers=auth,
                                  timeout=300)
        self.simulator = SimulatorClient(config.simulator_url)
        assert stack.storage is not None
        # The devhost's own settings: AzureWebJobsStorage = this connection string, no prefix.
        self.store = TableStore.from_connection_string(stack.storage.connection_string)
        self.tables = ConversationTables(self.store)
        self.indexes = ConversationIndexes(self.store)
        self.clock = Clock()
        self.devhost_pid = next(child.process.pid for child in stack.children
                                if child.name == "devhost" and child.process is not None)
        azurite = stack.azurite._process if stack.azurite is not None else None
        assert azurite is not None
        self.azurite_pid = azurite.pid
        self.live_customers = 0
        self.seeded: Seeded | None = None

    def close(self) -> None:
        for client in (self.seeded.inboxes if self.seeded else []):
            client.close()
        self.manage.close()
        self.admin.close()
        self.simulator.close()
        self.store.close()

    def created(self, answer: httpx.Response, what: str) -> Any:
        self.failures.check(answer, what)
        answer.raise_for_status()
        return answer.json()

    # -------------------------------------------------------------- seeding

    def seed(self) -> Seeded:
        app_id, secret, page_id, token = new_id(), "s" + new_id(), new_id(), "EAA" + new_id()
        self.simulator.put_app(app_id, secret)
        account = self.created(self.manage.post("/accounts", json={
            "name": "Scale", "app_id": app_id, "app_secret": secret}), "create account")["id"]
        self.simulator.put_page(page_id, "Scale", app_id=app_id, access_token=token,
                                account_id=account)
        page = self.created(self.manage.post(f"/accounts/{account}/pages", json={
            "page_id": page_id, "name": "Scale", "access_token": token}), "add page")
        assert page["provisioning_state"] == "Running", page
        queue = self.created(self.manage.post("/queues", json={"name": "Support"}),
                             "create queue")["id"]
        agents = [self.created(self.manage.post("/agents", json={
            "name": f"Agent {n}", "queue_ids": [queue], "capacity": 100,
            "presence": "available"}), "create agent") for n in range(1, AGENTS + 1)]
        workstream = self.created(self.manage.post("/workstreams", json={
            "name": "Scale", "page_id": page_id, "fallback_queue_id": queue,
            "distribution_mode": "push", "capacity_per_conversation": 1}),
            "create workstream")["id"]
        inboxes = [httpx.Client(base_url=f"{self.config.devhost_url}/api/agent", timeout=60,
                                headers={"Authorization": f"Bearer {a['api_key']}"})
                   for a in agents]
        self.seeded = Seeded(account, page_id, queue, workstream, agents, inboxes)
        self.open_conversations(OPEN_CONVERSATIONS)
        return self.seeded

    def new_customer(self) -> str:
        assert self.seeded is not None
        psid = str(LIVE_PSID_BASE + self.live_customers)
        rng = random.Random(self.live_customers)
        self.simulator.put_user(psid, self.seeded.page_id, first_name=rng.choice(FIRST_NAMES),
                                last_name=rng.choice(LAST_NAMES), locale="pt_BR")
        self.live_customers += 1
        return psid

    def say(self, psid: str, text: str) -> None:
        assert self.seeded is not None
        said = self.simulator.say(self.seeded.account, self.seeded.page_id, psid, text)
        if not said.get("ok"):
            self.failures.seen.append({"what": "customer message", "request": "simulator say",
                                       "status": said.get("status"), "body": str(said)[:2000],
                                       "devhost_log": self.failures.log_tail()})
            raise RuntimeError(f"the webhook was refused: {said}")

    def open_conversations(self, count: int) -> None:
        """``count`` customers write; every offer is accepted by the agent it went to."""
        assert self.seeded is not None
        wanted = {self.new_customer() for _ in range(count)}
        for psid in sorted(wanted):
            self.say(psid, "Olá, preciso de ajuda")
        accepted: set[str] = set()
        deadline = time.monotonic() + 180
        while accepted != wanted:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(accepted)} of {count} conversations were offered")
            for inbox in self.seeded.inboxes:
                items = self.created(inbox.get("/conversations", params={"limit": 500}),
                                     "seed: inbox")["items"]
                for item in items:
                    if item["state"] == "offered" and item["psid"] in wanted:
                        self.created(inbox.post(f"/conversations/{item['id']}/accept"),
                                     "seed: accept")
                        accepted.add(item["psid"])
            time.sleep(0.2)
        held = [len(self.created(inbox.get("/conversations", params={"limit": 500}),
                                 "seed: inbox")["items"]) for inbox in self.seeded.inboxes]
        log(f"open conversations held by the agents: {held}")

    # -------------------------------------------------------------- history

    def write_contacts(self, customers: Sequence[Contact]) -> dict[str, Any]:
        """The customers' profiles, their words first (as ``find_or_create_contact`` does)."""
        started = time.monotonic()
        words = self.index_contact_words(customers)
        chunks = [customers[i:i + MAX_BATCH_OPERATIONS]
                  for i in range(0, len(customers), MAX_BATCH_OPERATIONS)]
        contacts = self.tables.contacts
        parallel(lambda chunk: contacts.transaction([CreateOp(c) for c in chunk]), chunks,
                 f"{len(customers)} contacts")
        seconds = time.monotonic() - started
        return {"contacts": len(customers), "word_rows": words, "seconds": round(seconds, 1),
                "contacts_per_s": round(len(customers) / seconds)}

    def index_contact_words(self, customers: Sequence[Contact]) -> int | str:
        try:
            from messenger_channel.conversations import contact_search
        except ImportError:
            log("no contact_search module: contacts written without a word index")
            return "no contact_search module"
        index = contact_search.ContactIndex(self.store, self.clock)
        targets = [contact_search.indexed_profile(c) for c in customers]
        if hasattr(index, "backfill"):  # the same rows as add(), one transaction per partition
            added: int = index.backfill(targets)
            log(f"contact words: {added} rows (ContactIndex.backfill of indexed_profile)")
            return added
        parallel(index.add, targets, "contact words (ContactIndex.add)")
        return "ContactIndex.add per profile"

    def write_history(self, conversations: Sequence[Conversation],
                      through_write: int) -> dict[str, Any]:
        """Closed conversations and their permanent index rows; the first ``through_write``
        through ``ConversationIndexes.write(None, c)`` itself, the rest batched."""
        report: dict[str, Any] = {"conversations": len(conversations)}
        started = time.monotonic()
        literal, rest = conversations[:through_write], conversations[through_write:]
        if literal:
            def one(conversation: Conversation) -> None:
                self.tables.conversations.create(conversation)
                self.indexes.write(None, conversation)

            began = time.monotonic()
            parallel(one, literal, f"{len(literal)} conversations through write()")
            seconds = time.monotonic() - began
            report["through_write"] = {"conversations": len(literal),
                                       "seconds": round(seconds, 1),
                                       "conversations_per_s": round(len(literal) / seconds, 1)}
            log(f"create + ConversationIndexes.write(None, c): {len(literal) / seconds:.0f} "
                f"conversations/s ({WRITE_THREADS} threads)")
        if rest:
            began = time.monotonic()
            conversations_table = self.tables.conversations
            parallel(conversations_table.create, rest, f"{len(rest)} conversations")
            creates = time.monotonic() - began
            groups: dict[tuple[str, str], list[ConversationEntry]] = defaultdict(list)
            for conversation in rest:
                for place in permanent_places(conversation):
                    groups[(place.table, place.partition)].append(entry(conversation, place))
            batches = [(table, rows[i:i + MAX_BATCH_OPERATIONS])
                       for (table, _), rows in groups.items()
                       for i in range(0, len(rows), MAX_BATCH_OPERATIONS)]
            index_tables = self.indexes.tables

            def upsert(batch: tuple[str, list[ConversationEntry]]) -> None:
                index_tables[batch[0]].transaction([UpsertOp(row) for row in batch[1]])

            began_rows = time.monotonic()
            parallel(upsert, batches, f"{2 * len(rest)} index rows in {len(batches)} batches")
            rows = time.monotonic() - began_rows
            report["batched"] = {
                "conversations": len(rest), "create_seconds": round(creates, 1),
                "creates_per_s": round(len(rest) / creates, 1), "index_rows": 2 * len(rest),
                "index_batches": len(batches), "index_seconds": round(rows, 1),
                "index_rows_per_s": round(2 * len(rest) / rows, 1),
                "conversations_per_s": round(len(rest) / (time.monotonic() - began), 1)}
        report["seconds"] = round(time.monotonic() - started, 1)
        self.verify(conversations)
        return report

    def verify(self, conversations: Sequence[Conversation]) -> None:
        """A sample reads back: the conversation and each of its permanent rows."""
        for conversation in random.Random(len(conversations)).sample(
                list(conversations), min(20, len(conversations))):
            stored = self.tables.conversation(conversation.id)
            assert stored is not None, conversation.id
            assert stored.state == "closed", conversation.id
            for place in permanent_places(conversation):
                row = self.indexes.tables[place.table].get(place.partition, place.key)
                assert row is not None, place
                assert row.conversation_id == conversation.id, place

    # -------------------------------------------------------------- measuring

    def probe(self) -> Probe:
        """The devhost's operation counters and the CPU time used so far by the devhost and
        Azurite processes: CPU per call is what an operation costs, whatever else the shared
        machine runs meanwhile (wall time is not)."""
        answer = self.failures.check(self.admin.get("/metering"), "metering")
        return Probe(answer.json()["counters"], process_cpu(self.devhost_pid),
                     process_cpu(self.azurite_pid))

    def measure(self) -> dict[str, Any]:
        assert self.seeded is not None
        result: dict[str, Any] = {}
        inboxes = self.seeded.inboxes
        # Warm-up: a few of each, not counted (caches, connections, Azurite after the writes).
        for inbox in inboxes:
            for _ in range(3):
                inbox.get("/conversations")
        inboxes[0].get("/contacts", params={"query": SEARCH_QUERY})
        self.admin.post("/functions/auto_close")
        self.admin.post("/functions/distribute")

        before = self.probe()
        times, items = [], []
        for n in range(POLLS):
            inbox = inboxes[n % len(inboxes)]
            start = time.perf_counter()
            answer = inbox.get("/conversations")
            times.append(time.perf_counter() - start)
            items.append(len(self.failures.check(answer, "inbox full").json()["items"]))
        result["inbox_full"] = figure(times, POLLS, before, self.probe(),
                                      "operation=GET agent/conversations",
                                      items_per_answer=statistics.fmean(items))

        cursors = [inbox.get("/conversations").json()["since"] for inbox in inboxes]
        before = self.probe()
        times, items = [], []
        for n in range(POLLS):
            inbox = inboxes[n % len(inboxes)]
            start = time.perf_counter()
            answer = inbox.get("/conversations", params={"since": cursors[n % len(inboxes)]})
            times.append(time.perf_counter() - start)
            items.append(len(self.failures.check(answer, "inbox since").json()["items"]))
        result["inbox_since"] = figure(times, POLLS, before, self.probe(),
                                       "operation=GET agent/conversations",
                                       items_per_answer=statistics.fmean(items))

        result["message_to_inbox"] = self.rounds()

        result["contact_search"] = self.search()

        for name in ("auto_close", "distribute"):
            before = self.probe()
            times = []
            for _ in range(TIMER_RUNS):
                start = time.perf_counter()
                answer = self.admin.post(f"/functions/{name}")
                times.append(time.perf_counter() - start)
                self.failures.check(answer, f"{name} run")
            # Its scheduled runs (once a minute) count under the same label: a small excess.
            result[f"{name}_run"] = figure(times, TIMER_RUNS, before, self.probe(),
                                           f"function={name}")
        return result

    def search(self) -> dict[str, Any]:
        assert self.seeded is not None
        inbox = self.seeded.inboxes[0]
        before = self.probe()
        times, items = [], []
        for _ in range(SEARCHES):
            start = time.perf_counter()
            answer = inbox.get("/contacts", params={"query": SEARCH_QUERY})
            times.append(time.perf_counter() - start)
            items.append(len(self.failures.check(answer, "contact search").json()["items"]))
        return figure(times, SEARCHES, before, self.probe(), "operation=GET agent/contacts",
                      items_per_answer=statistics.fmean(items))

    def rounds(self) -> dict[str, Any]:
        """A new customer writes; the clock stops when the conversation is in the inbox of
        the agent it is offered to (every agent's inbox is polled with ``since=`` every
        20 ms, in parallel). Then that agent accepts and closes it: the open set stays."""
        assert self.seeded is not None
        inboxes = self.seeded.inboxes
        before = self.probe()
        delays: list[float] = []
        polls: list[int] = []
        with ThreadPoolExecutor(len(inboxes)) as pool:
            for _ in range(ROUNDS):
                cursors = [inbox.get("/conversations").json()["since"] for inbox in inboxes]
                psid = self.new_customer()
                found: tuple[int, str] | None = None
                count = 0
                start = time.perf_counter()
                self.say(psid, "Olá, preciso de ajuda com o meu pedido")
                while found is None:
                    if time.perf_counter() - start > ROUND_TIMEOUT:
                        raise RuntimeError(f"customer {psid}: not offered in {ROUND_TIMEOUT} s")
                    answers = list(pool.map(
                        lambda pair: pair[0].get("/conversations", params={"since": pair[1]}),
                        zip(inboxes, cursors, strict=True)))
                    count += 1
                    for n, answer in enumerate(answers):
                        for item in self.failures.check(answer, "round: inbox").json()["items"]:
                            if item["psid"] == psid:
                                found = (n, item["id"])
                    if found is None:
                        time.sleep(POLL_EVERY)
                delays.append(time.perf_counter() - start)
                polls.append(count)
                inbox = inboxes[found[0]]
                self.created(inbox.post(f"/conversations/{found[1]}/accept"), "round: accept")
                closed = self.created(inbox.post(f"/conversations/{found[1]}/close"),
                                      "round: close")
                if closed["state"] != "closed":
                    raise RuntimeError(f"closing {found[1]} left it {closed['state']}")
        return figure(delays, ROUNDS, before, self.probe(), "function=router",
                      polls_per_round=statistics.fmean(polls))

    def old_scan(self) -> dict[str, Any]:
        """What the previous code did for the inbox, the queue position, the sweep and
        auto-close: every conversation not closed, by a filtered scan of the whole table."""
        table: Table[Conversation] = self.tables.conversations
        times: list[float] = []
        found = pages = 0
        azurite_before = process_cpu(self.azurite_pid)
        for _ in range(OLD_SCANS):
            start = time.perf_counter()
            found = pages = 0
            cursor = None
            while True:
                page = table.query("state ne @closed", {"closed": "closed"}, page_size=1000,
                                   continuation=cursor)
                found += len(page.items)
                pages += 1
                if page.next is None:
                    break
                cursor = page.next
            times.append(time.perf_counter() - start)
        azurite = (process_cpu(self.azurite_pid) - azurite_before) * 1000 / OLD_SCANS
        return {"ms": round(times[0] * 1000, 1),
                "median_ms": round(statistics.median(times) * 1000, 1),
                "all_ms": [round(t * 1000, 1) for t in times],
                "azurite_cpu_ms_per_scan": round(azurite, 1), "open_found": found,
                "pages": pages, "load_average_1min": round(os.getloadavg()[0], 2)}


@dataclass(frozen=True)
class Probe:
    counters: dict[str, float]
    devhost_cpu_s: float
    azurite_cpu_s: float


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def figure(times: Sequence[float], calls: int, before: Probe, after: Probe, label: str,
           **extra: float) -> dict[str, Any]:
    """Median and p95 in ms; CPU ms per call of the devhost and Azurite processes; storage
    transactions and rows read per call and the function's own time per execution, from the
    devhost's operation counters under ``label``."""
    def counted(name: str) -> float:
        key = f"{name}{{{label}}}"
        return after.counters.get(key, 0) - before.counters.get(key, 0)

    executions = counted("function.executions") or 1
    devhost_cpu = (after.devhost_cpu_s - before.devhost_cpu_s) * 1000 / calls
    azurite_cpu = (after.azurite_cpu_s - before.azurite_cpu_s) * 1000 / calls
    return {"median_ms": round(statistics.median(times) * 1000, 2),
            "p95_ms": round(percentile(list(times), 0.95) * 1000, 2),
            "min_ms": round(min(times) * 1000, 2), "max_ms": round(max(times) * 1000, 2),
            "n": len(times),
            "cpu_ms_per_call": {"devhost": round(devhost_cpu, 2),
                                "azurite": round(azurite_cpu, 2),
                                "total": round(devhost_cpu + azurite_cpu, 2)},
            "table_transactions_per_call": round(counted("table.transactions") / calls, 2),
            "table_rows_read_per_call": round(counted("table.rows") / calls, 2),
            "function_executions_per_call": round(counted("function.executions") / calls, 2),
            "function_wall_ms_per_execution": round(counted("function.wall_ms") / executions,
                                                    2),
            "load_average_1min": round(os.getloadavg()[0], 2),
            **{name: round(value, 2) for name, value in extra.items()}}


def parallel(work: Callable[[Any], object], items: Sequence[Any], what: str) -> None:
    """``work`` over ``items`` on the writer threads, progress every ~10%."""
    if not items:
        return
    done = 0
    step = max(1, len(items) // 10)
    started = time.monotonic()
    lock = threading.Lock()

    def run(item: Any) -> None:
        nonlocal done
        work(item)
        with lock:
            done += 1
            if done % step == 0 or done == len(items):
                rate = done / (time.monotonic() - started)
                log(f"  {what}: {done}/{len(items)} ({rate:.0f}/s)")

    with ThreadPoolExecutor(WRITE_THREADS) as pool:
        for future in [pool.submit(run, item) for item in items]:
            future.result()


# ------------------------------------------------------------------------------ history


def customers(page_id: str, now: datetime, count: int) -> list[Contact]:
    rng = random.Random(13)
    found = []
    for n in range(count):
        psid = str(PSID_BASE + n)
        created = now - timedelta(days=rng.uniform(HISTORY_DAYS, 3 * HISTORY_DAYS))
        found.append(Contact(
            id=contact_id(page_id, psid), page_id=page_id, psid=psid,
            name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            profile_pic=f"https://scontent.example/{psid}.jpg", locale=rng.choice(LOCALES),
            timezone=float(rng.choice((-3, 0, 1, 2))), created_at=created, updated_at=created))
    return found


def history(seeded: Seeded, contacts: Sequence[Contact], total: int,
            now: datetime) -> list[Conversation]:
    """``total`` closed conversations over the last 90 days, each of a random customer;
    ordered by customer, so that one customer's rows of a step share a transaction."""
    rng = random.Random(90)
    agents = [a["id"] for a in seeded.agents]
    owners = sorted(rng.randrange(len(contacts)) for _ in range(total))
    conversations = []
    for n, owner in enumerate(owners):
        contact = contacts[owner]
        created = now - timedelta(seconds=rng.uniform(3 * 3600, HISTORY_DAYS * 86400))
        waiting = created + timedelta(seconds=rng.uniform(0.2, 3))
        offered = waiting + timedelta(seconds=rng.uniform(0.5, 120))
        assigned = offered + timedelta(seconds=rng.uniform(2, 50))
        last_message = assigned + timedelta(minutes=rng.uniform(1, 60))
        closed = last_message + timedelta(minutes=rng.uniform(1, 30))
        agent = rng.choice(agents)
        event = short_hash("message", f"m_history_{n}")
        conversations.append(Conversation(
            id=f"cv_{short_hash(seeded.page_id, contact.psid, event)}",
            page_id=seeded.page_id, psid=contact.psid, contact_id=contact.id,
            workstream_id=seeded.workstream, state="closed", locale=contact.locale or "en-US",
            queue_id=seeded.queue, first_text=rng.choice(FIRST_TEXTS), agent_id=agent,
            offered_to=[], offer_history=[agent], opened_by=event, offers_made=1,
            offered_at=offered, assigned_at=assigned, waiting_since=waiting,
            last_customer_message_at=last_message, last_activity_at=closed,
            closed_at=closed, applied_events=[short_hash("message", f"m_history_{n}_{k}")
                                              for k in range(rng.randint(2, 12))],
            customer_name=contact.name, last_message_preview=rng.choice(LAST_TEXTS),
            created_at=created, updated_at=closed))
    return conversations


# ------------------------------------------------------------------------------ the run


def run(data_dir: Path, sizes: Sequence[int], customer_count: int) -> dict[str, Any]:
    started = time.monotonic()
    phases: dict[str, float] = {}
    # Azurite holds ~350k entities in memory at the end: room for its heap.
    os.environ["NODE_OPTIONS"] = (os.environ.get("NODE_OPTIONS", "")
                                  + " --max-old-space-size=8192").strip()
    config = StackConfig(data_dir=data_dir, devhost_port=free_port(), simulator_port=free_port(),
                         azurite_ports=None, azurite_in_memory=True, log_dir=data_dir / "logs",
                         management_api_key=MANAGEMENT_KEY, demo=False)
    stack = LocalStack(config)
    failures = Failures(data_dir / "logs")
    log("starting the stack (Azurite in memory, simulator, devhost)")
    stack.start()
    bench = Bench(config, stack, failures)
    result: dict[str, Any] = {"sizes": list(sizes), "customers": customer_count,
                              "open_conversations": OPEN_CONVERSATIONS, "agents": AGENTS,
                              "history_days": HISTORY_DAYS, "write_threads": WRITE_THREADS,
                              "calls": {"polls": POLLS, "rounds": ROUNDS,
                                        "searches": SEARCHES, "timer_runs": TIMER_RUNS},
                              "search_query": SEARCH_QUERY, "by_size": {}, "writes": {},
                              "old_scan": {}}
    try:
        phases["stack_start_s"] = time.monotonic() - started
        seeded = bench.seed()
        phases["seed_s"] = time.monotonic() - started - phases["stack_start_s"]
        log(f"seeded: page {seeded.page_id}, queue {seeded.queue}, {AGENTS} agents, "
            f"{OPEN_CONVERSATIONS} open conversations")
        now = datetime.now(UTC)
        contacts = customers(seeded.page_id, now, customer_count)
        everything = history(seeded, contacts, max(sizes), now)
        log(f"history prepared in memory: {len(everything)} closed conversations of "
            f"{len({c.psid for c in everything})} customers over {HISTORY_DAYS} days")
        log("message history rows are not written: they live in per-conversation partitions "
            "that none of the measured operations reads")
        # Before the directory exists: the search over the customers who wrote live only.
        seeded.inboxes[0].get("/contacts", params={"query": SEARCH_QUERY})
        result["contact_search_before_directory"] = bench.search()
        written = 0
        writing = 0.0
        measuring = 0.0
        for size in sizes:
            began = time.monotonic()
            step = everything[written:size]
            if step:
                log(f"history {written} → {size}: writing {len(step)} closed conversations")
                result["writes"][str(size)] = bench.write_history(
                    step, THROUGH_WRITE if written == 0 else 0)
                written = size
            if size == sizes[0]:
                log(f"writing {len(contacts)} customer profiles")
                result["writes"]["contacts"] = bench.write_contacts(contacts)
            writing += time.monotonic() - began
            time.sleep(SETTLE_SECONDS)  # Azurite's garbage collection after the writes
            began = time.monotonic()
            log(f"measuring at {size} closed conversations")
            figures = bench.measure()
            result["old_scan"][str(size)] = bench.old_scan()
            result["by_size"][str(size)] = figures
            measuring += time.monotonic() - began
            print_size(size, figures, result["old_scan"][str(size)])
        phases["writing_s"] = writing
        phases["measuring_s"] = measuring
    finally:
        bench.close()
        result["failures"] = failures.seen
        result["devhost_error_lines"] = failures.error_lines()[:50]
        stack.stop()
    result["ratios"] = ratios(result["by_size"], sizes)
    result["target_ratio"] = TARGET_RATIO
    result["within_target"] = {
        name: {kind: all(r[kind] <= TARGET_RATIO for r in result["ratios"][name].values())
               for kind in ("median", "p95", "cpu")} for name, _ in FIGURES}
    phases["total_s"] = time.monotonic() - started
    result["phases_s"] = {name: round(value, 1) for name, value in phases.items()}
    return result


def ratios(by_size: dict[str, dict[str, Any]],
           sizes: Sequence[int]) -> dict[str, dict[str, dict[str, float]]]:
    """Each figure ÷ its figure at empty history: wall median, wall p95, CPU per call."""
    base = by_size[str(sizes[0])]

    def ratio(value: float, empty: float) -> float:
        return round(value / empty, 2) if empty else float("nan")

    return {name: {size: {"median": ratio(f[name]["median_ms"], base[name]["median_ms"]),
                          "p95": ratio(f[name]["p95_ms"], base[name]["p95_ms"]),
                          "cpu": ratio(f[name]["cpu_ms_per_call"]["total"],
                                       base[name]["cpu_ms_per_call"]["total"])}
                   for size, f in by_size.items()}
            for name, _ in FIGURES}


def print_size(size: int, figures: dict[str, Any], scan: dict[str, Any]) -> None:
    for name, title in FIGURES:
        f = figures[name]
        log(f"  {size:>7} {title}: median {f['median_ms']} ms, p95 {f['p95_ms']} ms, CPU "
            f"{f['cpu_ms_per_call']['total']} ms/call (load {f['load_average_1min']})")
    log(f"  {size:>7} old scan (state ne closed over Conversations): {scan['ms']} ms "
        f"(median of {OLD_SCANS}: {scan['median_ms']} ms; Azurite CPU "
        f"{scan['azurite_cpu_ms_per_scan']} ms), {scan['open_found']} found in "
        f"{scan['pages']} page(s)")


def print_table(result: dict[str, Any]) -> None:
    sizes = [str(s) for s in result["sizes"]]
    by_size, rates = result["by_size"], result["ratios"]
    width = 46

    def header(title: str) -> None:
        line = f"{title:<{width}}" + "".join(f"{int(s):>24,}" for s in sizes)
        print("\n" + line + "\n" + "-" * len(line))

    header("wall ms: median / p95 (× empty median)")
    for name, title in FIGURES:
        print(f"{title[:width - 1]:<{width}}" + "".join(
            f"{by_size[s][name]['median_ms']:>8.1f} /{by_size[s][name]['p95_ms']:>7.1f}"
            f" ×{rates[name][s]['median']:.2f}".rjust(24) for s in sizes))
    print(f"{'old scan (state ne closed), first run':<{width}}"
          + "".join(f"{result['old_scan'][s]['ms']:>24.1f}" for s in sizes))
    print(f"{'old scan, median of ' + str(OLD_SCANS):<{width}}"
          + "".join(f"{result['old_scan'][s]['median_ms']:>24.1f}" for s in sizes))
    header("CPU ms per call, devhost + Azurite (×)")
    for name, title in FIGURES:
        print(f"{title[:width - 1]:<{width}}" + "".join(
            f"{by_size[s][name]['cpu_ms_per_call']['total']:.1f} ×{rates[name][s]['cpu']:.2f}"
            .rjust(24) for s in sizes))
    print(f"{'old scan, Azurite CPU per scan':<{width}}" + "".join(
        f"{result['old_scan'][s]['azurite_cpu_ms_per_scan']:>24.1f}" for s in sizes))
    header("storage per call: transactions / rows read")
    for name, title in FIGURES:
        print(f"{title[:width - 1]:<{width}}" + "".join(
            f"{by_size[s][name]['table_transactions_per_call']:>16.1f} /"
            f"{by_size[s][name]['table_rows_read_per_call']:>6.0f}" for s in sizes))
    header("load average (1 min) while measuring")
    print(f"{'':<{width}}" + "".join(
        f"{by_size[s]['inbox_full']['load_average_1min']:>24.2f}" for s in sizes))


# ------------------------------------------------------------------------------ the plot


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [int(s) for s in result["sizes"]]
    keys = [str(s) for s in sizes]
    by_size = result["by_size"]
    figure_, axes = plt.subplots(2, 4, figsize=(18, 8.5))
    for axis, (name, title) in zip(axes.flat, FIGURES, strict=False):
        medians = [by_size[k][name]["median_ms"] for k in keys]
        p95s = [by_size[k][name]["p95_ms"] for k in keys]
        cpu = [by_size[k][name]["cpu_ms_per_call"]["total"] for k in keys]
        axis.plot(sizes, medians, marker="o", label="wall median")
        axis.plot(sizes, p95s, marker="s", linestyle="--", label="wall p95")
        axis.plot(sizes, cpu, marker="^", linestyle="-.", color="C2",
                  label="CPU per call (devhost + Azurite)")
        axis.axhline(medians[0] * TARGET_RATIO, color="grey", linewidth=0.8, linestyle=":",
                     label="1.5× empty-history median")
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("closed conversations in history")
        axis.set_ylabel("ms")
        axis.set_ylim(bottom=0, top=max([*p95s, *cpu, medians[0] * TARGET_RATIO]) * 1.25)
        axis.ticklabel_format(axis="x", style="plain")
        axis.legend(fontsize=7)
    scan = axes.flat[6]
    scan.plot(sizes, [result["old_scan"][k]["median_ms"] for k in keys], marker="o",
              color="C3", label=f"old: state ne closed, paged scan (median of {OLD_SCANS})")
    scan.plot(sizes, [result["old_scan"][k]["azurite_cpu_ms_per_scan"] for k in keys],
              marker="^", linestyle="-.", color="C3", alpha=0.6,
              label="old scan: Azurite CPU per scan")
    scan.plot(sizes, [by_size[k]["inbox_full"]["median_ms"] for k in keys], marker="o",
              color="C0", label="new: inbox poll (full), wall median")
    scan.plot(sizes, [by_size[k]["inbox_full"]["cpu_ms_per_call"]["azurite"] for k in keys],
              marker="^", linestyle="-.", color="C0", alpha=0.6,
              label="new: inbox poll, Azurite CPU per call")
    scan.set_yscale("log")
    scan.set_title("what the indexes replaced (log scale)", fontsize=9)
    scan.set_xlabel("closed conversations in history")
    scan.set_ylabel("ms (log)")
    scan.ticklabel_format(axis="x", style="plain")
    scan.legend(fontsize=7)
    ratio = axes.flat[7]
    for number, (name, _) in enumerate(FIGURES):
        color = f"C{number}"
        ratio.plot(sizes, [result["ratios"][name][k]["median"] for k in keys], marker=".",
                   color=color, label=f"{name}: wall median")
        ratio.plot(sizes, [result["ratios"][name][k]["cpu"] for k in keys], marker="^",
                   linestyle=":", color=color, alpha=0.7)
    ratio.axhline(TARGET_RATIO, color="grey", linestyle="--", label="target 1.5×")
    ratio.set_title("÷ empty history: wall median (solid), CPU per call (dotted)", fontsize=9)
    ratio.set_xlabel("closed conversations in history")
    ratio.ticklabel_format(axis="x", style="plain")
    ratio.set_ylim(bottom=0)
    ratio.legend(fontsize=6)
    figure_.suptitle("Cost per operation against history (bench/scale.py; 2-core machine "
                     "shared with other work, Azurite in memory, devhost and client on it)",
                     fontsize=10)
    figure_.tight_layout()
    figure_.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="history sizes, cumulative (a smoke run: 0,200,500)")
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--name", default="scale", help="result file name (bench/results/)")
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as data:
        result = run(Path(data), sizes, arguments.customers)
    result["load_average_1_5_15"] = {"at_start": [round(x, 2) for x in load_before],
                                     "at_end": [round(x, 2) for x in os.getloadavg()]}
    path = write_result(arguments.name, result)
    plot(result, RESULTS / f"{arguments.name}.png")
    print_table(result)
    print(f"\nphases (s): {result['phases_s']}")
    if result["failures"]:
        print(f"FAILURES: {len(result['failures'])} (see {path})")
    print(f"written: {path} and {RESULTS / (arguments.name + '.png')}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
