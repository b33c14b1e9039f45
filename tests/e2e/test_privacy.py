"""Privacy end to end on the devhost: a customer served over signed webhooks and the agent API
(texts and files both ways, a note), then erased by the operator or by Meta's data deletion
callback; afterwards no table, blob or byte of the local queue's file holds their PSID or
their words. An agent's key opens none of the privacy routes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from messenger_channel.privacy.erasure_job import SETTLE
from messenger_channel.privacy.subjects import customer_pseudonym
from tests.support.eventually import eventually
from tests.support.product import Product, new_id
from tests.support.stored import stored_text

WORDS = "quokkaberry"  # the customer's own word
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _running(product: Product, function: str) -> Callable[[], object]:
    return lambda: product.run_function(function)


@dataclass
class Served:
    conversation_id: str
    psid: str
    agent_file_id: str
    customer_file_id: str


class Shop:
    """An account whose app secret the test knows, one running page, one agent (Ann)."""

    def __init__(self, product: Product) -> None:
        self.product = product
        self.app_id, self.app_secret = new_id(), "appsecret-" + secrets.token_hex(16)
        product.simulator.put_app(self.app_id, self.app_secret)
        account = product.manage.post("/accounts", json={
            "name": "Privacy", "app_id": self.app_id, "app_secret": self.app_secret})
        assert account.status_code == 201, account.text
        self.account_id = account.json()["id"]
        self.page_id, token = new_id(), "EAA" + secrets.token_hex(20)
        product.simulator.put_page(self.page_id, "Shop", app_id=self.app_id,
                                   access_token=token, account_id=self.account_id)
        page = product.manage.post(f"/accounts/{self.account_id}/pages", json={
            "page_id": self.page_id, "name": "Shop", "access_token": token})
        assert page.json()["provisioning_state"] == "Running", page.text
        queue = product.manage.post("/queues", json={"name": f"Privacy {self.page_id}"}).json()
        agent = product.manage.post("/agents", json={
            "name": "Ann", "queue_ids": [queue["id"]], "presence": "available"}).json()
        self.agent_key = agent["api_key"]
        made = product.manage.post("/workstreams", json={
            "name": "Support", "page_id": self.page_id, "fallback_queue_id": queue["id"],
            "auto_close_after_minutes": 43200, "capacity_per_conversation": 1})
        assert made.status_code == 201, made.text
        self.ann = httpx.Client(base_url=f"{product.devhost_url}/api/agent", timeout=30,
                                headers={"Authorization": f"Bearer {self.agent_key}"})

    def say(self, psid: str, text: str | None = None, **options: Any) -> None:
        said = self.product.simulator.say(self.account_id, self.page_id, psid, text, **options)
        assert said["ok"], said

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        answer = self.ann.get(f"/conversations/{conversation_id}/messages")
        assert answer.status_code == 200, answer.text
        return list(answer.json()["items"])

    def serve(self, asid: str | None = None) -> Served:
        """A customer writes and sends a photo; Ann accepts, downloads it, answers with a
        text and a file, and writes a note; everything delivered and routed."""
        psid = new_id()
        self.product.simulator.put_user(psid, self.page_id, first_name="Quillon",
                                        last_name="Vantablack", app_scoped_id=asid)
        self.say(psid, f"My parcel {WORDS} is late")
        [offered] = eventually(
            lambda: [c for c in self.ann.get("/conversations").json()["items"]
                     if c["psid"] == psid],
            nudge=_running(self.product, "router"), interval=0.1, what="the offer to Ann")
        conversation_id = offered["id"]
        assert self.ann.post(f"/conversations/{conversation_id}/accept").status_code == 200
        self.say(psid, attachment={"type": "image"})
        [photo] = eventually(
            lambda: [a for m in self.messages(conversation_id) for a in m["attachments"]
                     if m["direction"] == "in" and a["status"] == "stored"],
            nudge=_running(self.product, "router"), interval=0.1, what="the customer's photo")
        fetched = self.ann.get(f"/attachments/{photo['id']}",
                               params={"conversation_id": conversation_id})
        assert fetched.status_code == 200 and fetched.content.startswith(b"\x89PNG")
        uploaded = self.ann.post("/attachments", files={"file": ("map.png", PNG, "image/png")})
        assert uploaded.status_code == 201, uploaded.text
        reply = self.ann.post(f"/conversations/{conversation_id}/messages", json={
            "text": f"Sorry about the {WORDS}", "attachment_ids": [uploaded.json()["id"]]})
        assert reply.status_code == 202, reply.text
        note = self.ann.post(f"/conversations/{conversation_id}/notes",
                             json={"text": f"Customer upset about {WORDS}"})
        assert note.status_code == 201, note.text
        # Delivery receipts and echoes come back as webhooks; all of them routed before the
        # erasure is asked for (later ones would be the customer's new events, kept).
        eventually(lambda: self.messages(conversation_id),
                   lambda items: all(m["status"] == "delivered" for m in items
                                     if m["direction"] == "out"
                                     and m["visibility"] == "customer"),
                   nudge=lambda: (self.product.run_function("sender"),
                                  self.product.run_function("router")),
                   interval=0.2, what="the reply delivered")
        time.sleep(0.5)  # the simulator's follow-ups are posted in the background
        self.product.run_function("router")
        return Served(conversation_id, psid, uploaded.json()["id"], photo["id"])

    def close(self) -> None:
        self.ann.close()


@pytest.fixture(scope="module")
def shop(product: Product) -> Iterator[Shop]:
    made = Shop(product)
    try:
        yield made
    finally:
        made.close()


def _stored(product: Product) -> str:
    return stored_text(product.storage_connection_string,
                       product.log_dir.parent / "queues.sqlite")


@contextmanager
def _settled(product: Product) -> Iterator[None]:
    """The erasure's steps, then the host's clock past ``SETTLE`` (what was in flight when it
    began has surely ended), so its final re-check and finish run now."""
    product.run_function("erasures")
    try:
        assert product.admin.put("/clock", json={
            "offset_seconds": SETTLE.total_seconds() + 1}).is_success
        yield
    finally:
        assert product.admin.put("/clock", json={"offset_seconds": 0}).is_success


def _erased(product: Product, erasure_id: str) -> dict[str, Any]:
    with _settled(product):
        status = eventually(lambda: product.manage.get(f"/erasures/{erasure_id}").json(),
                            lambda body: body["state"] != "pending",
                            nudge=_running(product, "erasures"), interval=0.2,
                            what="the erasure to finish")
    assert status["state"] == "done", status
    return dict(status)


def test_erasure_leaves_nothing_of_the_customer_but_the_kept_ids(
        shop: Shop, product: Product) -> None:
    served = shop.serve()
    before = _stored(product)
    assert served.psid in before and WORDS in before and "quillon" in before
    started = product.manage.delete(f"/customers/{shop.page_id}/{served.psid}")
    assert started.status_code == 202, started.text
    status = _erased(product, started.json()["erasure_id"])
    assert status["counts"]["conversations"] == 1 and status["counts"]["messages"] >= 3
    assert status["counts"]["attachments"] >= 2 and status["counts"]["archived_events"] >= 2
    after = _stored(product)
    assert served.psid not in after
    assert WORDS not in after and "quillon" not in after and "vantablack" not in after
    assert served.conversation_id.lower() in after  # the kept ids: reports stay true
    # Nothing left to fetch, for the agent or the operator.
    assert shop.ann.get(f"/attachments/{served.agent_file_id}").status_code == 404
    assert product.manage.get(
        f"/attachments/{served.conversation_id}/{served.customer_file_id}").status_code == 404
    texts = [m["text"] for m in shop.messages(served.conversation_id)]
    assert texts and all(text is None for text in texts)


def _signed_request(payload: dict[str, Any], secret: str) -> str:
    """Meta's format, made here rather than by the product's own code."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")
    body = b64(json.dumps(payload).encode())
    return f"{b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())}.{body}"


