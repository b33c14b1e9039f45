"""An agent's replies end to end: the agent API on the devhost, the ``sender`` function over
the local ``outbound`` queue, and the simulator recording the Send API calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from messenger_channel.conversations.sender import MAX_ATTEMPTS
from tests.e2e.test_channel_setup import add_page, new_account, new_page_token
from tests.support.eventually import StillWaiting, eventually
from tests.support.product import Product, new_id

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
DAY = 24 * 3600


def _running(product: Product, function: str) -> Callable[[], object]:
    """A nudge for ``eventually``: run ``function`` (the background runner may be first)."""
    return lambda: product.run_function(function)


class Desk:
    """A page, its workstream and two agents in two queues; the first holds a conversation."""

    def __init__(self, product: Product, **workstream: Any) -> None:
        self.product = product
        account = new_account(product)
        self.account_id = account.id
        self.page_id, token = new_page_token(product, account)
        assert add_page(product, account, self.page_id, token).status_code == 201
        queues = [product.manage.post("/queues", json={"name": f"Q{n} {self.page_id}"}).json()
                  for n in (1, 2)]
        agents = [product.manage.post("/agents", json={
            "name": name, "queue_ids": [queue["id"]], "presence": "available"}).json()
            for name, queue in zip(("Ann", "Bob"), queues, strict=True)]
        created = product.manage.post("/workstreams", json={
            "name": "Support", "page_id": self.page_id, "fallback_queue_id": queues[0]["id"],
            "auto_close_after_minutes": 43200, **workstream})
        assert created.status_code == 201, created.text
        self.workstream_id = created.json()["id"]
        self.ann, self.bob = (httpx.Client(
            base_url=f"{product.devhost_url}/api/agent", timeout=30,
            headers={"Authorization": f"Bearer {a['api_key']}"}) for a in agents)
        self.psid = new_id()
        assert product.simulator.say(account.id, self.page_id, self.psid, "Hello")["ok"]
        [conversation] = eventually(lambda: self.ann.get("/conversations").json()["items"],
                                    nudge=_running(product, "router"), interval=0.1)
        self.id = conversation["id"]
        assert self.ann.post(f"/conversations/{self.id}/accept").status_code == 200
        # The agent opens it (mark_seen goes out now, not in the middle of a test's faults).
        assert self.ann.get(f"/conversations/{self.id}/messages").status_code == 200

    def close(self) -> None:
        self.ann.close()
        self.bob.close()

    def sent(self, count: int) -> list[dict[str, Any]]:
        return eventually(
            lambda: self.product.simulator.sent(page_id=self.page_id, psid=self.psid),
            lambda sent: len(sent) >= count, nudge=_running(self.product, "sender"),
            interval=0.1, what=f"{count} messages to reach the simulator")

    def reply(self, **body: Any) -> httpx.Response:
        return self.ann.post(f"/conversations/{self.id}/messages", json=body)

    def status(self, message_id: str) -> dict[str, Any]:
        items = self.ann.get(f"/conversations/{self.id}/messages").json()["items"]
        [message] = [m for m in items if m["id"] == message_id]
        return dict(message)

    def shift_clocks(self, seconds: float) -> None:
        assert self.product.admin.put("/clock", json={"offset_seconds": seconds}).is_success
        self.product.simulator.set_clock(seconds)


@contextmanager
def _desk(product: Product, **workstream: Any) -> Iterator[Desk]:
    made = Desk(product, **workstream)
    try:
        yield made
    finally:
        made.shift_clocks(0)
        product.simulator.clear_faults()
        made.close()


@pytest.fixture
def desk(product: Product) -> Iterator[Desk]:
    with _desk(product, human_agent_tag=True) as made:
        yield made


def test_reply_with_an_attachment_reaches_facebook_and_is_delivered(desk: Desk,
                                                                    product: Product) -> None:
    uploaded = desk.ann.post("/attachments", files={"file": ("map.png", PNG, "image/png")})
    assert uploaded.status_code == 201, uploaded.text
    attachment_id = uploaded.json()["id"]
    assert desk.bob.get(f"/attachments/{attachment_id}").status_code == 404
    assert desk.bob.get(f"/conversations/{desk.id}/messages").status_code == 404
    answer = desk.reply(text="Here is the map.", attachment_ids=[attachment_id])
    assert answer.status_code == 202, answer.text
    text, image = desk.sent(2)
    assert (text["message"]["text"], text["messaging_type"]) == ("Here is the map.", "RESPONSE")
    assert image["message"]["attachment"]["type"] == "image"
    [upload] = product.simulator.uploads(page_id=desk.page_id)
    assert product.simulator.upload_content(upload["attachment_id"]) == PNG
    first = answer.json()["id"]
    # The simulator's delivery receipt comes back through the webhook and the router.
    eventually(lambda: desk.status(first), lambda status: status["status"] == "delivered",
               nudge=_running(product, "router"), interval=0.1)
    assert desk.status(first)["facebook_message_id"] == text["message_id"]
    assert desk.ann.get(f"/attachments/{attachment_id}").content == PNG
    assert desk.bob.get(f"/attachments/{attachment_id}").status_code == 404
    assert desk.ann.post(f"/conversations/{desk.id}/typing", json={"on": True}).status_code == 204
    actions = product.simulator.sender_actions(page_id=desk.page_id, psid=desk.psid)
    assert [a["sender_action"] for a in actions] == ["mark_seen", "typing_on"]


def test_window_boundaries_with_the_devhost_clock(desk: Desk) -> None:
    desk.shift_clocks(DAY - 60)  # 23h59m
    assert desk.reply(text="within a day").status_code == 202
    desk.sent(1)
    desk.shift_clocks(DAY + 60)  # 24h01m, the workstream has the tag
    assert desk.reply(text="with the tag").status_code == 202
    within, tagged = desk.sent(2)
    assert (within["messaging_type"], within["tag"]) == ("RESPONSE", None)
    assert (tagged["messaging_type"], tagged["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    desk.shift_clocks(7 * DAY + 60)
    refused = desk.reply(text="too late")
    assert (refused.status_code, refused.json()["error"]) == (409, "outside_messaging_window")


def test_a_throttled_send_is_retried_later_in_order(desk: Desk, product: Product) -> None:
    product.simulator.add_fault(operation="send", page_id=desk.page_id, kind="graph_error",
                                code=613, times=1)
    first = desk.reply(text="first").json()["id"]
    desk.reply(text="second")
    product.run_function("sender")
    assert product.simulator.sent(page_id=desk.page_id, psid=desk.psid) == []
    assert desk.status(first)["status"] == "queued"
    desk.shift_clocks(3600)  # the retry is due
    assert [s["message"]["text"] for s in desk.sent(2)] == ["first", "second"]
    product.run_function("sender")  # nothing left: nothing sent twice
    assert len(product.simulator.sent(page_id=desk.page_id, psid=desk.psid)) == 2


def test_a_refused_token_fails_the_reply_and_the_page_goes_to_error(
        desk: Desk, product: Product) -> None:
    product.simulator.add_fault(operation="send", page_id=desk.page_id, kind="graph_error",
                                code=190, times=1)
    message_id = desk.reply(text="hello").json()["id"]
    eventually(lambda: desk.status(message_id), lambda status: status["status"] == "failed",
               nudge=_running(product, "sender"), interval=0.1)
    assert desk.status(message_id)["failure_reason"] == "page_token_invalid"
    page = product.manage.get(f"/accounts/{desk.account_id}/pages/{desk.page_id}").json()
    assert (page["provisioning_state"], page["token_health"]["status"]) == ("Error", "invalid")
    refused = desk.reply(text="again")
    assert (refused.status_code, refused.json()["error"]) == (409, "page_token_invalid")


@pytest.mark.parametrize(("fault", "reason"), [
    ({"code": 10, "subcode": 2018278}, "outside_messaging_window"),
    ({"code": 551}, "customer_unavailable"),
    ({"code": 100, "subcode": 2018001}, "no_matching_user"),
])
def test_graph_errors_fail_the_reply_with_their_reason(
        desk: Desk, product: Product, fault: dict[str, int], reason: str) -> None:
    product.simulator.add_fault(operation="send", page_id=desk.page_id, kind="graph_error",
                                times=1, **fault)
    message_id = desk.reply(text="hello").json()["id"]
    eventually(lambda: desk.status(message_id), lambda status: status["status"] == "failed",
               nudge=_running(product, "sender"), interval=0.1)
    assert desk.status(message_id)["failure_reason"] == reason


def test_failed_after_the_retry_limit(desk: Desk, product: Product) -> None:
    product.simulator.add_fault(operation="send", page_id=desk.page_id, kind="http_5xx",
                                times=MAX_ATTEMPTS)
    message_id = desk.reply(text="hello").json()["id"]
    for hour in range(1, 2 * MAX_ATTEMPTS):  # the background runner may take some turns
        product.run_function("sender")
        # The background runner may hold the attempt right now: give it a moment to settle,
        # and move the clock on only if the message has not failed by then.
        try:
            eventually(lambda: desk.status(message_id)["status"],
                       lambda status: status == "failed", timeout=1.5, interval=0.1)
            break
        except StillWaiting:
            desk.shift_clocks(hour * 3600)
    assert (desk.status(message_id)["status"], desk.status(message_id)["failure_reason"]) == (
        "failed", "facebook_error")
    assert product.simulator.sent(page_id=desk.page_id, psid=desk.psid) == []
    attempts = product.simulator.requests(path_contains="/messages", page_id=desk.page_id)
    assert len([r for r in attempts if "message" in (r["body"] or {})]) == MAX_ATTEMPTS


def test_without_the_tag_and_with_the_tag_switched_on_mid_conversation(product: Product) -> None:
    with _desk(product) as desk:
        desk.shift_clocks(DAY + 60)
        refused = desk.reply(text="late")
        assert (refused.status_code, refused.json()["error"]) == (409, "outside_messaging_window")
        switched = product.manage.patch(f"/workstreams/{desk.workstream_id}",
                                        json={"human_agent_tag": True})
        assert switched.status_code == 200, switched.text
        assert desk.reply(text="late").status_code == 409  # not before close and reopen
        assert desk.ann.post(f"/conversations/{desk.id}/close").status_code == 200
        reopened = desk.ann.post("/conversations", json={"page_id": desk.page_id,
                                                         "psid": desk.psid})
        assert reopened.status_code == 201, reopened.text
        desk.id = reopened.json()["id"]
        assert desk.reply(text="back").status_code == 202
        [sent] = desk.sent(1)
        assert (sent["messaging_type"], sent["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
