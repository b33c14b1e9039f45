"""How long from a customer's webhook to the offer shown in an agent's console.

The whole product as ``make run`` starts it (background router and distribution, no manual
triggers), the console in headless Chromium signed in as an available agent; each round a new
customer writes through the simulator's signed webhook, and the clock stops when the offer is
in the inbox. The console polls every 2 s with ``since=``, so about 1 s of the delay is the
poll's own wait on average.

    .venv/bin/python -m bench.announce [--rounds 10]

Writes bench/results/announce.json. Not asserted in any test: it depends on the machine.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from bench.common import summary_ms, write_result
from devhost.processes import free_port
from devhost.stack import LocalStack, StackConfig
from simulator.client import SimulatorClient

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def new_id() -> str:
    return str(10**14 + secrets.randbelow(9 * 10**14))


def measure(data_dir: Path, rounds: int) -> dict[str, Any]:
    key = "bench-management-key-" + "0" * 20
    config = StackConfig(data_dir=data_dir, devhost_port=free_port(), simulator_port=free_port(),
                         azurite_ports=None, azurite_in_memory=True, log_dir=data_dir / "logs",
                         management_api_key=key, demo=False)
    stack = LocalStack(config)
    stack.start()
    try:
        with httpx.Client(base_url=f"{config.devhost_url}/api/manage", timeout=60,
                          headers={"Authorization": f"Bearer {key}"}) as manage, \
                SimulatorClient(config.simulator_url) as simulator, \
                sync_playwright() as playwright:
            app_id, secret, page_id, token = new_id(), "s" + new_id(), new_id(), "EAA" + new_id()
            simulator.put_app(app_id, secret)
            account = manage.post("/accounts", json={"name": "Bench", "app_id": app_id,
                                                     "app_secret": secret}).json()["id"]
            simulator.put_page(page_id, "Bench", app_id=app_id, access_token=token,
                               account_id=account)
            manage.post(f"/accounts/{account}/pages", json={
                "page_id": page_id, "name": "Bench", "access_token": token}).raise_for_status()
            queue = manage.post("/queues", json={"name": "Bench"}).json()["id"]
            agent = manage.post("/agents", json={"name": "Bench", "queue_ids": [queue],
                                                 "presence": "available"}).json()
            manage.post("/workstreams", json={
                "name": "Bench", "page_id": page_id, "fallback_queue_id": queue,
                "capacity_per_conversation": 1}).raise_for_status()

            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                 args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{config.devhost_url}/api/console/")
            page.get_by_label("Agent key").fill(agent["api_key"])
            page.get_by_role("button", name="Sign in as agent").click()
            page.get_by_text("Signed in as Bench").wait_for()
            delays: list[float] = []
            for number in range(rounds):
                psid, name = new_id(), f"Round{number}"
                simulator.put_user(psid, page_id, first_name=name, last_name="Bench")
                start = time.monotonic()
                simulator.say(account, page_id, psid, "hello")
                page.locator(".inbox-item", has_text=f"{name} Bench").wait_for(timeout=60_000)
                delays.append(time.monotonic() - start)
            browser.close()
    finally:
        stack.stop()
    return {"rounds": rounds, "poll_interval_ms": 2000, "webhook_to_offer_shown": summary_ms(
        delays), "delays_ms": [round(d * 1000) for d in delays]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        result = measure(Path(data), arguments.rounds)
    print(write_result("announce", result))
    print(result["webhook_to_offer_shown"])


if __name__ == "__main__":
    main()