def test_meta_s_data_deletion_callback_erases_the_customer(
        shop: Shop, product: Product) -> None:
    asid = new_id()
    served = shop.serve(asid=asid)
    callback = f"{product.devhost_url}/api/facebook/data-deletion/{shop.account_id}"
    forged = _signed_request({"algorithm": "HMAC-SHA256", "issued_at": int(time.time()),
                              "user_id": asid}, "not-the-secret")
    assert httpx.post(callback, data={"signed_request": forged}).status_code == 403
    signed = _signed_request({"algorithm": "HMAC-SHA256", "issued_at": int(time.time()),
                              "user_id": asid}, shop.app_secret)
    answer = httpx.post(callback, data={"signed_request": signed})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"url", "confirmation_code"}
    assert body["url"] == f"{callback}/{body['confirmation_code']}"
    page = httpx.get(body["url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for private in (served.psid, asid, WORDS, "Quillon", shop.page_id):
        assert private not in page.text
    assert body["confirmation_code"] in page.text and "in progress" in page.text
    with _settled(product):
        eventually(lambda: httpx.get(body["url"]).text,
                   lambda text: "has been deleted" in text,
                   nudge=_running(product, "erasures"), interval=0.2, what="the deletion done")
    after = _stored(product)
    assert served.psid not in after and asid not in after and WORDS not in after
    done = httpx.get(body["url"]).text
    assert served.psid not in done and asid not in done


def test_an_agent_key_opens_no_privacy_route(shop: Shop, product: Product) -> None:
    psid = new_id()
    agent = {"Authorization": f"Bearer {shop.agent_key}"}
    routes = [("DELETE", f"/api/manage/customers/{shop.page_id}/{psid}", None),
              ("GET", "/api/manage/erasures/er_00000000000000000000", None),
              ("GET", f"/api/manage/customers/{shop.page_id}/{psid}/export", None),
              ("GET", "/api/manage/attachments/cv_1/att_1", None),
              ("GET", "/api/manage/audit", None),
              ("PATCH", f"/api/manage/accounts/{shop.account_id}",
               {"retention": {"messages_days": 1}})]
    for method, path, body in routes:
        answer = httpx.request(method, f"{product.devhost_url}{path}", headers=agent, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
    # The host's own admin routes open with the management key only: an agent's key is a
    # valid key of another family (403, as API.md's auth rule says).
    for function in ("erasures", "retention", "audit_export"):
        answer = httpx.post(f"{product.devhost_url}/admin/functions/{function}", headers=agent)
        assert answer.status_code == 403, (function, answer.text)
    assert product.manage.get(f"/accounts/{shop.account_id}").json()["retention"] is None
    # Nothing started: no erasure names this customer.
    listed = product.manage.get("/audit", params={"action": "erasure.requested"}).json()
    subject = customer_pseudonym(shop.page_id, psid)
    assert all(entry["details"].get("subject") != subject for entry in listed["items"])


def test_retention_is_given_at_account_creation_or_later(product: Product) -> None:
    app_id = new_id()
    product.simulator.put_app(app_id, "appsecret-" + secrets.token_hex(16))
    body = {"name": "Kept briefly", "app_id": app_id, "app_secret": "s" * 32}
    refused = product.manage.post("/accounts", json={**body, "retention": {"messages_days": 0}})
    assert refused.status_code == 422, refused.text
    assert refused.json()["fields"][0]["field"] == "retention.messages_days"
    created = product.manage.post("/accounts", json={
        **body, "retention": {"messages_days": 365, "archive_days": 30}})
    assert created.status_code == 201, created.text
    assert created.json()["retention"] == {"messages_days": 365, "attachments_days": None,
                                           "archive_days": 30}
    account_id = created.json()["id"]
    assert product.manage.get(f"/accounts/{account_id}").json()["retention"]["archive_days"] == 30
    cleared = product.manage.patch(f"/accounts/{account_id}", json={"retention": None})
    assert cleared.json()["retention"] is None
