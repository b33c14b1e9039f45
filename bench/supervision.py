"""``python -m bench.supervision``: the supervisor's list and reports against 100k conversations.

Issue 15. The supervisor's API (``/api/supervisor``) reads the permanent index rows: the
list walks the by-day partitions newest first in small key windows (or, with ``customer=``,
the customers' own partitions), so a page should cost the page, not the history; a report
reads every by-day row of its range (``conversations/reports.py``), so it grows with the
conversations of the range, by design.

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
   ``indexed_profile``).
3. At each size (10k, the baseline, then 100k), over HTTP with the supervisor's key: the list
   (default, ``state=closed&queue_id=``, ``label=vip``, ``agent_id=``, the second page by
   its cursor, ``customer=`` a name prefix), the 30-day report (``group_by=day``,
   ``group_by=agent``, ``format=csv``), the live view (``/queues``, ``/agents``): median and
   p95, the devhost's storage counters per call (``/admin/metering``: transactions, rows
   read) and the CPU per call of the devhost and Azurite processes (``/proc``).
4. At the largest size, the report's time taken apart in this process on the same Azurite:
   ``cProfile`` of what the route runs (``rows_of`` + ``report``), then the phases one by
   one (storage reads as raw entities, ``from_properties`` into ``ConversationEntry``, the
   aggregation) and two alternatives measured, not guessed: reading only the columns the
   report needs (``$select``), and point reads of one summary row per day.

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
from typing import Any

import httpx

from bench.common import RESULTS, write_result
from bench.scale import (
    FIRST_TEXTS,
    LAST_TEXTS,
    MANAGEMENT_KEY,
    Bench,
    Failures,
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
from messenger_channel.conversations.reports import report, rows_of
from messenger_channel.storage.errors import AlreadyExists, StorageUnavailable
from messenger_channel.storage.tables import (
    MAX_BATCH_OPERATIONS,
    UpsertOp,
    entity_size,
    from_properties,
)

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
REPS = {"list": 30, "customer": 15, "report": 5}  # repetitions; --reps changes them
SETTLE_SECONDS = 5
PAGE = 50  # items per list page (the API's default is 100)
LIST_LABEL = "operation=GET supervisor/conversations"
# The columns the report reads (reports.summarise and group_key), for the $select variant.
REPORT_COLUMNS = ("created_at", "queue_id", "agent_id", "page_id", "state", "transfers",
                  "first_waiting_at", "first_assigned_at", "first_response_at", "closed_at",
                  "last_agent_message_at", "csat")
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
    kind: str  # list, report, live


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
            Operation("report_day", f"report {REPORT_DAYS} days, group_by=day", "/reports",
                      {**span, "group_by": "day"}, REPS["report"], report_label, "report"),
            Operation("report_agent", f"report {REPORT_DAYS} days, group_by=agent",
                      "/reports", {**span, "group_by": "agent"}, REPS["report"], report_label,
                      "report"),
            Operation("report_csv", f"report {REPORT_DAYS} days, format=csv (by day)",
                      "/reports", {**span, "group_by": "day", "format": "csv"}, REPS["report"],
                      report_label, "report"),
            Operation("live_queues", "live view, /queues", "/queues", {}, REPS["list"],
                      "operation=GET supervisor/queues", "live"),
            Operation("live_agents", "live view, /agents", "/agents", {}, REPS["list"],
                      "operation=GET supervisor/agents", "live"),
        ]

    def ok(self, answer: httpx.Response, what: str) -> Any:
        self.failures.check(answer, what)
        answer.raise_for_status()
        return answer.json()

    def measure_operations(self, operations: Sequence[Operation]) -> dict[str, Any]:
        figures: dict[str, Any] = {}
        for operation in operations:  # warm-up: connections, the names cache, Azurite
            self.supervisor.get(operation.path, params=operation.params)
        for operation in operations:
            before = self.probe()
            times: list[float] = []
            items: list[int] = []
            sizes: list[int] = []
            for _ in range(operation.reps):
                start = time.perf_counter()
                answer = self.supervisor.get(operation.path, params=operation.params)
                times.append(time.perf_counter() - start)
                self.failures.check(answer, operation.name)
                sizes.append(len(answer.content))
                if answer.headers.get("content-type", "").startswith("application/json"):
                    items.append(len(answer.json()["items"]))
                else:  # CSV: a header line, then a row per group
                    items.append(answer.text.count("\r\n") - 1)
            figures[operation.name] = figure(
                times, operation.reps, before, self.probe(), operation.label,
                items_per_answer=statistics.fmean(items),
                answer_bytes=statistics.fmean(sizes))
            f = figures[operation.name]
            log(f"  {operation.title}: median {f['median_ms']} ms, p95 {f['p95_ms']} ms, "
                f"{f['table_transactions_per_call']:.0f} transactions, "
                f"{f['table_rows_read_per_call']:.0f} rows read, {f['items_per_answer']:.0f} "
                f"items; CPU devhost {f['cpu_ms_per_call']['devhost']} + Azurite "
                f"{f['cpu_ms_per_call']['azurite']} ms (load {f['load_average_1min']})")
        return figures

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
        """The report's time in this process, on the same Azurite: a profile of what the route
        runs, then its phases, then two alternatives."""
        from azure.data.tables import TableClient

        start_day = today - timedelta(days=REPORT_DAYS - 1)
        days = [start_day + timedelta(days=n) for n in range(REPORT_DAYS)]
        out: dict[str, Any] = {}

        def timed(work: Callable[[], Any]) -> tuple[Any, float, dict[str, float]]:
            azurite = process_cpu(self.azurite_pid)
            began = time.perf_counter()
            cpu = time.process_time()
            value = work()
            wall = time.perf_counter() - began
            return value, wall * 1000, {
                "bench_cpu_ms": round((time.process_time() - cpu) * 1000, 1),
                "azurite_cpu_ms": round((process_cpu(self.azurite_pid) - azurite) * 1000, 1)}

        # 1. What the route runs, under cProfile (one run) and plain (best of 3).
        profile = cProfile.Profile()
        profile.enable()
        rows = rows_of(self.store, start_day, today)
        report(rows, "day")
        profile.disable()
        out["rows"] = len(rows)
        out["profile_top"] = top_functions(profile, 25)
        out["profile_by_area"] = by_area(profile)
        best = timed(lambda: report(rows_of(self.store, start_day, today), "day"))
        out["route_work_ms"] = {"wall": round(best[1], 1), **best[2]}
        log(f"  report work in process (rows_of + report, {len(rows)} rows): "
            f"{best[1]:.0f} ms, {best[2]}")

        # 2. The phases: raw entities from storage, their parsing, the aggregation.
        client = TableClient.from_connection_string(connection_string, ByDay)
        try:
            def raw(select: Sequence[str] | None = None) -> list[Any]:
                found: list[Any] = []
                for day in days:
                    found += list(client.query_entities(
                        "PartitionKey eq @pk", parameters={"pk": day.isoformat()},
                        results_per_page=1000, select=list(select) if select else None))
                return found

            entities, fetch_ms, fetch_cpu = timed(raw)
            parsed, parse_ms, parse_cpu = timed(
                lambda: [from_properties(ConversationEntry, e) for e in entities])
            _, aggregate_ms, aggregate_cpu = timed(lambda: report(parsed, "day"))
            _, agent_ms, _ = timed(lambda: report(parsed, "agent"))
            out["phases_ms"] = {
                "storage_reads_raw_entities": {"wall": round(fetch_ms, 1), **fetch_cpu},
                "from_properties_to_ConversationEntry": {"wall": round(parse_ms, 1),
                                                         **parse_cpu},
                "aggregate_group_by_day": {"wall": round(aggregate_ms, 1), **aggregate_cpu},
                "aggregate_group_by_agent_wall": round(agent_ms, 1)}
            out["properties_per_row"] = round(statistics.fmean(len(e) for e in entities), 1)
            out["stored_bytes_per_row"] = round(statistics.fmean(
                entity_size("ConversationEntry", dict(e)) for e in entities[:5000]))
            log(f"  phases: storage reads {fetch_ms:.0f} ms {fetch_cpu}, parse "
                f"{parse_ms:.0f} ms, aggregate {aggregate_ms:.0f} ms")

            # 3a. Only the columns the report reads ($select), parsed the same way.
            narrow, narrow_ms, narrow_cpu = timed(
                lambda: raw((*REPORT_COLUMNS, "PartitionKey", "RowKey")))
            light, light_ms, _ = timed(lambda: [light_row(e) for e in narrow])
            _, light_aggregate_ms, _ = timed(lambda: report(light, "day"))
            out["select_columns"] = {
                "columns": len(REPORT_COLUMNS), "storage_reads_wall": round(narrow_ms, 1),
                **narrow_cpu, "parse_wall": round(light_ms, 1),
                "aggregate_wall": round(light_aggregate_ms, 1),
                "total_wall": round(narrow_ms + light_ms + light_aggregate_ms, 1),
                "properties_per_row": round(statistics.fmean(len(e) for e in narrow), 1)}
            log(f"  $select of {len(REPORT_COLUMNS)} columns: reads {narrow_ms:.0f} ms, "
                f"parse {light_ms:.0f} ms, aggregate {light_aggregate_ms:.0f} ms")

            # 3b. A summary row per day: 30 point reads (measured on rows that exist).
            keys = [(e["PartitionKey"], e["RowKey"]) for e in
                    (next(iter(client.query_entities("PartitionKey eq @pk",
                                                     parameters={"pk": d.isoformat()},
                                                     results_per_page=1)), None)
                     for d in days) if e is not None]
            _, points_ms, points_cpu = timed(
                lambda: [client.get_entity(pk, rk) for pk, rk in keys])
            out["summary_rows"] = {"point_reads": len(keys), "wall": round(points_ms, 1),
                                   **points_cpu}
            log(f"  {len(keys)} point reads (a summary row per day): {points_ms:.0f} ms")
        finally:
            client.close()
        return out


@dataclass
class LightRow:
    """What ``reports.summarise`` reads of a row, as ``ConversationEntry`` names it."""

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


AREAS = (("storage layer (from_properties, pydantic validation)", ("messenger_channel/storage",
                                                                   "pydantic")),
         ("azure SDK (deserialising entities, paging)", ("azure/data/tables", "azure/core")),
         ("HTTP + JSON (requests, urllib3, http.client, json)", ("requests/", "urllib3/",
                                                                 "http/client", "json/",
                                                                 "socket", "ssl")),
         ("the report's aggregation (reports.py)", ("conversations/reports.py",)),
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
        "customer_query": CUSTOMER_QUERY, "by_size": {}, "writes": {}, "first_pages": {}}
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
            time.sleep(SETTLE_SECONDS)  # Azurite's garbage collection after the writes
            began = time.monotonic()
            today = datetime.now(UTC).date()
            operations = bench.operations(today)
            log(f"measuring at {size} closed conversations")
            result["by_size"][str(size)] = bench.measure_operations(operations)
            result["first_pages"][str(size)] = bench.first_pages()
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
        f"reports cover {result['report_days']} days (`from`=today−29, `to`=today).",
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
    loads = [by_size[s][n]["load_average_1min"] for s in sizes for n in by_size[s]]
    lines += ["", f"1-minute load while measuring: {min(loads)}–{max(loads)} (2 cores, shared "
              "with other engineers' work). Phases (s): " + ", ".join(
                  f"{name} {value}" for name, value in result["phases_s"].items()) + "."]
    dissected = result.get("report_dissected")
    if dissected:
        phases = dissected["phases_ms"]
        select = dissected["select_columns"]
        lines += [
            "", f"**The {result['report_days']}-day report taken apart** at {int(last):,} "
            f"({dissected['rows']:,} rows, in the bench process on the same Azurite):", "",
            "| phase | wall ms | bench CPU ms | Azurite CPU ms |", "| --- | --- | --- | --- |",
            f"| what the route runs (`rows_of` + `report`, no profiler) | "
            f"{dissected['route_work_ms']['wall']} | {dissected['route_work_ms']['bench_cpu_ms']}"
            f" | {dissected['route_work_ms']['azurite_cpu_ms']} |"]
        for title, key in (("storage reads, raw SDK entities", "storage_reads_raw_entities"),
                           ("`from_properties` → `ConversationEntry`",
                            "from_properties_to_ConversationEntry"),
                           ("aggregation, group_by=day", "aggregate_group_by_day")):
            lines.append(f"| {title} | {phases[key]['wall']} | {phases[key]['bench_cpu_ms']} |"
                         f" {phases[key]['azurite_cpu_ms']} |")
        lines += [
            f"| alternative: `$select` of the {select['columns']} columns read, + light parse "
            f"+ aggregation | {select['total_wall']} (reads {select['storage_reads_wall']}) | "
            f"{select['bench_cpu_ms']} (reads) | {select['azurite_cpu_ms']} |",
            f"| alternative: one summary row per day ({dissected['summary_rows']['point_reads']}"
            f" point reads) | {dissected['summary_rows']['wall']} | "
            f"{dissected['summary_rows']['bench_cpu_ms']} | "
            f"{dissected['summary_rows']['azurite_cpu_ms']} |",
            "", f"A row carries {dissected['properties_per_row']} properties; the report reads "
            f"{select['columns']}. Own time by area under cProfile (ms): " + ", ".join(
                f"{area} {ms}" for area, ms in dissected["profile_by_area"].items()) + "."]
    if result["failures"]:
        lines += ["", f"**Failures:** {len(result['failures'])} (see supervision.json)."]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [str(s) for s in result["sizes"]]
    operations = result["operations"]
    names = [o["name"] for o in operations]
    by_size = result["by_size"]
    figure_, (wall, rows) = plt.subplots(2, 1, figsize=(15, 9), sharex=True)
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
        rows.bar([p + n * width * 2 - width for p in positions],
                 [max(0.5, by_size[size][name]["table_rows_read_per_call"]) for name in names],
                 width * 2, color=f"C{n}", label=f"rows read per call, {label}")
    wall.set_yscale("log")
    wall.set_ylabel("ms (log)")
    wall.set_title("wall time per call over HTTP, supervisor's key", fontsize=10)
    wall.legend(fontsize=8, ncol=4)
    rows.set_yscale("log")
    rows.set_ylabel("table rows read per call (log)")
    rows.set_title("storage rows read per call (devhost counters)", fontsize=10)
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
                        help="repetitions: list and live view, customer filter, reports")
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
