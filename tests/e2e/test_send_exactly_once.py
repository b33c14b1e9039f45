"""A reply exactly once across a real crash: the devhost is killed (SIGKILL) while its sender
is inside the Send API call, and started again on the same data. The restarted host gets the
queue message again at once (the dead owner's lock is released); it must not send again but
wait for Facebook's echo, which arrives within the grace (here re-posted as Facebook retries
a webhook delivery that failed while the host was down).

A stack of its own (Azurite, simulator, devhost), since the session's cannot be killed."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devhost.processes import ChildProcess, free_port, http_ok
from devhost.stack import LocalStack, StackConfig
from simulator.client import SimulatorClient
from tests.e2e.test_replies import Desk
from tests.support.eventually import eventually
from tests.support.product import MANAGEMENT_KEY, Product

GRACE_SECONDS = 30  # long enough for a restart; the test moves the clock past it
GRAPH_DELAY_SECONDS = 4.0  # the Send API call the host dies in
RECORDED = ("sent", "delivered")


class Stack:
    def __init__(self, stack: LocalStack, product: Product) -> None:
        self.stack = stack
        self.product = product

    def kill_devhost(self) -> None:
        [devhost] = [c for c in self.stack.children if c.name == "devhost"]
        assert devhost.process is not None
        os.killpg(devhost.process.pid, signal.SIGKILL)
        devhost.process.wait()
        devhost.stop()  # closes its log
        self.stack.children.remove(devhost)

    def start_devhost(self) -> None:
        c, storage = self.stack.config, self.stack.storage
        assert storage is not None
        devhost = ChildProcess("devhost", [sys.executable, "-m", "devhost", "--port",
                                           str(c.devhost_port)],
                               env=self.stack.app_environment(storage),
                               cwd=Path(__file__).resolve().parents[2],
                               log_file=None if c.log_dir is None else c.log_dir / "devhost.log")
        devhost.start()
        self.stack.children.append(devhost)
        devhost.wait_ready(http_ok(f"{c.devhost_url}/api/health"), 90)


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    config = StackConfig(data_dir=tmp_path, devhost_port=free_port(),
                         simulator_port=free_port(), azurite_ports=None,
                         azurite_in_memory=True, log_dir=tmp_path / "logs",
                         management_api_key=MANAGEMENT_KEY, demo=False,
                         extra_env={"SEND_ECHO_GRACE_SECONDS": str(GRACE_SECONDS)})
    stack = LocalStack(config)
    stack.start()
    auth = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
    try:
        assert stack.storage is not None
        with httpx.Client(base_url=f"{config.devhost_url}/api/manage", headers=auth,
                          timeout=60) as manage, \
                httpx.Client(base_url=f"{config.devhost_url}/admin", headers=auth,
                             timeout=120) as admin, \
                SimulatorClient(config.simulator_url) as simulator:
            yield Stack(stack, Product(
                config.devhost_url, config.simulator_url, stack.storage.connection_string,
                tmp_path / "logs", simulator, manage, admin))
    finally:
        stack.stop()


def test_killed_while_calling_graph_the_reply_goes_exactly_once(own_stack: Stack) -> None:
    product = own_stack.product
    desk = Desk(product)
    try:
        sends_exactly_once_across_a_kill(own_stack, desk)
    finally:
        desk.close()


def sends_exactly_once_across_a_kill(own_stack: Stack, desk: Desk) -> None:
    product = own_stack.product
    slow = product.simulator.add_fault(operation="send", page_id=desk.page_id, kind="timeout",
                                       delay_seconds=GRAPH_DELAY_SECONDS, times=1)
    message_id = desk.reply(text="Your parcel left the warehouse.").json()["id"]
    eventually(lambda: [f for f in product.simulator.faults() if f["id"] == slow["id"]],
               lambda faults: not faults or faults[0]["hits"] == 1, interval=0.05,
               what="the background sender's call to reach Graph")
    # Facebook sends the message when its slow call ends, whether or not we are still there.
    graph_done_at = time.monotonic() + GRAPH_DELAY_SECONDS
    own_stack.kill_devhost()
    own_stack.start_devhost()
    eventually(lambda: product.simulator.sent(page_id=desk.page_id, psid=desk.psid),
               what="Graph to finish the send the dead host made")
    # Facebook retries a webhook delivery that failed (the host was down): so do we.
    echoes = eventually(lambda: product.simulator.webhook_deliveries(
        page_id=desk.page_id, kind="echo"), what="the echo of the send")
    for echo in echoes:
        if not echo["ok"]:
            reposted = product.simulator.post_webhook(desk.account_id,
                                                      payload=json.loads(echo["body"]))
            assert reposted["ok"], reposted
    # ``delivered`` when the delivery receipt reached the restarted host too.
    eventually(lambda: desk.status(message_id)["status"] in RECORDED,
               nudge=lambda: product.run_function("router"), interval=0.1,
               what="the echo to record the send")
    desk.shift_clocks(GRACE_SECONDS + 5)  # the redelivery's wait is over
    product.run_function("sender")
    desk.reply(text="Anything else?")
    desk.sent(2)
    # Whatever the restarted host did, the dead host's call has ended by now: count them all.
    threading.Event().wait(max(graph_done_at + 1 - time.monotonic(), 0))
    texts = [s["message"]["text"]
             for s in product.simulator.sent(page_id=desk.page_id, psid=desk.psid)]
    assert texts == ["Your parcel left the warehouse.", "Anything else?"]
    status: dict[str, Any] = desk.status(message_id)
    assert status["status"] in RECORDED
