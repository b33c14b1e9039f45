"""``python -m bench.retention``: one daily ``retention`` run against the size of history.

Issue 18: the timer must do bounded work per run (no read of all history): it walks the
by-day conversation index from a cursor and stops after ``MAX_ITEMS`` (2,000) conversations.
This bench checks that a run's work stays flat as history grows, and counts the runs a new
policy needs to catch up.

1. Azurite in memory; the product's services in this process (``run_retention`` is what the
   timer calls), storage calls counted by ``metering`` (table transactions, rows read by
   queries, point reads, blob calls).
2. For each size (10k, then 100k), a new account and page with that many closed
   conversations over the last 120 days, in ``bench/scale.py``'s pattern: a ``Conversation``
   and its by-day index row (the day rows batched per partition), with 3 messages (customer,
   agent, customer; the customer's with their ``mid`` index row) in one transaction.
   ``ConversationsByCustomer`` rows are left out: retention never reads them. Past the
   baseline, only the ``ENTITIES`` oldest conversations are written whole and the others get
   their index row alone: the measured runs stop well before them (checked after the runs),
   and 100k entities would take this machine about 20 minutes to write. Histories add up:
   the 100k step's day partitions also hold the 10k page's rows, as accounts share the index.
3. The account gets ``messages_days: 90`` (the earlier account's policy is removed, so each
   step measures one account) and ``run_retention`` runs as the timer would: the first run
   on the full history, then, at the baseline size, run after run until one finds less than
   the cap (the runs to catch up, measured) and the next day's run (the steady state). At
   100k the first two runs are measured and the runs to catch up are projected from the
   conversations due (the same projection is checked against the baseline's measured count).

Ratios are against the baseline size's first run, measured in the same process. Writes
bench/results/retention.{json,md,png}. Not asserted in any test: it depends on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import RESULTS, write_result
from bench.scale import FIRST_TEXTS, LAST_TEXTS, log, parallel
from devhost.azurite import AzuriteProcess
from messenger_channel import metering
from messenger_channel.bus.local import LocalQueue
from messenger_channel.clock import Clock
from messenger_channel.conversations.indexes import (
    ByDay,
    ConversationEntry,
    entry,
    permanent_places,
)
from messenger_channel.conversations.models import (
    Conversation,
    ConversationTables,
    Message,
    MessageIndex,
    message_index_key,
    message_key,
    short_hash,
)
from messenger_channel.conversations.store import ConversationStore
from messenger_channel.facebook.graph import GraphClient
from messenger_channel.privacy.retention import (
    MAX_ITEMS,
    RetentionCursor,
    cutoff,
    run_retention,
    set_retention,
)
from messenger_channel.provisioning.models import Account, Page, ProvisioningState, Retention
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.secrets import LocalSecretStore
from messenger_channel.services import Services
from messenger_channel.settings import Settings
from messenger_channel.storage.blobs import BlobStore
from messenger_channel.storage.errors import StorageUnavailable
from messenger_channel.storage.tables import (
    MAX_BATCH_OPERATIONS,
    TableStore,
    UpsertOp,
)

SIZES = (10_000, 100_000)
HISTORY_DAYS = 120
MESSAGES_DAYS = 90
# Beyond the baseline, conversations (oldest first) written whole; the newer ones get only
# their index row: the measured runs never reach them (checked), and writing 100k entities
# would take this machine ~20 minutes on its own.
ENTITIES = int(os.environ.get("BENCH_RETENTION_ENTITIES", "10000"))  # smaller: smoke runs
MAX_CATCH_UP_RUNS = 20  # the baseline's catch-up loop, a guard against a run that never ends
COUNTERS = ("table.transactions", "table.rows", "table.read", "table.query", "table.upsert",
            "table.update", "table.delete", "blob.list", "blob.delete")


def _services(connection_string: str, data: Path) -> Services:
    settings = Settings.model_validate({
        "PUBLIC_BASE_URL": "https://bench.example.test", "MANAGEMENT_API_KEY": "b" * 40,
        "AzureWebJobsStorage": connection_string, "QUEUE_BACKEND": "local",
        "LOCAL_DATA_DIR": str(data), "FACEBOOK_GRAPH_URL": "http://127.0.0.1:9/v25.0"})
    clock = Clock()
    return Services(settings=settings, clock=clock,
                    tables=TableStore.from_connection_string(connection_string),
                    blobs=BlobStore.from_connection_string(connection_string),
                    queue=LocalQueue(data / "queues.sqlite", clock),
                    secrets=LocalSecretStore(data / "secrets.json"),
                    graph=GraphClient(settings.facebook_graph_url))


def _account(services: Services, size: int) -> tuple[str, str]:
    now = services.clock.now()
    account_id, page_id = f"acc_bench{size}", str(8_100_000_000_000 + size)
    channels = ChannelTables(services.tables)
    channels.accounts.upsert(Account(id=account_id, name=f"History {size}", app_id=page_id,
                                     app_secret_ref="app-secret-unused",  # noqa: S106
                                     verify_token="v" * 32,
                                     created_at=now, updated_at=now))
    channels.pages.upsert(Page(page_id=page_id, account_id=account_id, name="Support",
                               provisioning_state=ProvisioningState.RUNNING,
                               created_at=now, updated_at=now))
    return account_id, page_id


def _history(page_id: str, count: int, now: datetime, seed: int) -> list[Conversation]:
    """``count`` closed conversations over the last ``HISTORY_DAYS`` (bench/scale.py's
    pattern: ids, times and states as months of traffic leave them)."""
    rng = random.Random(seed)
    conversations = []
    for n in range(count):
        psid = str(7_300_000_000_000_000 + seed * 1_000_000 + rng.randrange(20_000))
        created = now - timedelta(seconds=rng.uniform(3 * 3600, HISTORY_DAYS * 86400))
        assigned = created + timedelta(seconds=rng.uniform(5, 180))
        last_message = assigned + timedelta(minutes=rng.uniform(1, 60))
        closed = last_message + timedelta(minutes=rng.uniform(1, 30))
        event = short_hash("message", f"m_retention_{seed}_{n}")
        conversations.append(Conversation(
            id=f"cv_{short_hash(page_id, psid, event)}", page_id=page_id, psid=psid,
            contact_id=f"ct_{short_hash(page_id, psid)}", workstream_id="ws_bench",
            state="closed", locale="en-US", queue_id="q_bench",
            first_text=rng.choice(FIRST_TEXTS), agent_id="ag_bench", offer_history=["ag_bench"],
            opened_by=event, offers_made=1, offered_at=assigned, assigned_at=assigned,
            waiting_since=created, last_customer_message_at=last_message,
            last_activity_at=closed, closed_at=closed, customer_name="Zoë Müller",
            last_message_preview=rng.choice(LAST_TEXTS), created_at=created, updated_at=closed))
    return conversations


def _messages(conversation: Conversation) -> list[Message | MessageIndex]:
    c = conversation
    assert c.assigned_at is not None
    assert c.last_customer_message_at is not None
    rows: list[Message | MessageIndex] = []
    for n, (moment, direction, text) in enumerate((
            (c.created_at, "in", c.first_text), (c.assigned_at, "out", "Let me check that."),
            (c.last_customer_message_at, "in", c.last_message_preview))):
        mid = f"m_{c.id}_{n}"
        message = Message(conversation_id=c.id, id=message_key(moment, mid),
                          direction=direction, author="customer" if direction == "in"
                          else "agent", text=text, status="received" if direction == "in"
                          else "delivered", facebook_message_id=mid, created_at=moment)
        rows.append(message)
        if direction == "in":
            rows.append(MessageIndex(conversation_id=c.id, mid_hash=message_index_key(mid),
                                     message_id=message.id))
    return rows


def write_history(services: Services, conversations: Sequence[Conversation],
                  entities: int) -> dict[str, Any]:
    """The by-day index rows of all ``conversations``; the entities and messages of the
    ``entities`` oldest (all of them at the baseline size)."""
    tables = ConversationTables(services.tables)
    indexes = ConversationStore.of(services).indexes
    started = time.monotonic()
    oldest = sorted(conversations, key=lambda c: c.created_at)[:entities]

    def one(conversation: Conversation) -> None:
        _again(lambda: tables.conversations.upsert(conversation))
        _again(lambda: tables.messages.transaction(
            [UpsertOp(row) for row in _messages(conversation)]))

    parallel(one, oldest, f"{len(oldest)} conversations with 3 messages")
    days: dict[str, list[ConversationEntry]] = defaultdict(list)
    for conversation in conversations:
        for place in permanent_places(conversation):
            if place.table == ByDay:
                days[place.partition].append(entry(conversation, place))
    batches = [rows[i:i + MAX_BATCH_OPERATIONS] for rows in days.values()
               for i in range(0, len(rows), MAX_BATCH_OPERATIONS)]
    day_table = indexes.tables[ByDay]
    parallel(lambda batch: _again(lambda: day_table.transaction(
        [UpsertOp(row) for row in batch])), batches,
             f"{len(conversations)} day rows in {len(batches)} batches")
    seconds = time.monotonic() - started
    return {"conversations": len(conversations), "with_entities": len(oldest),
            "messages": 3 * len(oldest), "seconds": round(seconds, 1),
            "first_day_without_entities": None if len(oldest) == len(conversations)
            else oldest[-1].created_at.date().isoformat()}


def _again(write: Callable[[], object], tries: int = 4) -> None:
    """Upserts, so a retry is harmless: Azurite now and then resets a kept-alive connection
    under this load."""
    for attempt in range(tries):
        try:
            write()
            return
        except StorageUnavailable:
            if attempt == tries - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def measured_run(services: Services) -> dict[str, Any]:
    before = metering.snapshot()
    started = time.monotonic()
    try:
        run = run_retention(services)
        retried = False
    except StorageUnavailable:  # as the next timer run would: resume from the cursors
        log("  the run lost Azurite; run again")
        run = run_retention(services)
        retried = True
    seconds = time.monotonic() - started
    used = metering.difference(before, metering.snapshot())
    return {"wall_s": round(seconds, 2), "items": run.items, "conversations": run.conversations,
            "index_rows_examined": run.rows_read, "retried": retried,
            **{name: int(used.get(name, 0)) for name in COUNTERS}}


def _due(conversations: Sequence[Conversation], now: datetime) -> int:
    line = cutoff(now, MESSAGES_DAYS)
    return sum(1 for c in conversations if c.closed_at is not None and c.closed_at < line)


def measure_size(services: Services, size: int, baseline: bool, seed: int) -> dict[str, Any]:
    account_id, page_id = _account(services, size)
    now = services.clock.now()
    conversations = _history(page_id, size, now, seed)
    log(f"{size}: writing history")
    written = write_history(services, conversations, size if baseline else ENTITIES)
    set_retention(services, account_id, Retention(messages_days=MESSAGES_DAYS))
    due = _due(conversations, now)
    log(f"{size}: {due} conversations due; first run")
    runs = [measured_run(services)]
    log(f"  {runs[-1]}")
    if baseline:
        while runs[-1]["items"] >= MAX_ITEMS and len(runs) < MAX_CATCH_UP_RUNS:
            runs.append(measured_run(services))
            log(f"  {runs[-1]}")
    else:
        runs.append(measured_run(services))
        log(f"  {runs[-1]}")
    result: dict[str, Any] = {
        "history": written, "due": due, "runs": runs,
        "runs_to_catch_up_projected": math.ceil(due / MAX_ITEMS) + (due % MAX_ITEMS == 0),
        "due_per_day_after": round(size / HISTORY_DAYS),
    }
    _check_reach(services, account_id, written)
    if baseline:
        result["runs_to_catch_up_measured"] = len(runs)
        services.clock.set_offset(86_400)  # the next night: one day's conversations cross
        result["next_day_run"] = measured_run(services)
        log(f"  next day: {result['next_day_run']}")
        services.clock.set_offset(0)
    set_retention(services, account_id, None)  # the next step measures its own account only
    return result


def _check_reach(services: Services, account_id: str, written: dict[str, Any]) -> None:
    """The runs stopped before the conversations written without entities: every row they
    examined was a whole conversation (a missing one would pass as done, unmeasured)."""
    limit = written["first_day_without_entities"]
    cursor = services.tables.table("RetentionCursors", RetentionCursor).get(
        account_id, "messages")
    if limit is not None and (cursor is None or cursor.day is None or date.fromisoformat(
            cursor.day) + timedelta(days=1) >= date.fromisoformat(limit)):
        raise RuntimeError(f"the runs reached {cursor and cursor.day}, past {limit}: raise "
                           "ENTITIES")


def ratios(by_size: dict[str, dict[str, Any]], baseline: str) -> dict[str, dict[str, float]]:
    base = by_size[baseline]["runs"][0]
    names = ("wall_s", "items", "index_rows_examined", "table.transactions", "table.rows")
    return {size: {name: round(figures["runs"][0][name] / base[name], 2) if base[name] else
                   float("nan") for name in names} for size, figures in by_size.items()}


def run(sizes: Sequence[int]) -> dict[str, Any]:
    os.environ["NODE_OPTIONS"] = (os.environ.get("NODE_OPTIONS", "")
                                  + " --max-old-space-size=4096").strip()
    started = time.monotonic()
    by_size: dict[str, dict[str, Any]] = {}
    with AzuriteProcess() as azurite, tempfile.TemporaryDirectory(prefix="bench-ret-") as data:
        services = _services(azurite.connection_string, Path(data))
        for number, size in enumerate(sizes):
            by_size[str(size)] = measure_size(services, size, number == 0, seed=number + 1)
    return {"sizes": list(sizes), "history_days": HISTORY_DAYS,
            "messages_days": MESSAGES_DAYS, "max_items": MAX_ITEMS, "by_size": by_size,
            "baseline": str(sizes[0]), "ratios": ratios(by_size, str(sizes[0])),
            "total_s": round(time.monotonic() - started, 1),
            "measured_on": datetime.now(UTC).isoformat(timespec="seconds")}


def table(result: dict[str, Any]) -> str:
    keys = [str(s) for s in result["sizes"]]
    by_size = result["by_size"]
    lines = ["| first run | " + " | ".join(f"{int(k):,}" for k in keys)
             + f" | ratio {int(keys[-1]):,} ÷ {int(keys[0]):,} |",
             "| --- |" + " --- |" * (len(keys) + 1)]
    for name in ("wall_s", "items", "index_rows_examined", "table.transactions",
                 "table.rows", "table.read"):
        values = [by_size[k]["runs"][0][name] for k in keys]
        ratio = values[-1] / values[0] if values[0] else float("nan")
        lines.append(f"| {name} | " + " | ".join(f"{v:,}" for v in values) + f" | {ratio:.2f} |")
    lines.append("| conversations due | " + " | ".join(f"{by_size[k]['due']:,}" for k in keys)
                 + " | |")
    lines.append("| runs to catch up | " + " | ".join(
        f"{by_size[k].get('runs_to_catch_up_measured', '—')} measured, "
        f"{by_size[k]['runs_to_catch_up_projected']} projected" for k in keys) + " | |")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [str(s) for s in result["sizes"]]
    by_size = result["by_size"]
    figure, (work, wall) = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / len(keys)
    names = ("items", "index_rows_examined", "table.transactions", "table.rows")
    for n, key in enumerate(keys):
        first = by_size[key]["runs"][0]
        work.bar([i + n * width for i in range(len(names))], [first[m] for m in names],
                 width, label=f"{int(key):,} conversations of history")
    work.axhline(result["max_items"], color="grey", linestyle=":", label="cap: 2,000 items")
    work.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(names))], names,
                    fontsize=8)
    work.set_title("work of the first daily run (counts)", fontsize=9)
    work.legend(fontsize=7)
    for key in keys:
        runs = by_size[key]["runs"]
        wall.plot(range(1, len(runs) + 1), [r["wall_s"] for r in runs], marker="o",
                  label=f"{int(key):,}: each run")
    baseline = by_size[keys[0]]
    if "next_day_run" in baseline:
        wall.scatter([len(baseline["runs"]) + 1], [baseline["next_day_run"]["wall_s"]],
                     marker="*", s=120, color="C2", label="baseline: next day's run")
    wall.set_xticks(range(1, 1 + max(len(by_size[k]["runs"]) + 1 for k in keys)))
    wall.set_xlabel("run")
    wall.set_ylabel("wall s")
    wall.set_ylim(bottom=0)
    wall.set_title("wall time per run", fontsize=9)
    wall.legend(fontsize=7)
    figure.suptitle(f"Retention (messages_days {result['messages_days']}) against history "
                    f"over {result['history_days']} days (bench/retention.py; Azurite in "
                    "memory on a shared 2-core machine)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="history sizes, the first is the baseline (a smoke run: 500,3000)")
    parser.add_argument("--name", default="retention", help="result file name (bench/results/)")
    arguments = parser.parse_args()
    result = run([int(size) for size in arguments.sizes.split(",")])
    result["load_average_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    path = write_result(arguments.name, result)
    plot(result, RESULTS / f"{arguments.name}.png")
    print(table(result))
    print(f"ratios to the baseline's first run: {result['ratios']}")
    print(f"written: {path}, {RESULTS / (arguments.name + '.png')} in {result['total_s']} s")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
