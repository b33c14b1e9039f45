"""``python -m bench.supervision``: the supervisor's list and reports against 100k conversations.

Issue 15. The supervisor's API (``/api/supervisor``) reads the permanent index rows: the
list walks the by-day partitions newest first in small key windows (or, with ``customer=``,
the customers' own partitions), so a page should cost the page, not the history. A report
computes one fact per conversation of its range (``conversations/reports.py``), read through
``ReportDays`` (``conversations/report_days.py``): a past day's facts are kept as one digest
(a few compressed rows of table ``ReportDays``), built from that day's by-day rows the first
time a report asks for the day and again after its generation token changed; today (and a day
over less than ``SETTLE`` ago) is always read from its rows. So a report is *cold* when it
builds its days' digests (it reads every by-day row of its range, as every report did before
the digests, and writes a digest per past day) and *warm* when they are in place (a few
digest rows per past day, plus today's rows).

1. The whole local stack as ``bench/scale.py`` starts it (Azurite in memory, the Messenger
   simulator, the devhost with its background router and timers), seeded through the
   management API: one account, one page, 3 queues, 6 agents (available, capacity 100, each
   in two queues), a supervisor (an agent, then ``PATCH /api/manage/agents/{id}
   {"role": "supervisor"}``: its key opens ``/api/supervisor``), one push workstream.
   Live work through the real path: customers write through the simulator's signed webhook;
   most offers are accepted over the agent API, the last ones are left offered.
2. History of closed conversations over the last 60 days (office hours busier than nights),
   written straight into the stack's Azurite through the product's storage layer, as
   ``bench/scale.py`` batches them (a ``Conversation`` and its permanent index rows,
   ``permanent_places`` + ``entry``, upserted per partition; a dropped connection is
   retried): each with a queue and an agent of that queue, ~10 % abandoned (never
   assigned), ~8 % transferred, a rating on ~20 %, the label ``vip`` on ~5 % (``order``
   ~12 %, ``refund`` ~6 %), and the moments the reports read (``first_waiting_at``,
   ``first_assigned_at``, ``first_response_at``, ``closed_at``) at plausible intervals.
   With the first step come 20,000 customers' ``Contact`` profiles with accented names,
   their words indexed as the product does (``ContactIndex.backfill`` of
   ``indexed_profile``). Written this way, history replaces no generation token (that is
   ``ConversationStore``'s doing), so every digest is removed after each step.
3. At each size (10k, the baseline, then 100k), over HTTP with the supervisor's key: the list
   (default, ``state=closed&queue_id=``, ``label=vip``, ``agent_id=``, the second page by
   its cursor, ``customer=`` a name prefix), the live view (``/queues``, ``/agents``) and the
   30-day report (``group_by=day``, ``group_by=agent``, ``format=csv``), each report twice:
   **cold**, every entity of the stack's ``ReportDays`` table deleted before each repetition
   (through the product's ``TableStore`` on the devhost's connection string, no table prefix,
   as the devhost has it; outside the timed call and its counters), and **warm**, the digests
   the cold calls left in place. Median and p95, the devhost's storage counters per call
   (``/admin/metering``: transactions, rows read, split into by-day rows and digest rows,
   digest writes) and the CPU per call of the devhost and Azurite processes (``/proc``); the
   last cold and warm answers compared, and the medians set against the run before the
   digests (commit 72c6a90).
4. At the largest size, the report's time taken apart in this process on the same Azurite:
   ``cProfile`` of what the route runs (``ReportDays(...).facts`` + ``report``) cold and
   warm; the cold path's phases one by one (the empty digest look-ups, the by-day rows read
   as raw entities, ``from_properties`` into ``ConversationEntry``, ``fact_of``, the digests
   encoded and written, the aggregation) and, as an alternative to its reads (it reads whole
   rows), reading only the columns ``fact_of`` needs (``$select``); the warm path's phases
   (digest rows read, decoded, today's rows, the aggregation) and one whole day read from
   its rows, which is what today adds to a warm report by the evening.

Writes bench/results/supervision.json, .md and .png. About 20 minutes on the 2-core machine
(most of it writing history). Not asserted in any test: it depends on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import math
import os
import pstats
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx

from bench.common import RESULTS, write_result
from bench.scale import (
    FIRST_TEXTS,
    LAST_TEXTS,
    MANAGEMENT_KEY,
    Bench,
    Failures,
    Probe,
    Seeded,
    customers,
    figure,
    log,
    new_id,
    parallel,
    process_cpu,
)
from devhost.processes import free_port
from devhost.stack import LocalStack, StackConfig
from messenger_channel.conversations.indexes import (
    ByDay,
    ConversationEntry,
    entry,
    permanent_places,
)
from messenger_channel.conversations.models import Contact, Conversation, Csat, short_hash
from messenger_channel.conversations.report_days import (
    GENERATION,
    ReportDayRow,
    ReportDays,
    decode,
    encode,
)
from messenger_channel.conversations.report_days import TABLE as REPORT_DAYS_TABLE
from messenger_channel.conversations.reports import Fact, fact_of, report
from messenger_channel.storage.errors import AlreadyExists, StorageUnavailable
from messenger_channel.storage.tables import (
    MAX_BATCH_OPERATIONS,
    MAX_PAGE_SIZE,
    DeleteOp,
    Table,
    UpsertOp,
    entity_size,
    from_properties,
)

T = TypeVar("T")
SIZES = (10_000, 100_000)
CUSTOMERS = 20_000
HISTORY_DAYS = 60
REPORT_DAYS = 30
QUEUES = (("Orders", 0.5), ("Returns", 0.3), ("Billing", 0.2))
AGENT_QUEUES = ((0, 2), (0, 2), (0, 1), (0, 1), (1, 2), (1, 2))  # agent n: its queues
LIVE_ACCEPTED, LIVE_OFFERED = 36, 12
ABANDONED, TRANSFERRED, RATED = 0.10, 0.08, 0.20
LABELS = (("vip", 0.05), ("order", 0.12), ("refund", 0.06))
CUSTOMER_QUERY = "jos"  # José, Josefa, Joséphine: ~15 % of customers (bench/scale.py's)
REPS = {"list": 30, "customer": 15, "report": 5, "report_warm": 15}  # --reps changes them
SETTLE_SECONDS = 5
PAGE = 50  # items per list page (the API's default is 100)
LIST_LABEL = "operation=GET supervisor/conversations"
# The columns ``reports.fact_of`` reads of a by-day row, for the $select variant.
REPORT_COLUMNS = ("created_at", "queue_id", "agent_id", "page_id", "state", "transfers",
                  "first_waiting_at", "first_assigned_at", "first_response_at", "closed_at",
                  "last_agent_message_at", "csat")
# The reports before the digests (every by-day row of the range read each time): the median
# and p95 in ms, the rows read and the CPU ms (devhost + Azurite) per call of commit 72c6a90's
# run (bench/results/supervision.* there), on this machine.
BEFORE_DIGESTS = {
    "10000": {"report_day": (1681.96, 1758.67, 5020, 1714),
              "report_agent": (1683.7, 1712.34, 5027, 1700),
              "report_csv": (1790.01, 2035.05, 5020, 1912)},
    "100000": {"report_day": (17889.47, 18104.47, 49911, 18480),
               "report_agent": (17665.98, 17894.61, 49918, 18260),
               "report_csv": (17753.29, 18311.78, 49911, 18496)}}
REPORTS = (("report_day", "group_by=day", {"group_by": "day"}),
           ("report_agent", "group_by=agent", {"group_by": "agent"}),
           ("report_csv", "format=csv (by day)", {"group_by": "day", "format": "csv"}))
HOURLY = (1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 12, 13, 14, 14, 13, 11, 9, 7, 5, 3, 2, 1)
COMMENTS = ("Muito rápido, obrigado", "Great help", "Tardaron mucho", "Parfait",
            "Nobody answered my question", "Super Service")


@dataclass(frozen=True)
class Operation:
    name: str
    title: str
    path: str
    params: dict[str, str]
    reps: int
    label: str
    kind: str  # list, report_cold, report_warm, live


NOTHING = Probe({}, 0.0, 0.0)


def since(before: Probe, after: Probe) -> Probe:
    """What happened between two probes, as a probe taken from zero."""
    return Probe({name: value - before.counters.get(name, 0)
                  for name, value in after.counters.items()},
                 after.devhost_cpu_s - before.devhost_cpu_s,
                 after.azurite_cpu_s - before.azurite_cpu_s)


def plus(a: Probe, b: Probe) -> Probe:
    return Probe({name: a.counters.get(name, 0) + b.counters.get(name, 0)
                  for name in a.counters.keys() | b.counters.keys()},
                 a.devhost_cpu_s + b.devhost_cpu_s, a.azurite_cpu_s + b.azurite_cpu_s)


def report_counters(window: Probe, label: str, calls: int) -> dict[str, float]:
    """A report's storage work per call by table: by-day rows and digest rows read, digest
    transactions written and their operations (the devhost's ``name{table=T,operation=O}``)."""
    def per_call(name: str, table: str) -> float:
        return window.counters.get(f"{name}{{table={table},{label}}}", 0) / calls

    return {"by_day_rows_read_per_call": per_call("table.rows", ByDay),
            "digest_rows_read_per_call": per_call("table.rows", REPORT_DAYS_TABLE),
            "digest_writes_per_call": per_call("table.batch", REPORT_DAYS_TABLE),
            "digest_write_operations_per_call": per_call("table.batch_operations",
                                                         REPORT_DAYS_TABLE)}


# ------------------------------------------------------------------------------ the product


class SupervisionBench(Bench):
    """``bench.scale.Bench`` (stack clients, history writers, probes) with this issue's
    seeding: three queues, six agents, a supervisor."""

    queues: list[str]
    supervisor: httpx.Client

    def seed(self) -> Seeded:
        app_id, secret, page_id, token = new_id(), "s" + new_id(), new_id(), "EAA" + new_id()
        self.simulator.put_app(app_id, secret)
        account = self.created(self.manage.post("/accounts", json={
            "name": "Supervision", "app_id": app_id, "app_secret": secret}),
            "create account")["id"]
        self.simulator.put_page(page_id, "Supervision", app_id=app_id, access_token=token,
                                account_id=account)
        page = self.created(self.manage.post(f"/accounts/{account}/pages", json={
            "page_id": page_id, "name": "Supervision", "access_token": token}), "add page")
        assert page["provisioning_state"] == "Running", page
        self.queues = [self.created(self.manage.post("/queues", json={"name": name}),
                                    "create queue")["id"] for name, _ in QUEUES]
        agents = [self.created(self.manage.post("/agents", json={
            "name": f"Agent {n + 1}", "queue_ids": [self.queues[q] for q in queues],
            "capacity": 100, "presence": "available"}), "create agent")
            for n, queues in enumerate(AGENT_QUEUES)]
        boss = self.created(self.manage.post("/agents", json={
            "name": "Supervisor", "queue_ids": [], "presence": "offline"}), "create supervisor")
        patched = self.created(self.manage.patch(f"/agents/{boss['id']}",
                                                 json={"role": "supervisor"}),
                               "make a supervisor")
        assert patched["role"] == "supervisor", patched
        self.supervisor = httpx.Client(
            base_url=f"{self.config.devhost_url}/api/supervisor", timeout=300,
            headers={"Authorization": f"Bearer {boss['api_key']}"})
        workstream = self.created(self.manage.post("/workstreams", json={
            "name": "Supervision", "page_id": page_id, "fallback_queue_id": self.queues[0],
            "distribution_mode": "push", "capacity_per_conversation": 1}),
            "create workstream")["id"]
        inboxes = [httpx.Client(base_url=f"{self.config.devhost_url}/api/agent", timeout=60,
                                headers={"Authorization": f"Bearer {a['api_key']}"})
                   for a in agents]
        self.seeded = Seeded(account, page_id, self.queues[0], workstream, agents, inboxes)
        self.open_conversations(LIVE_ACCEPTED)  # accepted: active
        for _ in range(LIVE_OFFERED):  # left as they are: offered, or waiting again
            self.say(self.new_customer(), "Hello, I need to return an item")
        return self.seeded

    def write_history(self, conversations: Sequence[Conversation],
                      through_write: int = 0) -> dict[str, Any]:
        """As ``bench.scale.Bench.write_history`` batches them (a create per conversation, its
        permanent rows upserted per partition), each write retried once or twice when Azurite
        drops the connection (seen once at ~120k entities): both are idempotent here."""
        report: dict[str, Any] = {"conversations": len(conversations)}
        conversations_table = self.tables.conversations
        retried = [0]

        def again(work: Callable[[], object]) -> None:
            for attempt in range(3):
                try:
                    work()
                    return
                except AlreadyExists:
                    if attempt == 0:
                        raise
                    return  # the first attempt landed before its answer was lost
                except StorageUnavailable:
                    if attempt == 2:
                        raise
                    retried[0] += 1
                    time.sleep(1 + attempt)

        began = time.monotonic()
        parallel(lambda c: again(lambda: conversations_table.create(c)), conversations,
                 f"{len(conversations)} conversations")
        creates = time.monotonic() - began
        groups: dict[tuple[str, str], list[ConversationEntry]] = defaultdict(list)
        for conversation in conversations:
            for place in permanent_places(conversation):
                groups[(place.table, place.partition)].append(entry(conversation, place))
        batches = [(table, rows[i:i + MAX_BATCH_OPERATIONS])
                   for (table, _), rows in groups.items()
                   for i in range(0, len(rows), MAX_BATCH_OPERATIONS)]
        index_tables = self.indexes.tables
        began_rows = time.monotonic()
        parallel(lambda batch: again(lambda: index_tables[batch[0]].transaction(
            [UpsertOp(row) for row in batch[1]])), batches,
            f"{2 * len(conversations)} index rows in {len(batches)} batches")
        rows = time.monotonic() - began_rows
        report |= {"create_seconds": round(creates, 1),
                   "creates_per_s": round(len(conversations) / creates, 1),
                   "index_rows": 2 * len(conversations), "index_batches": len(batches),
                   "index_seconds": round(rows, 1),
                   "index_rows_per_s": round(2 * len(conversations) / rows, 1),
                   "retried_writes": retried[0],
                   "seconds": round(time.monotonic() - began, 1)}
        self.verify(conversations)
        return report

    def close(self) -> None:
        with contextlib.suppress(AttributeError):
            self.supervisor.close()
        super().close()

    # -------------------------------------------------------------- measuring

    def operations(self, today: date) -> list[Operation]:
        seeded = self.seeded
        assert seeded is not None
        start = (today - timedelta(days=REPORT_DAYS - 1)).isoformat()
        span = {"from": start, "to": today.isoformat()}
        report_label = "operation=GET supervisor/reports"
        page = {"limit": str(PAGE)}
        cursor = self.ok(self.supervisor.get("/conversations", params=page),
                         "first page")["next"]
        assert cursor, "the default list has no second page"
        agent = seeded.agents[2]["id"]
        return [
            Operation("list_default", f"list, newest first, limit={PAGE}", "/conversations",
                      page, REPS["list"], LIST_LABEL, "list"),
            Operation("list_closed_queue", "list, state=closed&queue_id=Returns",
                      "/conversations", {**page, "state": "closed", "queue_id": self.queues[1]},
                      REPS["list"], LIST_LABEL, "list"),
            Operation("list_label", "list, label=vip (5 %)", "/conversations",
                      {**page, "label": "vip"}, REPS["list"], LIST_LABEL, "list"),
            Operation("list_agent", "list, agent_id=Agent 3", "/conversations",
                      {**page, "agent_id": agent}, REPS["list"], LIST_LABEL, "list"),
            Operation("list_page2", "list, second page (cursor)", "/conversations",
                      {**page, "cursor": cursor}, REPS["list"], LIST_LABEL, "list"),
            Operation("list_customer", f"list, customer={CUSTOMER_QUERY}", "/conversations",
                      {**page, "customer": CUSTOMER_QUERY}, REPS["customer"], LIST_LABEL,
                      "list"),
            Operation("live_queues", "live view, /queues", "/queues", {}, REPS["list"],
                      "operation=GET supervisor/queues", "live"),
            Operation("live_agents", "live view, /agents", "/agents", {}, REPS["list"],
                      "operation=GET supervisor/agents", "live"),
        ] + [Operation(f"{name}_{state}", f"report {REPORT_DAYS} days, {title}, {state}",
                       "/reports", {**span, **params}, REPS[reps], report_label,
                       f"report_{state}")
             for name, title, params in REPORTS
             for state, reps in (("cold", "report"), ("warm", "report_warm"))]

    def ok(self, answer: httpx.Response, what: str) -> Any:
        self.failures.check(answer, what)
        answer.raise_for_status()
        return answer.json()

    def measure_operations(self, operations: Sequence[Operation]) -> dict[str, Any]:
        """Each operation's repetitions; a cold report's digests removed before each of them,
        outside its window (its counters and CPU are summed over the calls alone)."""
        figures: dict[str, Any] = {}
        for operation in operations:  # warm-up: connections, the names cache, Azurite
            self.supervisor.get(operation.path, params=operation.params)
        answers: dict[str, bytes] = {}
        for operation in operations:
            cold = operation.kind == "report_cold"
            window = NOTHING
            before = self.probe()
            times: list[float] = []
            items: list[int] = []
            sizes: list[int] = []
            removed: list[int] = []
            for _ in range(operation.reps):
                if cold:
                    removed.append(self.clear_digests())
                    before = self.probe()
                start = time.perf_counter()
                answer = self.supervisor.get(operation.path, params=operation.params)
                times.append(time.perf_counter() - start)
                if cold:
                    window = plus(window, since(before, self.probe()))
                self.failures.check(answer, operation.name)
                sizes.append(len(answer.content))
                answers[operation.name] = answer.content
                if answer.headers.get("content-type", "").startswith("application/json"):
                    items.append(len(answer.json()["items"]))
                else:  # CSV: a header line, then a row per group
                    items.append(answer.text.count("\r\n") - 1)
            if not cold:
                window = since(before, self.probe())
            extra = {"items_per_answer": statistics.fmean(items),
                     "answer_bytes": statistics.fmean(sizes)}
            if operation.kind.startswith("report"):
                extra |= report_counters(window, operation.label, operation.reps)
            if removed:
                extra["digest_rows_removed_before_each_call"] = statistics.fmean(removed)
            figures[operation.name] = figure(times, operation.reps, NOTHING, window,
                                             operation.label, **extra)
            f = figures[operation.name]
            log(f"  {operation.title}: median {f['median_ms']} ms, p95 {f['p95_ms']} ms, "
                f"{f['table_transactions_per_call']:.0f} transactions, "
                f"{f['table_rows_read_per_call']:.0f} rows read, {f['items_per_answer']:.0f} "
                f"items; CPU devhost {f['cpu_ms_per_call']['devhost']} + Azurite "
                f"{f['cpu_ms_per_call']['azurite']} ms (load {f['load_average_1min']})")
        for name, _, _ in REPORTS:  # the same days, the same facts: the same answer
            if f"{name}_warm" in figures:
                figures[f"{name}_warm"]["same_answer_as_cold"] = (
                    answers[f"{name}_warm"] == answers[f"{name}_cold"])
        return figures

    # -------------------------------------------------------------- the digests

    def digest_table(self) -> Table[ReportDayRow]:
        """The stack's ``ReportDays`` table, as the devhost names it (no table prefix)."""
        return self.store.table(REPORT_DAYS_TABLE, ReportDayRow)

    def digest_rows(self) -> list[ReportDayRow]:
        table, rows, cursor = self.digest_table(), [], None
        while True:
            page = table.query("PartitionKey ge @low", {"low": "0"}, page_size=MAX_PAGE_SIZE,
                               continuation=cursor)
            rows += page.items
            if page.next is None:
                return rows
            cursor = page.next

    def clear_digests(self) -> int:
        """Every entity of ``ReportDays`` deleted (digests and generation tokens: none are
        written here), a transaction per day; how many there were."""
        table = self.digest_table()
        by_day: dict[str, list[DeleteOp]] = defaultdict(list)
        for row in self.digest_rows():
            by_day[row.day].append(DeleteOp(row.day, row.key))
        for operations in by_day.values():
            for i in range(0, len(operations), MAX_BATCH_OPERATIONS):
                table.transaction(operations[i:i + MAX_BATCH_OPERATIONS])
        assert not self.digest_rows(), "ReportDays not empty after clearing it"
        return sum(len(operations) for operations in by_day.values())

    def digest_stats(self) -> dict[str, Any]:
        """What the digests in place hold: days, chunk rows, characters, facts."""
        rows = self.digest_rows()
        chunks: dict[str, list[ReportDayRow]] = defaultdict(list)
        for row in rows:
            if row.key != GENERATION:
                chunks[row.day].append(row)
        facts = sum(len(decode([r.facts or "" for r in sorted(day, key=lambda r: r.key)]))
                    for day in chunks.values())
        characters = sum(len(row.facts or "") for day in chunks.values() for row in day)
        return {"days": len(chunks), "chunk_rows": sum(len(day) for day in chunks.values()),
                "generation_rows": sum(row.key == GENERATION for row in rows),
                "characters": characters, "facts": facts,
                "characters_per_fact": round(characters / facts, 1) if facts else None,
                "max_chunks_per_day": max((len(day) for day in chunks.values()), default=0)}

    def first_pages(self) -> dict[str, Any]:
        """How far back in time a page of the default list and of ``label=vip`` reaches."""
        limit = {"limit": str(PAGE)}
        page = self.ok(self.supervisor.get("/conversations", params=limit),
                       "first page")["items"]
        vip = self.ok(self.supervisor.get("/conversations", params={**limit, "label": "vip"}),
                      "vip page")["items"]

        def reach(items: list[dict[str, Any]]) -> float | None:
            if not items:
                return None
            newest = datetime.fromisoformat(items[0]["created_at"])
            oldest = datetime.fromisoformat(items[-1]["created_at"])
            return round((newest - oldest).total_seconds() / 3600, 2)

        return {"default_page_hours": reach(page), "vip_page_hours": reach(vip),
                "default_items": len(page), "vip_items": len(vip)}

    # -------------------------------------------------------------- the report taken apart

    def dissect_report(self, connection_string: str, today: date) -> dict[str, Any]:
        """The report's time in this process, on the same Azurite: what the route runs, cold
        and warm, under a profile and plain; then the phases of each path, one by one."""
        from azure.data.tables import TableClient

        start_day = today - timedelta(days=REPORT_DAYS - 1)
        days = [start_day + timedelta(days=n) for n in range(REPORT_DAYS)]
        settled = ReportDays(self.store, self.clock).settled
        past = [day for day in days if settled(day)]
        recent = [day for day in days if not settled(day)]  # today: always from its rows
        digests = self.digest_table()
        out: dict[str, Any] = {"days": len(days), "days_from_digests": len(past),
                               "days_from_rows": [day.isoformat() for day in recent]}

        def timed(work: Callable[[], T]) -> tuple[T, float, dict[str, float]]:
            return measured(work, self.azurite_pid)

        def route() -> list[Fact]:
            return ReportDays(self.store, self.clock).facts(start_day, today)

        def profiled() -> tuple[list[Fact], dict[str, Any]]:
            profile = cProfile.Profile()
            profile.enable()
            facts = route()
            report(facts, "day")
            profile.disable()
            return facts, {"profile_top": top_functions(profile, 25),
                           "profile_by_area": by_area(profile)}

        # 1. What the route runs: cold (digests removed first), then warm.
        self.clear_digests()
        cold_facts, out["cold"] = profiled()
        self.clear_digests()
        _, cold_ms, cold_cpu = timed(lambda: report(route(), "day"))
        out["cold"]["route_work_ms"] = {"wall": round(cold_ms, 1), **cold_cpu}
        log(f"  cold (ReportDays.facts + report, {len(cold_facts)} facts): {cold_ms:.0f} ms, "
            f"{cold_cpu}")
        warm_facts, out["warm"] = profiled()
        runs = [timed(lambda: report(route(), "day")) for _ in range(5)]
        middle = sorted(runs, key=lambda run: run[1])[len(runs) // 2]
        out["warm"]["route_work_ms"] = {"wall": round(middle[1], 1), **middle[2],
                                        "runs": len(runs),
                                        "walls": [round(run[1], 1) for run in runs]}
        out["facts"] = len(cold_facts)
        out["warm_facts_equal_cold"] = warm_facts == cold_facts
        out["digests"] = self.digest_stats()
        log(f"  warm: {middle[1]:.0f} ms (median of {len(runs)}), {middle[2]}; digests "
            f"{out['digests']}; warm facts == cold facts: {out['warm_facts_equal_cold']}")

        # 2. The cold path's phases: the digest look-ups (empty), the by-day rows as raw
        # entities, their parsing, their facts, the digests encoded and written, the
        # aggregation.
        self.clear_digests()
        client = TableClient.from_connection_string(connection_string, ByDay)
        try:
            def raw(select: Sequence[str] | None = None) -> dict[date, list[Any]]:
                return {day: list(client.query_entities(
                    "PartitionKey eq @pk", parameters={"pk": day.isoformat()},
                    results_per_page=1000, select=list(select) if select else None))
                    for day in days}

            _, lookup_ms, lookup_cpu = timed(
                lambda: [digests.list_partition(day.isoformat()) for day in past])
            entities, fetch_ms, fetch_cpu = timed(raw)
            rows = sum(len(found) for found in entities.values())
            parsed, parse_ms, parse_cpu = timed(lambda: {
                day: [from_properties(ConversationEntry, e) for e in found]
                for day, found in entities.items()})
            facts, fact_ms, fact_cpu = timed(lambda: {
                day: [fact_of(row) for row in found] for day, found in parsed.items()})
            _, encode_ms, encode_cpu = timed(lambda: [encode(facts[day]) for day in past])
            keeper = ReportDays(self.store, self.clock)

            def keep() -> None:  # what of_day does after reading a day with no digest
                for day in past:
                    keeper._keep(day.isoformat(), "", facts[day], set())

            _, keep_ms, keep_cpu = timed(keep)
            every = [fact for day in days for fact in facts[day]]
            _, aggregate_ms, aggregate_cpu = timed(lambda: report(every, "day"))
            _, agent_ms, _ = timed(lambda: report(every, "agent"))
            out["rows"] = rows
            out["cold"]["phases_ms"] = {
                "digest_lookups_empty": {"wall": round(lookup_ms, 1), **lookup_cpu,
                                         "partitions": len(past)},
                "storage_reads_raw_entities": {"wall": round(fetch_ms, 1), **fetch_cpu},
                "from_properties_to_ConversationEntry": {"wall": round(parse_ms, 1),
                                                         **parse_cpu},
                "fact_of": {"wall": round(fact_ms, 1), **fact_cpu},
                "digests_encoded": {"wall": round(encode_ms, 1), **encode_cpu},
                "digests_encoded_and_written": {"wall": round(keep_ms, 1), **keep_cpu,
                                                "transactions": len(past)},
                "aggregate_group_by_day": {"wall": round(aggregate_ms, 1), **aggregate_cpu},
                "aggregate_group_by_agent_wall": round(agent_ms, 1)}
            every_entity = [e for found in entities.values() for e in found]
            out["properties_per_row"] = round(statistics.fmean(len(e) for e in every_entity), 1)
            out["stored_bytes_per_row"] = round(statistics.fmean(
                entity_size("ConversationEntry", dict(e)) for e in every_entity[:5000]))
            log(f"  cold phases: digest look-ups {lookup_ms:.0f} ms, storage reads "
                f"{fetch_ms:.0f} ms {fetch_cpu}, parse {parse_ms:.0f} ms, facts "
                f"{fact_ms:.0f} ms, encode {encode_ms:.0f} ms, encode + write {keep_ms:.0f} ms, "
                f"aggregate {aggregate_ms:.0f} ms")

            # 2b. The cold path reads whole rows: only the columns fact_of reads ($select).
            narrow, narrow_ms, narrow_cpu = timed(
                lambda: raw((*REPORT_COLUMNS, "PartitionKey", "RowKey")))
            light, light_ms, _ = timed(lambda: [
                fact_of(cast(ConversationEntry, light_row(e)))
                for found in narrow.values() for e in found])
            _, light_aggregate_ms, _ = timed(lambda: report(light, "day"))
            out["select_columns"] = {
                "columns": len(REPORT_COLUMNS), "storage_reads_wall": round(narrow_ms, 1),
                **narrow_cpu, "parse_and_facts_wall": round(light_ms, 1),
                "aggregate_wall": round(light_aggregate_ms, 1),
                "total_wall": round(narrow_ms + light_ms + light_aggregate_ms, 1),
                "same_facts": light == every,
                "properties_per_row": round(statistics.fmean(
                    len(e) for found in narrow.values() for e in found), 1)}
            log(f"  $select of {len(REPORT_COLUMNS)} columns: reads {narrow_ms:.0f} ms, "
                f"parse + facts {light_ms:.0f} ms, aggregate {light_aggregate_ms:.0f} ms")
        finally:
            client.close()

        # 3. The warm path's phases (the digests just written): digest rows read, decoded,
        # the recent days' rows, the aggregation; and a whole day from its rows.
        stored, read_ms, read_cpu = timed(
            lambda: {day: digests.list_partition(day.isoformat()) for day in past})
        decoded, decode_ms, decode_cpu = timed(lambda: {
            day: decode([row.facts or "" for row in sorted(found, key=lambda r: r.key)
                         if row.key != GENERATION]) for day, found in stored.items()})
        fresh, today_ms, today_cpu = timed(
            lambda: [fact_of(row) for day in recent for row in self.indexes.of_day(day)])
        warm_every = [fact for day in past for fact in decoded[day]] + fresh
        _, warm_aggregate_ms, warm_aggregate_cpu = timed(lambda: report(warm_every, "day"))
        yesterday = max(past) if past else start_day
        whole, whole_ms, whole_cpu = timed(
            lambda: [fact_of(row) for row in self.indexes.of_day(yesterday)])
        out["warm"]["phases_ms"] = {
            "digest_rows_read": {"wall": round(read_ms, 1), **read_cpu,
                                 "rows": sum(len(found) for found in stored.values()),
                                 "partitions": len(past)},
            "digests_decoded": {"wall": round(decode_ms, 1), **decode_cpu},
            "recent_rows_read_to_facts": {"wall": round(today_ms, 1), **today_cpu,
                                          "rows": len(fresh)},
            "aggregate_group_by_day": {"wall": round(warm_aggregate_ms, 1),
                                       **warm_aggregate_cpu},
            "one_whole_day_from_rows": {"wall": round(whole_ms, 1), **whole_cpu,
                                        "day": yesterday.isoformat(), "rows": len(whole)}}
        out["warm_phases_facts_equal_cold"] = warm_every == cold_facts
        log(f"  warm phases: digest rows read {read_ms:.0f} ms, decode {decode_ms:.0f} ms, "
            f"today's {len(fresh)} rows {today_ms:.0f} ms, aggregate {warm_aggregate_ms:.0f} "
            f"ms; a whole day ({len(whole)} rows) from its rows {whole_ms:.0f} ms")
        return out


def measured(work: Callable[[], T], azurite_pid: int) -> tuple[T, float, dict[str, float]]:
    """``work``'s value, wall ms, and CPU ms of this process and of Azurite meanwhile."""
    azurite = process_cpu(azurite_pid)
    began = time.perf_counter()
    cpu = time.process_time()
    value = work()
    wall = time.perf_counter() - began
    return value, wall * 1000, {
        "bench_cpu_ms": round((time.process_time() - cpu) * 1000, 1),
        "azurite_cpu_ms": round((process_cpu(azurite_pid) - azurite) * 1000, 1)}


@dataclass
class LightRow:
    """What ``reports.fact_of`` reads of a by-day row, as ``ConversationEntry`` names it."""

    created_at: datetime
    queue_id: str | None
    agent_id: str | None
    page_id: str
    state: str
    transfers: int
    first_waiting_at: datetime | None
    first_assigned_at: datetime | None
    first_response_at: datetime | None
    closed_at: datetime | None
    last_agent_message_at: datetime | None
    csat: Csat | None


def light_row(entity: Any) -> LightRow:
    csat = entity.get("csat")
    return LightRow(**{name: entity.get(name) for name in REPORT_COLUMNS if name != "csat"},
                    csat=None if csat is None else Csat.model_validate_json(csat))


def top_functions(profile: cProfile.Profile, count: int) -> list[dict[str, Any]]:
    stats = pstats.Stats(profile, stream=io.StringIO())
    rows = []
    for (filename, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{short_path(filename)}:{line}({name})", "calls": calls,
                     "tottime_ms": round(tottime * 1000, 1),
                     "cumtime_ms": round(cumtime * 1000, 1)})
    rows.sort(key=lambda r: r["tottime_ms"], reverse=True)
    return rows[:count]


AREAS = (("report digests (report_days.py, orjson, zlib, base64)",
          ("conversations/report_days.py", "orjson", "zlib", "binascii", "base64")),
         ("storage layer (from_properties, pydantic validation)", ("messenger_channel/storage",
                                                                   "pydantic")),
         ("azure SDK (deserialising entities, paging)", ("azure/data/tables", "azure/core")),
         ("HTTP + JSON (requests, urllib3, http.client, json)", ("requests/", "urllib3/",
                                                                 "http/client", "json/",
                                                                 "socket", "ssl")),
         ("the report's facts and aggregation (reports.py)", ("conversations/reports.py",)),
         ("datetime and builtins", ("<built-in", "_strptime", "datetime")))


def by_area(profile: cProfile.Profile) -> dict[str, float]:
    """Own time (tottime) summed by where the function lives."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    areas: dict[str, float] = {}
    total = 0.0
    for (filename, _, name), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        total += tottime
        where = f"{filename} {name}"
        area = next((title for title, marks in AREAS if any(m in where for m in marks)),
                    "other")
        areas[area] = areas.get(area, 0.0) + tottime
    result = {area: round(seconds * 1000, 1) for area, seconds in
              sorted(areas.items(), key=lambda kv: kv[1], reverse=True)}
    result["total"] = round(total * 1000, 1)
    return result


def short_path(filename: str) -> str:
    for mark in ("site-packages/", "messenger_channel/", "lib/python3"):
        if mark in filename:
            return filename[filename.index(mark):]
    return filename


# ------------------------------------------------------------------------------ history


def weighted(rng: random.Random, choices: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([c for c, _ in choices], [w for _, w in choices])[0]


def lognormal_seconds(rng: random.Random, median: float, sigma: float, cap: float) -> float:
    return min(cap, median * math.exp(rng.gauss(0, sigma)))


def history(seeded: Seeded, queues: Sequence[str], contacts: Sequence[Contact], total: int,
            now: datetime) -> list[Conversation]:
    """``total`` closed conversations created over the last ``HISTORY_DAYS`` days (more by day
    than by night), shuffled so that each step of sizes spreads over the whole range."""
    rng = random.Random(15)
    agents = [a["id"] for a in seeded.agents]
    members = {q: [agents[n] for n, qs in enumerate(AGENT_QUEUES) if q in qs]
               for q in range(len(queues))}
    first_day = datetime.combine(now.date() - timedelta(days=HISTORY_DAYS), datetime.min.time(),
                                 UTC)
    latest = now - timedelta(hours=2)
    found: list[Conversation] = []
    while len(found) < total:
        n = len(found)
        created = first_day + timedelta(days=rng.randrange(HISTORY_DAYS + 1),
                                        hours=rng.choices(range(24), HOURLY)[0],
                                        seconds=rng.uniform(0, 3600))
        if created > latest or created < now - timedelta(days=HISTORY_DAYS):
            continue
        contact = contacts[rng.randrange(len(contacts))]
        queue = rng.choices(range(len(queues)), [w for _, w in QUEUES])[0]
        event = short_hash("message", f"m_supervision_{n}")
        waiting = created + timedelta(seconds=rng.uniform(0.5, 5))
        labels = [label for label, share in LABELS if rng.random() < share]
        fields: dict[str, Any] = {"first_waiting_at": waiting, "waiting_since": waiting}
        if rng.random() < ABANDONED:  # nobody took it: the customer left, auto-close closed it
            closed = waiting + timedelta(seconds=lognormal_seconds(rng, 600, 0.6, 6 * 3600))
            offered = [rng.choice(members[queue])] if rng.random() < 0.5 else []
            fields |= {"agent_id": None, "offer_history": offered,
                       "offers_made": len(offered),
                       "offered_at": waiting + timedelta(seconds=5) if offered else None,
                       "last_customer_message_at": waiting + timedelta(seconds=40)}
        else:
            assigned = waiting + timedelta(seconds=lognormal_seconds(rng, 45, 1.0, 3600))
            first_response = assigned + timedelta(
                seconds=lognormal_seconds(rng, 50, 0.9, 1800))
            closed = assigned + timedelta(seconds=max(
                lognormal_seconds(rng, 660, 0.7, 4 * 3600),
                (first_response - assigned).total_seconds() + 60))
            owner = rng.choice(members[queue])
            history_of = [owner]
            transfers = 0
            if rng.random() < TRANSFERRED / (1 - ABANDONED):
                transfers = 2 if rng.random() < 0.2 else 1
                queue = rng.randrange(len(queues))
                others = [a for a in members[queue] if a != owner] or members[queue]
                history_of.append(rng.choice(others))
            rated = rng.random() < RATED / (1 - ABANDONED)
            score = rng.choices((1, 2, 3, 4, 5), (5, 7, 13, 30, 45))[0] if rated else None
            fields |= {
                "agent_id": history_of[-1], "offer_history": list(history_of),
                "agent_history": list(history_of), "offers_made": len(history_of),
                "offered_at": assigned - timedelta(seconds=rng.uniform(2, 30)),
                "assigned_at": assigned, "first_assigned_at": assigned,
                "first_response_at": first_response, "transfers": transfers,
                "last_agent_message_at": closed - timedelta(seconds=rng.uniform(20, 60)),
                "last_customer_message_at": closed - timedelta(seconds=rng.uniform(60, 300)),
                "csat": None if score is None else Csat(
                    score=score, comment=rng.choice(COMMENTS) if rng.random() < 0.3 else None,
                    at=closed + timedelta(seconds=rng.uniform(10, 300)))}
        found.append(Conversation(
            id=f"cv_{short_hash(seeded.page_id, contact.psid, event)}",
            page_id=seeded.page_id, psid=contact.psid, contact_id=contact.id,
            workstream_id=seeded.workstream, state="closed", locale=contact.locale or "en-US",
            queue_id=queues[queue], first_text=rng.choice(FIRST_TEXTS), opened_by=event,
            applied_events=[short_hash("message", f"m_supervision_{n}_{k}")
                            for k in range(rng.randint(2, 8))],
            labels=labels, customer_name=contact.name,
            last_message_preview=rng.choice(LAST_TEXTS), closed_at=closed,
            last_activity_at=closed, created_at=created, updated_at=closed, **fields))
    return found


# ------------------------------------------------------------------------------ the run


def run(data_dir: Path, sizes: Sequence[int], customer_count: int,
        dissect: bool) -> dict[str, Any]:
    started = time.monotonic()
    phases: dict[str, float] = {}
    os.environ["NODE_OPTIONS"] = (os.environ.get("NODE_OPTIONS", "")
                                  + " --max-old-space-size=8192").strip()
    config = StackConfig(data_dir=data_dir, devhost_port=free_port(), simulator_port=free_port(),
                         azurite_ports=None, azurite_in_memory=True, log_dir=data_dir / "logs",
                         management_api_key=MANAGEMENT_KEY, demo=False)
    stack = LocalStack(config)
    failures = Failures(data_dir / "logs")
    log("starting the stack (Azurite in memory, simulator, devhost)")
    stack.start()
    assert stack.storage is not None
    connection_string = stack.storage.connection_string
    bench = SupervisionBench(config, stack, failures)
    result: dict[str, Any] = {
        "sizes": list(sizes), "customers": customer_count, "history_days": HISTORY_DAYS,
        "report_days": REPORT_DAYS, "queues": [name for name, _ in QUEUES],
        "agents": len(AGENT_QUEUES), "live": {"accepted": LIVE_ACCEPTED,
                                              "left_offered": LIVE_OFFERED},
        "shares": {"abandoned": ABANDONED, "transferred": TRANSFERRED, "rated": RATED,
                   "labels": dict(LABELS)},
        "customer_query": CUSTOMER_QUERY, "by_size": {}, "writes": {}, "first_pages": {},
        "digests": {}, "digests_removed_after_writing": {}, "measured_at": {}}
    try:
        seeded = bench.seed()
        phases["start_and_seed_s"] = time.monotonic() - started
        log(f"seeded: page {seeded.page_id}, {len(QUEUES)} queues, {len(AGENT_QUEUES)} agents, "
            f"a supervisor, {LIVE_ACCEPTED} active and {LIVE_OFFERED} offered conversations")
        now = datetime.now(UTC)
        contacts = customers(seeded.page_id, now, customer_count)
        everything = history(seeded, bench.queues, contacts, max(sizes), now)
        rng = random.Random(60)
        rng.shuffle(everything)  # each step spreads over the 60 days
        result["history_mix"] = mix(everything)
        log(f"history prepared: {len(everything)} closed conversations, {result['history_mix']}")
        written, writing, measuring = 0, 0.0, 0.0
        operations: list[Operation] = []
        for size in sizes:
            began = time.monotonic()
            step = sorted(everything[written:size], key=lambda c: c.psid)
            log(f"history {written} → {size}: writing {len(step)} closed conversations")
            result["writes"][str(size)] = bench.write_history(step)
            written = size
            if size == sizes[0]:
                log(f"writing {len(contacts)} customer profiles and their words")
                result["writes"]["contacts"] = bench.write_contacts(contacts)
            writing += time.monotonic() - began
            # The history went around ConversationStore: no token tells the digests it came.
            result["digests_removed_after_writing"][str(size)] = bench.clear_digests()
            time.sleep(SETTLE_SECONDS)  # Azurite's garbage collection after the writes
            began = time.monotonic()
            now = datetime.now(UTC)
            operations = bench.operations(now.date())
            log(f"measuring at {size} closed conversations")
            result["by_size"][str(size)] = bench.measure_operations(operations)
            result["first_pages"][str(size)] = bench.first_pages()
            result["digests"][str(size)] = bench.digest_stats()
            result["measured_at"][str(size)] = now.isoformat(timespec="seconds")
            log(f"  digests in place: {result['digests'][str(size)]}")
            measuring += time.monotonic() - began
        result["operations"] = [{"name": o.name, "title": o.title, "path": o.path,
                                 "params": {k: v for k, v in o.params.items() if k != "cursor"},
                                 "reps": o.reps, "kind": o.kind} for o in operations]
        phases["writing_s"] = writing
        phases["measuring_s"] = measuring
        if dissect:
            began = time.monotonic()
            log(f"the report taken apart at {sizes[-1]} (in this process, same Azurite)")
            result["report_dissected"] = bench.dissect_report(connection_string,
                                                              datetime.now(UTC).date())
            phases["dissecting_s"] = time.monotonic() - began
    finally:
        bench.close()
        result["failures"] = failures.seen
        result["devhost_error_lines"] = failures.error_lines()[:50]
        stack.stop()
    result["ratios"] = ratios(result["by_size"], sizes)
    result["before_digests"] = against_before(result["by_size"])
    phases["total_s"] = time.monotonic() - started
    result["phases_s"] = {name: round(value, 1) for name, value in phases.items()}
    return result


def mix(conversations: Sequence[Conversation]) -> dict[str, float]:
    count = len(conversations) or 1
    return {"abandoned": round(sum(c.agent_id is None for c in conversations) / count, 3),
            "transferred": round(sum(c.transfers > 0 for c in conversations) / count, 3),
            "rated": round(sum(c.csat is not None for c in conversations) / count, 3),
            "vip": round(sum("vip" in c.labels for c in conversations) / count, 3)}


def ratios(by_size: dict[str, dict[str, Any]], sizes: Sequence[int]) -> dict[str, Any]:
    base, last = by_size[str(sizes[0])], by_size[str(sizes[-1])]

    def ratio(value: float, baseline: float) -> float | None:
        return round(value / baseline, 2) if baseline else None

    return {name: {"median": ratio(last[name]["median_ms"], f["median_ms"]),
                   "p95": ratio(last[name]["p95_ms"], f["p95_ms"]),
                   "rows_read": ratio(last[name]["table_rows_read_per_call"],
                                      f["table_rows_read_per_call"]),
                   "transactions": ratio(last[name]["table_transactions_per_call"],
                                         f["table_transactions_per_call"]),
                   "devhost_cpu": ratio(last[name]["cpu_ms_per_call"]["devhost"],
                                        f["cpu_ms_per_call"]["devhost"]),
                   "azurite_cpu": ratio(last[name]["cpu_ms_per_call"]["azurite"],
                                        f["cpu_ms_per_call"]["azurite"])}
            for name, f in base.items()}


def against_before(by_size: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each report's median now, cold and warm, over its median before the digests
    (``BEFORE_DIGESTS``: the same bench at commit 72c6a90, same machine) at the same size."""
    found: dict[str, Any] = {}
    for size, figures in by_size.items():
        for name, (median_ms, p95_ms, rows, cpu_ms) in BEFORE_DIGESTS.get(size, {}).items():
            entry = {"before_median_ms": median_ms, "before_p95_ms": p95_ms,
                     "before_rows_read": rows, "before_cpu_ms": cpu_ms}
            for state in ("cold", "warm"):
                now = figures.get(f"{name}_{state}")
                if now is not None:
                    entry[f"{state}_over_before_median"] = round(now["median_ms"] / median_ms, 3)
                    entry[f"{state}_over_before_cpu"] = round(
                        now["cpu_ms_per_call"]["total"] / cpu_ms, 3)
            found.setdefault(size, {})[name] = entry
    return found


# ------------------------------------------------------------------------------ output


def print_table(result: dict[str, Any]) -> None:
    sizes = [str(s) for s in result["sizes"]]
    titles = {o["name"]: o["title"] for o in result["operations"]}
    width = 44
    head = (f"{'operation':<{width}}" + "".join(f"{int(s):>22,}" for s in sizes)
            + f"{'ratio med/p95/rows':>22}")
    print("\nmedian / p95 ms, rows read per call\n" + head + "\n" + "-" * len(head))
    for name, title in titles.items():
        r = result["ratios"][name]
        print(f"{title[:width - 1]:<{width}}" + "".join(
            f"{result['by_size'][s][name]['median_ms']:>8.1f} /"
            f"{result['by_size'][s][name]['p95_ms']:>7.1f} /"
            f"{result['by_size'][s][name]['table_rows_read_per_call']:>5.0f}" for s in sizes)
            + f"{r['median']} / {r['p95']} / {r['rows_read']}".rjust(22))


def markdown(result: dict[str, Any]) -> str:
    sizes = [str(s) for s in result["sizes"]]
    base, last = sizes[0], sizes[-1]
    by_size, rates = result["by_size"], result["ratios"]
    k = {s: f"{int(s) // 1000}k" for s in sizes}
    lines = [
        "# The supervisor's list and reports against history (`bench/supervision.py`, issue 15)",
        "",
        "**Method.** `.venv/bin/python -m bench.supervision` starts the local stack (Azurite in "
        "memory, simulator, devhost with its router and timers), seeds it through the "
        f"management API (one account and page, {len(result['queues'])} queues, "
        f"{result['agents']} agents, a supervisor made with `PATCH /api/manage/agents/{{id}} "
        '{"role": "supervisor"}`, a push workstream), and opens live work through the '
        f"simulator's webhook ({result['live']['accepted']} accepted, "
        f"{result['live']['left_offered']} left offered). History: "
        f"{int(last):,} closed conversations over the last {result['history_days']} days "
        "(busier by day), written through the product's storage layer as `bench/scale.py` "
        "does (a `Conversation` + its customer and day index rows) with "
        f"{result['history_mix']['abandoned']:.0%} abandoned, "
        f"{result['history_mix']['transferred']:.0%} transferred, "
        f"{result['history_mix']['rated']:.0%} rated, "
        f"{result['history_mix']['vip']:.0%} labelled `vip`; "
        f"{result['customers']:,} customer profiles with indexed names. Measured at "
        f"{int(base):,} (baseline) and {int(last):,} over HTTP with the supervisor's key; "
        "rows read and transactions are the devhost's counters per call (`/admin/metering`); "
        f"reports cover {result['report_days']} days (`from`=today−29, `to`=today). A report "
        "reads a past day from its digest (table `ReportDays`, "
        "`conversations/report_days.py`) and today from its rows. Each report is measured "
        "**cold**: before each repetition every entity of the stack's `ReportDays` table is "
        "deleted through the product's `TableStore` (the devhost's connection string, no "
        "table prefix), outside the timed call and its counters, so the call reads every "
        "by-day row of the range and writes a digest per past day; and **warm**: the "
        "digests the cold calls left in place (the normal case). As the history is written "
        "around `ConversationStore`, which replaces the days' generation tokens, every "
        "digest is also removed after each step of history.",
        "",
        f"| operation | median ms {k[base]} → {k[last]} | p95 ms {k[base]} → {k[last]} | "
        f"rows read {k[base]} → {k[last]} | transactions | ratio median / p95 | "
        "Azurite CPU ms |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for operation in result["operations"]:
        name = operation["name"]
        a, b, r = by_size[base][name], by_size[last][name], rates[name]
        lines.append(
            f"| {operation['title']} (n={operation['reps']}) | {a['median_ms']:.1f} → "
            f"{b['median_ms']:.1f} | {a['p95_ms']:.1f} → {b['p95_ms']:.1f} | "
            f"{a['table_rows_read_per_call']:.0f} → {b['table_rows_read_per_call']:.0f} | "
            f"{a['table_transactions_per_call']:.0f} → {b['table_transactions_per_call']:.0f} | "
            f"{r['median']} / {r['p95']} | {a['cpu_ms_per_call']['azurite']:.0f} → "
            f"{b['cpu_ms_per_call']['azurite']:.0f} |")
    lines += reports_section(result)
    loads = [by_size[s][n]["load_average_1min"] for s in sizes for n in by_size[s]]
    lines += ["", f"1-minute load while measuring: {min(loads)}–{max(loads)} (2 cores, shared "
              "with other engineers' work). Phases (s): " + ", ".join(
                  f"{name} {value}" for name, value in result["phases_s"].items()) + "."]
    dissected = result.get("report_dissected")
    if dissected:
        lines += dissection_section(result, dissected)
    if result["failures"]:
        lines += ["", f"**Failures:** {len(result['failures'])} (see supervision.json)."]
    return "\n".join(lines) + "\n"


def reports_section(result: dict[str, Any]) -> list[str]:
    """The reports cold and warm beside the same bench's before the digests."""
    before = result.get("before_digests", {})
    lines = ["", f"**The {result['report_days']}-day reports, cold and warm, against the same "
             "bench before the digests** (commit 72c6a90, same machine: every by-day row of "
             "the range read by every report). Rows read per call: by-day rows + digest rows; "
             "digest writes: transactions per call (one per past day). CPU: ms per call of the "
             "devhost and Azurite processes together, which the other work on the shared "
             "machine disturbs less than the wall time.", "",
             "| report | size | before: median / p95 ms (rows) | cold: median / p95 ms | "
             "cold rows read (writes) | warm: median / p95 ms | warm rows read | "
             "cold / before | warm / before | CPU ms before → cold / warm | "
             "warm answer = cold |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size in (str(s) for s in result["sizes"]):
        figures = result["by_size"][size]
        for name, title, _ in REPORTS:
            cold, warm = figures[f"{name}_cold"], figures[f"{name}_warm"]
            then = before.get(size, {}).get(name)
            was = (f"{then['before_median_ms']:.0f} / {then['before_p95_ms']:.0f} "
                   f"({then['before_rows_read']:,})" if then else "–")
            lines.append(
                f"| {title} | {int(size):,} | {was} | {cold['median_ms']:.0f} / "
                f"{cold['p95_ms']:.0f} | {cold['by_day_rows_read_per_call']:,.0f} + "
                f"{cold['digest_rows_read_per_call']:,.0f} "
                f"({cold['digest_writes_per_call']:.0f}) | {warm['median_ms']:.1f} / "
                f"{warm['p95_ms']:.1f} | {warm['by_day_rows_read_per_call']:,.0f} + "
                f"{warm['digest_rows_read_per_call']:,.0f} | "
                + (f"{then['cold_over_before_median']:.2f} | "
                   f"{then['warm_over_before_median']:.3f} "
                   f"(1/{1 / then['warm_over_before_median']:.0f}) | "
                   f"{then['before_cpu_ms']:,} → " if then else "– | – | ")
                + f"{cold['cpu_ms_per_call']['total']:,.0f} / "
                f"{warm['cpu_ms_per_call']['total']:,.0f} |"
                + f" {'yes' if warm.get('same_answer_as_cold') else 'NO'} |")
    for size, digests in result.get("digests", {}).items():
        lines.append("")
        lines.append(
            f"Digests in place at {int(size):,} (measured from "
            f"{result['measured_at'][size][11:16]} UTC): {digests['days']} days, "
            f"{digests['chunk_rows']} chunk rows, {digests['characters']:,} characters for "
            f"{digests['facts']:,} facts ({digests['characters_per_fact']} a fact), at most "
            f"{digests['max_chunks_per_day']} chunk(s) a day, {digests['generation_rows']} "
            "generation rows.")
    lines += ["", "A warm report still reads today's rows, and today was young when this "
              "ran (see the time above; history is busier by day): by the evening a warm "
              "report reads about one more day of rows (the \"whole day from its rows\" "
              "line below)."]
    return lines


def dissection_section(result: dict[str, Any], dissected: dict[str, Any]) -> list[str]:
    last = result["sizes"][-1]
    cold, warm = dissected["cold"], dissected["warm"]
    phases, select = cold["phases_ms"], dissected["select_columns"]
    warm_phases = warm["phases_ms"]

    def row(title: str, figures: dict[str, Any]) -> str:
        return (f"| {title} | {figures['wall']} | {figures['bench_cpu_ms']} | "
                f"{figures['azurite_cpu_ms']} |")

    head = ["| phase | wall ms | bench CPU ms | Azurite CPU ms |", "| --- | --- | --- | --- |"]
    lines = [
        "", f"**The {result['report_days']}-day report taken apart** at {last:,} "
        f"({dissected['rows']:,} by-day rows, {dissected['days_from_digests']} past days from "
        "digests and today from its rows; in the bench process on the same Azurite). "
        "Cold: every digest removed first.", "", *head,
        row("what the route runs cold (`ReportDays(...).facts` + `report`, no profiler)",
            cold["route_work_ms"]),
        row(f"digest partitions looked up ({phases['digest_lookups_empty']['partitions']}, "
            "empty)", phases["digest_lookups_empty"]),
        row("storage reads of the by-day rows, raw SDK entities",
            phases["storage_reads_raw_entities"]),
        row("`from_properties` → `ConversationEntry`",
            phases["from_properties_to_ConversationEntry"]),
        row("`fact_of` → `Fact`", phases["fact_of"]),
        row("digests encoded (orjson, zlib, base64)", phases["digests_encoded"]),
        row("digests encoded and written (`ReportDays._keep`, "
            f"{phases['digests_encoded_and_written']['transactions']} transactions)",
            phases["digests_encoded_and_written"]),
        row("aggregation, group_by=day", phases["aggregate_group_by_day"]),
        f"| alternative reads: `$select` of the {select['columns']} columns `fact_of` reads, "
        f"+ parse + facts + aggregation | {select['total_wall']} (reads "
        f"{select['storage_reads_wall']}) | {select['bench_cpu_ms']} (reads) | "
        f"{select['azurite_cpu_ms']} (reads) |",
        "", "Warm: the digests in place.", "", *head,
        row(f"what the route runs warm (median of {warm['route_work_ms']['runs']}, no "
            "profiler)", warm["route_work_ms"]),
        row(f"digest rows read ({warm_phases['digest_rows_read']['rows']} rows of "
            f"{warm_phases['digest_rows_read']['partitions']} partitions, `list_partition`)",
            warm_phases["digest_rows_read"]),
        row("digests decoded (base64, zlib, orjson → `Fact`)", warm_phases["digests_decoded"]),
        row(f"today's rows read → `Fact` ({warm_phases['recent_rows_read_to_facts']['rows']} "
            "rows)", warm_phases["recent_rows_read_to_facts"]),
        row("aggregation, group_by=day", warm_phases["aggregate_group_by_day"]),
        row("for scale: one whole day from its rows "
            f"({warm_phases['one_whole_day_from_rows']['day']}, "
            f"{warm_phases['one_whole_day_from_rows']['rows']:,} rows), what today adds by "
            "the evening", warm_phases["one_whole_day_from_rows"]),
        "", f"A by-day row carries {dissected['properties_per_row']} properties; `fact_of` "
        f"reads {select['columns']}, so the cold path's reads move about "
        f"{dissected['properties_per_row'] / select['properties_per_row']:.1f}× the "
        "properties it needs. Same facts warm as cold: "
        f"{'yes' if dissected['warm_facts_equal_cold'] else 'NO'} (through the route), "
        f"{'yes' if dissected['warm_phases_facts_equal_cold'] else 'NO'} (phase by phase); "
        f"`$select` gives the same facts: {'yes' if select['same_facts'] else 'NO'}.",
        "", "Own time by area under cProfile (ms), cold: " + ", ".join(
            f"{area} {ms}" for area, ms in cold["profile_by_area"].items())
        + "; warm: " + ", ".join(
            f"{area} {ms}" for area, ms in warm["profile_by_area"].items()) + "."]
    return lines


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [str(s) for s in result["sizes"]]
    operations = result["operations"]
    names = [o["name"] for o in operations]
    by_size = result["by_size"]
    figure_, (wall, rows) = plt.subplots(2, 1, figsize=(16, 10), sharex=True)
    width = 0.8 / (2 * len(sizes))
    positions = range(len(names))
    for n, size in enumerate(sizes):
        label = f"{int(size) // 1000}k"
        medians = [by_size[size][name]["median_ms"] for name in names]
        p95s = [by_size[size][name]["p95_ms"] for name in names]
        offset = (2 * n - len(sizes)) * width + width / 2
        wall.bar([p + offset for p in positions], medians, width, color=f"C{n}",
                 label=f"median, {label}")
        wall.bar([p + offset + width for p in positions], p95s, width, color=f"C{n}",
                 alpha=0.45, hatch="//", label=f"p95, {label}")
        before = result.get("before_digests", {}).get(size, {})
        marks = [(p + offset + width / 2, before[name.rsplit("_", 1)[0]]["before_median_ms"])
                 for p, name in zip(positions, names, strict=True)
                 if name.rsplit("_", 1)[0] in before]
        if marks:
            wall.scatter([x for x, _ in marks], [y for _, y in marks], marker="_", s=300,
                         linewidths=2.5, color="black", zorder=3,
                         label="median before the digests (72c6a90)" if n == 0 else None)
        rows.bar([p + n * width * 2 - width for p in positions],
                 [max(0.5, by_size[size][name]["table_rows_read_per_call"]) for name in names],
                 width * 2, color=f"C{n}", label=f"rows read per call, {label}")
    wall.set_yscale("log")
    wall.set_ylabel("ms (log)")
    wall.set_title("wall time per call over HTTP, supervisor's key (reports: cold = every "
                   "digest removed before each call, warm = digests in place)", fontsize=10)
    wall.legend(fontsize=8, ncol=3)
    rows.set_yscale("log")
    rows.set_ylabel("table rows read per call (log)")
    rows.set_title("storage rows read per call (devhost counters; reports: by-day rows + "
                   "digest rows)", fontsize=10)
    rows.legend(fontsize=8)
    rows.set_xticks(list(positions))
    rows.set_xticklabels([o["title"].replace(", ", ",\n", 1) for o in operations],
                         rotation=30, ha="right", fontsize=8)
    figure_.suptitle(f"Supervisor's list and {result['report_days']}-day reports at "
                     f"{' and '.join(f'{int(s):,}' for s in sizes)} closed conversations "
                     "(bench/supervision.py; 2-core machine, Azurite in memory)", fontsize=10)
    figure_.tight_layout()
    figure_.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="history sizes, cumulative; the first is the baseline "
                             "(a smoke run: 500,2000)")
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--reps", default=",".join(map(str, REPS.values())),
                        help="repetitions: list and live view, customer filter, reports "
                             "cold, reports warm")
    parser.add_argument("--no-dissect", action="store_true",
                        help="skip taking the report apart at the largest size")
    parser.add_argument("--name", default="supervision", help="result file name (bench/results/)")
    arguments = parser.parse_args()
    REPS.update(zip(REPS, (int(n) for n in arguments.reps.split(",")), strict=True))
    sizes = [int(size) for size in arguments.sizes.split(",")]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-supervision-") as data:
        result = run(Path(data), sizes, arguments.customers, not arguments.no_dissect)
    result["load_average_1_5_15"] = {"at_start": [round(x, 2) for x in load_before],
                                     "at_end": [round(x, 2) for x in os.getloadavg()]}
    path = write_result(arguments.name, result)
    (RESULTS / f"{arguments.name}.md").write_text(markdown(result))
    written = [path, RESULTS / f"{arguments.name}.md"]
    try:
        plot(result, RESULTS / f"{arguments.name}.png")
        written.append(RESULTS / f"{arguments.name}.png")
    except ImportError:
        log("no matplotlib: no plot (pip install -r bench/requirements.txt)")
    print_table(result)
    print(f"\nphases (s): {result['phases_s']}")
    if result["failures"]:
        print(f"FAILURES: {len(result['failures'])} (see {path})")
    print("written: " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
