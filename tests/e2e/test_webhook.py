"""The webhook over HTTP, as Facebook calls it: verification, signed deliveries, archive, replay."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from messenger_channel.facebook.signature import sign
from messenger_channel.ingress.archive import ARCHIVE_CONTAINER
from messenger_channel.storage.blobs import BlobStore
from tests.support.eventually import eventually
from tests.support.product import Product, new_id


@pytest.fixture(scope="module")
def channel(product: Product) -> dict[str, str]:
    """An account and a Running page, created as an operator does."""
    app_id, app_secret = new_id(), "webhook-e2e-secret-" + secrets.token_hex(8)
    product.simulator.put_app(app_id, app_secret)
    account = product.manage.post("/accounts", json={"name": "Webhook", "app_id": app_id,
                                                     "app_secret": app_secret}).json()
    page_id = new_id()
    token = product.simulator.put_page(page_id, "Webhook page", app_id=app_id,
                                       account_id=account["id"])["access_token"]
    page = product.manage.post(f"/accounts/{account['id']}/pages",
                               json={"page_id": page_id, "name": "Webhook page",
                                     "access_token": token}).json()
    assert page["provisioning_state"] == "Running"
    return {"account_id": account["id"], "page_id": page_id, "secret": app_secret,
            "verify_token": account["verify_token"],
            "url": f"{product.devhost_url}/api/facebook/webhook/{account['id']}"}


def wait_until_archived(product: Product, account_id: str, mid: str) -> None:
    """The router archives each event before completing it; the devhost's background worker
    may be the one that takes it, so wait for the archive rather than for one run."""
    product.run_function("router")
    with BlobStore.from_connection_string(product.storage_connection_string) as blobs:
        def archived_mids() -> list[str]:
            envelopes = [json.loads(blobs.download(ARCHIVE_CONTAINER, b.name))
                         for b in blobs.list(ARCHIVE_CONTAINER, account_id)]
            return [e["raw"]["message"]["mid"] for e in envelopes if e["kind"] == "message"]

        eventually(archived_mids, lambda mids: mid in mids, timeout=15)


def test_meta_verifies_the_callback_url(channel: dict[str, str]) -> None:
    challenge = str(secrets.randbelow(10**9))
    answer = httpx.get(channel["url"], params={"hub.mode": "subscribe",
                                               "hub.verify_token": channel["verify_token"],
                                               "hub.challenge": challenge})
    assert (answer.status_code, answer.text) == (200, challenge)
    assert answer.headers["content-type"].startswith("text/plain")
    wrong = httpx.get(channel["url"], params={"hub.mode": "subscribe", "hub.verify_token": "x",
                                              "hub.challenge": challenge})
    assert wrong.status_code == 403 and challenge not in wrong.text


def test_a_customer_message_is_accepted_and_archived(product: Product,
                                                     channel: dict[str, str]) -> None:
    said = product.simulator.say(channel["account_id"], channel["page_id"], "5550001",
                                 "Olá, tudo bem? ä")
    assert said["status"] == 200, said
    wait_until_archived(product, channel["account_id"], said["mid"])


def test_checks_in_order_over_http(product: Product, channel: dict[str, str]) -> None:
    body = json.dumps({"object": "page", "entry": []}).encode()
    unknown = httpx.post(f"{product.devhost_url}/api/facebook/webhook/acc_nope", content=body)
    assert unknown.status_code == 404
    too_big = httpx.post(channel["url"], content=b" " * (4 * 1024 * 1024 + 1))
    assert too_big.status_code == 413
    assert httpx.post(channel["url"], content=body).status_code == 403
    forged = httpx.post(channel["url"], content=body,
                        headers={"X-Hub-Signature-256": sign("not-the-secret", body)})
    assert forged.status_code == 403
    garbage = b"\xff\xfe not json"
    assert httpx.post(channel["url"], content=garbage, headers={
        "X-Hub-Signature-256": sign(channel["secret"], garbage)}).status_code == 400
    other = b'{"object":"instagram","entry":[]}'
    assert httpx.post(channel["url"], content=other, headers={
        "X-Hub-Signature-256": sign(channel["secret"], other)}).status_code == 200


def test_unsigned_and_wrongly_signed_simulator_posts_are_refused(product: Product,
                                                                 channel: dict[str, str]) -> None:
    for signature in ("none", "wrong"):
        said = product.simulator.say(channel["account_id"], channel["page_id"], "5550002", "hi",
                                     signature=signature)
        assert said["status"] == 403


def test_replay_re_enqueues_the_archived_events(product: Product, channel: dict[str, str]) -> None:
    said = product.simulator.say(channel["account_id"], channel["page_id"], "5550003",
                                 "replay me")
    wait_until_archived(product, channel["account_id"], said["mid"])
    now = datetime.now(UTC)
    answer = product.manage.post("/replay", json={
        "account_id": channel["account_id"], "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(minutes=1)).isoformat()})
    assert answer.status_code == 202, answer.text
    assert answer.json()["events"] >= 1
    bad = product.manage.post("/replay", json={"account_id": channel["account_id"],
                                               "from": now.isoformat(), "to": now.isoformat()})
    assert bad.status_code == 422
    missing = product.manage.post("/replay", json={
        "account_id": "acc_nope", "from": (now - timedelta(hours=1)).isoformat(),
        "to": now.isoformat()})
    assert missing.status_code == 404
