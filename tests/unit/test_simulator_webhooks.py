"""The simulator toward the product's webhook: signed customer messages and automatic events.

A real local HTTP server stands in for the webhook, so what is checked is what went over the wire.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulator.client import SimulatorClient
from simulator.settings import DEFAULT_APP_SECRET, load_settings
from simulator.testing import (
    ReceivedPost,
    TestClient,
    WebhookReceiver,
    in_process_client,
    serve_in_thread,
    webhook_receiver,
)

PAGE = "1001"
TOKEN = "EAA-page-token-1001"
PSID = "2001"
ACCOUNT = "acc-1"
APP_ID = "100000000000001"
ALL_FIELDS = "messages,message_echoes,message_deliveries,message_reads,messaging_postbacks"


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def client(hook: WebhookReceiver) -> Iterator[TestClient]:
    with in_process_client(load_settings(SIMULATOR_WEBHOOK_BASE_URL=hook.url)) as test_client:
        yield test_client


@pytest.fixture
def sim(client: TestClient) -> SimulatorClient:
    control = SimulatorClient(http=client)
    control.put_page(PAGE, "Contoso Support", access_token=TOKEN)
    return control


def subscribe(client: TestClient, fields: str = ALL_FIELDS) -> None:
    answer = client.post(f"/v25.0/{PAGE}/subscribed_apps",
                         params={"access_token": TOKEN, "subscribed_fields": fields})
    assert answer.json() == {"success": True}


def send(client: TestClient, message: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(f"/v25.0/{PAGE}/messages", params={"access_token": TOKEN},
                         json={"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                               "message": message})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def verified(post: ReceivedPost, secret: str = DEFAULT_APP_SECRET) -> dict[str, Any]:
    """The post's JSON, after checking its signature over the raw bytes as the product must."""
    expected = "sha256=" + hmac.new(secret.encode(), post.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(post.headers["X-Hub-Signature-256"], expected)
    payload: dict[str, Any] = json.loads(post.body)
    return payload


def event_of(post: ReceivedPost) -> dict[str, Any]:
    [entry] = verified(post)["entry"]
    [event] = entry["messaging"]
    result: dict[str, Any] = event
    return result


# -- customer messages ------------------------------------------------------------------------


def test_say_signs_the_escaped_compact_bytes(sim: SimulatorClient, hook: WebhookReceiver) -> None:
    text = "Grüße, ä und 😀"
    result = sim.say(ACCOUNT, PAGE, PSID, text)
    [post] = hook.posts
    assert post.path == f"/api/facebook/webhook/{ACCOUNT}"
    assert post.headers["Content-Type"] == "application/json"
    assert b"\\u00e4" in post.body
    assert b"\\ud83d\\ude00" in post.body
    payload = verified(post)
    assert post.body == json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()
    assert event_of(post)["message"]["text"] == text
    assert result["body"].encode() == post.body
    assert result["signature"] == post.headers["X-Hub-Signature-256"]
    assert (result["status"], result["ok"]) == (200, True)


def test_say_builds_a_messenger_page_payload(sim: SimulatorClient, hook: WebhookReceiver) -> None:
    result = sim.say(ACCOUNT, PAGE, PSID, "Yes please", timestamp=1_795_000_000_000,
                     quick_reply_payload="SURVEY_YES", mid="m_given", reply_to_mid="m_earlier")
    payload = verified(hook.posts[0])
    assert payload == result["payload"]
    assert payload["object"] == "page"
    [entry] = payload["entry"]
    assert entry["id"] == PAGE
    assert isinstance(entry["time"], int)
    assert entry["messaging"] == [{
        "sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1_795_000_000_000,
        "message": {"mid": "m_given", "text": "Yes please",
                    "quick_reply": {"payload": "SURVEY_YES"},
                    "reply_to": {"mid": "m_earlier"}},
    }]
    assert result["mid"] == "m_given"


@pytest.mark.parametrize(("kind", "content_type"), [("image", "image/png"),
                                                    ("audio", "audio/mpeg"),
                                                    ("video", "video/mp4"),
                                                    ("file", "application/pdf")])
def test_say_attachments_point_at_hosted_files(sim: SimulatorClient, hook: WebhookReceiver,
                                               client: TestClient, kind: str,
                                               content_type: str) -> None:
    sim.say(ACCOUNT, PAGE, PSID, attachment={"type": kind})
    [attachment] = event_of(hook.posts[0])["message"]["attachments"]
    assert attachment["type"] == kind
    fetched = client.get(attachment["payload"]["url"])
    assert fetched.headers["content-type"] == content_type


def test_say_can_name_a_hosted_file_or_an_external_url(sim: SimulatorClient,
                                                       hook: WebhookReceiver) -> None:
    sim.say(ACCOUNT, PAGE, PSID, attachment={"type": "file", "name": "notes.txt"})
    sim.say(ACCOUNT, PAGE, PSID, attachment={"type": "image", "url": "https://cdn.example/a.jpg"})
    urls = [event_of(p)["message"]["attachments"][0]["payload"]["url"] for p in hook.posts]
    assert urls[0].endswith("/_sim/files/notes.txt")
    assert urls[1] == "https://cdn.example/a.jpg"


def test_say_refuses_an_unknown_page_and_ambiguous_content(client: TestClient) -> None:
    unknown = client.post("/_sim/say", json={"account_id": ACCOUNT, "page_id": "404",
                                             "psid": PSID, "text": "Hi"})
    assert unknown.status_code == 404
    both = client.post("/_sim/say", json={"account_id": ACCOUNT, "page_id": PAGE, "psid": PSID,
                                          "text": "Hi", "attachment": {"type": "image"}})
    assert both.status_code == 422


def test_say_creates_the_customer(sim: SimulatorClient, client: TestClient) -> None:
    result = sim.say(ACCOUNT, PAGE, "2009", "First time here")
    assert result["user"]["first_name"]
    assert result["user"]["last_message_at"] == result["timestamp"]
    [user] = client.get("/_sim/users", params={"page_id": PAGE}).json()
    assert user["psid"] == "2009"


@pytest.mark.parametrize("mode", ["none", "wrong"])
def test_say_can_send_unsigned_or_wrongly_signed(sim: SimulatorClient, hook: WebhookReceiver,
                                                 mode: str) -> None:
    hook.status = 403
    result = sim.say(ACCOUNT, PAGE, PSID, "Forged", signature=mode)
    [post] = hook.posts
    if mode == "none":
        assert "X-Hub-Signature-256" not in post.headers
    else:
        with pytest.raises(AssertionError):
            verified(post)
    assert (result["status"], result["ok"]) == (403, False)


def test_an_unreachable_webhook_is_recorded_not_raised() -> None:
    settings = load_settings(SIMULATOR_WEBHOOK_BASE_URL="http://127.0.0.1:9/webhook")
    with in_process_client(settings) as test_client:
        control = SimulatorClient(http=test_client)
        control.put_page(PAGE, "Contoso")
        result = control.say(ACCOUNT, PAGE, PSID, "Anyone?")
        assert (result["ok"], result["status"]) == (False, None)
        assert "ConnectError" in result["error"]
        [delivery] = control.webhook_deliveries()
        assert delivery["error"] == result["error"]


# -- arbitrary payloads -----------------------------------------------------------------------


def test_post_webhook_signs_with_the_pages_app_secret(client: TestClient,
                                                      hook: WebhookReceiver) -> None:
    control = SimulatorClient(http=client)
    control.put_app("200000000000002", "other-secret")
    control.put_page("1002", "Fabrikam", app_id="200000000000002", access_token="EAA-2")
    postback = {"object": "page", "entry": [{"id": "1002", "time": 1, "messaging": [{
        "sender": {"id": PSID}, "recipient": {"id": "1002"}, "timestamp": 1_795_000_000_000,
        "postback": {"mid": "m_pb", "title": "Start ✓", "payload": "GET_STARTED"}}]}]}
    result = control.post_webhook(ACCOUNT, postback)
    [post] = hook.posts
    assert verified(post, "other-secret") == postback
    assert b"\\u2713" in post.body
    assert result["ok"] is True
    assert control.webhook_deliveries(kind="custom")[0]["page_id"] == "1002"


def test_a_postback_opens_the_messaging_window(sim: SimulatorClient, client: TestClient) -> None:
    now = client.get("/_sim/clock").json()["now_ms"]
    sim.post_webhook(ACCOUNT, {"object": "page", "entry": [{"id": PAGE, "time": now, "messaging": [{
        "sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": now,
        "postback": {"title": "Talk to us", "payload": "AGENT"}}]}]})
    assert send(client, {"text": "How can we help?"})["recipient_id"] == PSID


def test_post_webhook_sends_a_raw_body_exactly(sim: SimulatorClient,
                                               hook: WebhookReceiver) -> None:
    sim.post_webhook(ACCOUNT, raw="not json {", signature="valid")
    [post] = hook.posts
    assert post.body == b"not json {"
    expected = hmac.new(DEFAULT_APP_SECRET.encode(), b"not json {", hashlib.sha256).hexdigest()
    assert post.headers["X-Hub-Signature-256"] == f"sha256={expected}"


# -- automatic events after a send ------------------------------------------------------------


def test_a_send_is_followed_by_its_echo_and_delivery(sim: SimulatorClient, client: TestClient,
                                                     hook: WebhookReceiver) -> None:
    subscribe(client)
    sim.say(ACCOUNT, PAGE, PSID, "Hello")
    answer = send(client, {"text": "Hi, Jürgen!", "metadata": "conversation:42"})
    posts = hook.wait_for(3)
    echo, delivery = event_of(posts[1]), event_of(posts[2])
    assert echo["sender"] == {"id": PAGE}
    assert echo["recipient"] == {"id": PSID}
    assert echo["message"] == {"mid": answer["message_id"], "is_echo": True, "app_id": int(APP_ID),
                               "metadata": "conversation:42", "text": "Hi, Jürgen!"}
    assert (delivery["sender"], delivery["recipient"]) == ({"id": PSID}, {"id": PAGE})
    assert delivery["delivery"]["mids"] == [answer["message_id"]]
    assert delivery["delivery"]["watermark"] == echo["timestamp"]
    assert [d["kind"] for d in sim.webhook_deliveries()] == ["message", "echo", "delivery"]
    assert len(hook.posts) == 3


def test_read_events_when_enabled_and_echoes_can_be_turned_off(
    sim: SimulatorClient, client: TestClient, hook: WebhookReceiver
) -> None:
    subscribe(client)
    sim.say(ACCOUNT, PAGE, PSID, "Hello")
    sim.config(auto_echo=False, auto_delivery=False, auto_read=True)
    send(client, {"text": "Read me"})
    read = event_of(hook.wait_for(2)[1])
    assert (read["sender"], read["recipient"]) == ({"id": PSID}, {"id": PAGE})
    assert read["read"]["watermark"] == sim.sent()[0]["timestamp"]
    assert [d["kind"] for d in sim.webhook_deliveries()] == ["message", "read"]


def test_automatic_events_need_the_apps_subscription(sim: SimulatorClient, client: TestClient,
                                                     hook: WebhookReceiver) -> None:
    subscribe(client, "messages,message_deliveries")
    sim.say(ACCOUNT, PAGE, PSID, "Hello")
    send(client, {"text": "Hi"})
    deliveries = {d["kind"]: d for d in sim.webhook_deliveries()}
    assert deliveries["echo"]["error"] == (
        f"not sent: app {APP_ID} is not subscribed to message_echoes on page {PAGE}")
    assert deliveries["delivery"]["ok"] is True
    sim.config(require_subscription=False)
    send(client, {"text": "Again"})
    assert [d["kind"] for d in sim.webhook_deliveries() if d["ok"]][-2:] == ["echo", "delivery"]


def test_automatic_events_need_a_known_account(client: TestClient, hook: WebhookReceiver) -> None:
    control = SimulatorClient(http=client)
    control.put_page(PAGE, "Contoso", access_token=TOKEN)
    control.put_user(PSID, PAGE, last_message_at=client.get("/_sim/clock").json()["now_ms"])
    subscribe(client)
    send(client, {"text": "Agent starts"})
    assert hook.posts == []
    assert "no account known" in control.webhook_deliveries(kind="echo")[0]["error"]
    control.put_page(PAGE, "Contoso", account_id=ACCOUNT)
    send(client, {"text": "Now it arrives"})
    assert len(hook.wait_for(2)) == 2


def test_the_echo_of_an_uploaded_attachment_points_at_its_bytes(
    sim: SimulatorClient, client: TestClient, hook: WebhookReceiver
) -> None:
    subscribe(client)
    sim.say(ACCOUNT, PAGE, PSID, "Send me the form")
    uploaded = client.post(f"/v25.0/{PAGE}/message_attachments", params={"access_token": TOKEN},
                           data={"message": json.dumps({"attachment": {"type": "file",
                                                                       "payload": {}}})},
                           files={"filedata": ("form.pdf", b"%PDF-1.4 form", "application/pdf")})
    attachment_id = uploaded.json()["attachment_id"]
    send(client, {"attachment": {"type": "file", "payload": {"attachment_id": attachment_id}}})
    echo = event_of(hook.wait_for(2)[1])
    [attachment] = echo["message"]["attachments"]
    assert attachment["type"] == "file"
    assert client.get(attachment["payload"]["url"]).content == b"%PDF-1.4 form"


def test_a_failed_send_posts_nothing(sim: SimulatorClient, client: TestClient,
                                     hook: WebhookReceiver) -> None:
    subscribe(client)
    sim.say(ACCOUNT, PAGE, PSID, "Hello")
    sim.add_fault(code=551, subcode=1545041)
    failed = client.post(f"/v25.0/{PAGE}/messages", params={"access_token": TOKEN},
                         json={"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                               "message": {"text": "Lost"}})
    assert failed.status_code == 400
    assert len(hook.posts) == 1


# -- over real HTTP ---------------------------------------------------------------------------


def test_served_in_a_thread_the_whole_round_trip_works(hook: WebhookReceiver) -> None:
    settings = load_settings(SIMULATOR_WEBHOOK_BASE_URL=hook.url)
    with serve_in_thread(settings) as base_url, SimulatorClient(base_url) as control:
        control.put_page(PAGE, "Contoso", access_token=TOKEN, account_id=ACCOUNT)
        control.say(ACCOUNT, PAGE, PSID, "Über HTTP")
        answer = httpx.post(f"{control.graph_url()}/{PAGE}/subscribed_apps",
                            params={"access_token": TOKEN, "subscribed_fields": ALL_FIELDS})
        assert answer.json() == {"success": True}
        sent = httpx.post(f"{control.graph_url()}/me/messages",
                          headers={"Authorization": f"Bearer {TOKEN}"},
                          json={"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                                "message": {"text": "Antwort"}})
        assert sent.status_code == 200
        events = [event_of(p) for p in hook.wait_for(3)]
        assert events[1]["message"]["is_echo"] is True
        assert "delivery" in events[2]
