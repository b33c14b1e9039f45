"""The simulator's handover protocol: app roles and thread ownership on a page, standby for the
apps that do not own the thread, the Graph calls (pass, take, request, thread_owner,
secondary_receivers) with Facebook's refusals, and the control routes that act as another app.

Two real local webhooks stand in for the product's app (through its account's URL) and for a
bot vendor's app (its ``webhook_url``), so what is checked is what went over the wire."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest

from simulator.client import SimulatorClient, SimulatorError
from simulator.settings import DEFAULT_APP_SECRET, load_settings
from simulator.testing import (
    ReceivedPost,
    TestClient,
    WebhookReceiver,
    in_process_client,
    webhook_receiver,
)

PAGE = "1001"
PSID = "2001"
ACCOUNT = "acc-1"
OURS = "100000000000001"  # the simulator's default app: the product's
BOT = "300000000000003"
BOT_SECRET = "bot-vendor-secret"
OTHER = "400000000000004"
INBOX = "263902037430900"
TOKEN = "EAA-ours-1001"
BOT_TOKEN = "EAA-bot-1001"
FIELDS = "messages,message_echoes,message_deliveries,messaging_handovers,standby"


@pytest.fixture
def ours() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def bot_hook() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def client(ours: WebhookReceiver) -> Iterator[TestClient]:
    with in_process_client(load_settings(SIMULATOR_WEBHOOK_BASE_URL=ours.url)) as test_client:
        yield test_client


@pytest.fixture
def sim(client: TestClient, bot_hook: WebhookReceiver) -> SimulatorClient:
    """A page whose primary receiver is a bot vendor's app, the product's app secondary."""
    control = SimulatorClient(http=client)
    control.put_page(PAGE, "Contoso", access_token=TOKEN, account_id=ACCOUNT)
    control.put_app(BOT, BOT_SECRET, "Bot vendor", webhook_url=bot_hook.url)
    control.put_app(OTHER, "other-secret", "Other secondary")
    control.put_token(BOT_TOKEN, page_id=PAGE, app_id=BOT)
    control.put_user(PSID, PAGE)
    answer = client.post(f"/v25.0/{PAGE}/subscribed_apps",
                         params={"access_token": TOKEN, "subscribed_fields": FIELDS})
    assert answer.json() == {"success": True}
    control.put_roles(PAGE, BOT, [OURS, OTHER])
    return control


def entry(post: ReceivedPost, secret: str = DEFAULT_APP_SECRET) -> dict[str, Any]:
    """The one entry of a post, after checking its signature with the receiving app's secret."""
    expected = "sha256=" + hmac.new(secret.encode(), post.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(post.headers["X-Hub-Signature-256"], expected)
    [found] = json.loads(post.body)["entry"]
    result: dict[str, Any] = found
    return result


def graph(client: TestClient, edge: str, token: str = TOKEN, **body: Any) -> Any:
    if edge in ("thread_owner", "secondary_receivers"):
        return client.get(f"/v25.0/me/{edge}", params={"access_token": token, **body})
    return client.post(f"/v25.0/{PAGE}/{edge}", params={"access_token": token},
                       json={"recipient": {"id": PSID}, **body})


def send(client: TestClient, token: str = TOKEN) -> Any:
    return client.post(f"/v25.0/{PAGE}/messages", params={"access_token": token},
                       json={"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                             "message": {"text": "Hello from an agent"}})


def test_the_owner_gets_messaging_and_the_other_apps_standby(
        sim: SimulatorClient, ours: WebhookReceiver, bot_hook: WebhookReceiver) -> None:
    said = sim.say(ACCOUNT, PAGE, PSID, "I need a human")
    assert said["status"] == 200 and said["payload"]["entry"][0]["standby"][0]["message"][
        "text"] == "I need a human"
    [standby] = ours.wait_for(1)
    assert list(entry(standby)) == ["id", "time", "standby"]
    [messaging] = bot_hook.wait_for(1)
    assert entry(messaging, BOT_SECRET)["messaging"][0]["message"]["mid"] == said["mid"]
    # The other secondary has no webhook: its post is recorded with the reason.
    [unsent] = sim.webhook_deliveries(page_id=PAGE, app_id=OTHER)
    assert unsent["source"] == "standby" and "no webhook_url" in unsent["error"]


def test_standby_needs_the_apps_subscription(client: TestClient, sim: SimulatorClient,
                                             ours: WebhookReceiver) -> None:
    client.post(f"/v25.0/{PAGE}/subscribed_apps",
                params={"access_token": TOKEN, "subscribed_fields": "messages"})
    said = sim.say(ACCOUNT, PAGE, PSID, "Hello?")
    assert said["ok"] is False and "not subscribed to standby" in said["error"]
    assert ours.posts == []


def test_a_non_owner_send_is_refused_as_facebook_refuses_it(client: TestClient,
                                                            sim: SimulatorClient) -> None:
    sim.say(ACCOUNT, PAGE, PSID, "Hi")
    answer = send(client)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["error_subcode"], error["type"]) == (10, 2018300,
                                                                      "OAuthException")
    assert error["message"] == ("(#10) Message failed to send because another app is "
                                "controlling this thread now.")
    assert sim.sent(page_id=PAGE) == []
    assert send(client, BOT_TOKEN).status_code == 200  # the owner may


def test_after_a_pass_our_app_owns_the_thread(client: TestClient, sim: SimulatorClient,
                                              ours: WebhookReceiver,
                                              bot_hook: WebhookReceiver) -> None:
    passed = sim.thread_action(PAGE, PSID, "pass", BOT, target_app_id=OURS,
                               metadata='{"intent": "refund"}')
    assert passed["owner_app_id"] == OURS and passed["deliveries"][0]["ok"]
    [notice] = ours.wait_for(1)
    [event] = entry(notice)["messaging"]
    assert event["sender"] == {"id": PSID} and event["recipient"] == {"id": PAGE}
    assert event["pass_thread_control"] == {"previous_owner_app_id": BOT,
                                            "new_owner_app_id": OURS,
                                            "metadata": '{"intent": "refund"}'}
    sim.say(ACCOUNT, PAGE, PSID, "Are you a human?")
    posts = ours.wait_for(2)
    assert "messaging" in entry(posts[1])
    assert "standby" in entry(bot_hook.wait_for(1)[0], BOT_SECRET)
    assert send(client).status_code == 200
    # The echo of our send: messaging for us, standby for the bot.
    assert "messaging" in entry(ours.wait_for(3)[2])
    echo = entry(bot_hook.wait_for(2)[1], BOT_SECRET)["standby"][0]
    assert echo["message"]["is_echo"] is True
    assert send(client, BOT_TOKEN).json()["error"]["error_subcode"] == 2018300


def test_graph_pass_back_to_the_page_inbox_and_to_the_primary(client: TestClient,
                                                              sim: SimulatorClient,
                                                              bot_hook: WebhookReceiver) -> None:
    sim.set_thread_owner(PAGE, PSID, OURS)
    assert graph(client, "pass_thread_control", target_app_id=INBOX).json() == {"success": True}
    assert sim.thread_owner(PAGE, PSID) == INBOX
    sim.set_thread_owner(PAGE, PSID, OURS)
    # A secondary that names no target passes to the primary, which is told.
    assert graph(client, "pass_thread_control", metadata="done").json() == {"success": True}
    assert sim.thread_owner(PAGE, PSID) == BOT
    [notice] = bot_hook.wait_for(1)
    assert entry(notice, BOT_SECRET)["messaging"][0]["pass_thread_control"][
        "previous_owner_app_id"] == OURS


def test_pass_refusals(client: TestClient, sim: SimulatorClient) -> None:
    not_ours = graph(client, "pass_thread_control", target_app_id=INBOX)
    assert not_ours.status_code == 400 and not_ours.json()["error"]["code"] == 10
    sim.set_thread_owner(PAGE, PSID, OURS)
    stranger = graph(client, "pass_thread_control", target_app_id="999")
    assert stranger.json()["error"]["code"] == 100
    unknown_customer = client.post(f"/v25.0/{PAGE}/pass_thread_control",
                                   params={"access_token": TOKEN},
                                   json={"recipient": {"id": "777"}, "target_app_id": INBOX})
    assert unknown_customer.json()["error"]["error_subcode"] == 2018001
    assert sim.thread_owner(PAGE, PSID) == OURS


def test_take_is_the_primarys_or_any_apps_in_an_idle_thread(
        client: TestClient, sim: SimulatorClient, ours: WebhookReceiver) -> None:
    refused = graph(client, "take_thread_control", metadata="agent")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 10
    assert sim.thread_owner(PAGE, PSID) == BOT
    sim.set_thread_owner(PAGE, PSID, None)  # idle
    assert graph(client, "take_thread_control").json() == {"success": True}
    assert sim.thread_owner(PAGE, PSID) == OURS
    # The primary takes it back: the app that lost it is told.
    assert graph(client, "take_thread_control", BOT_TOKEN,
                 metadata="bot again").json() == {"success": True}
    [notice] = ours.wait_for(1)
    assert entry(notice)["messaging"][0]["take_thread_control"] == {
        "previous_owner_app_id": OURS, "new_owner_app_id": BOT, "metadata": "bot again"}


def test_request_reaches_the_primary(client: TestClient, sim: SimulatorClient,
                                     bot_hook: WebhookReceiver) -> None:
    assert graph(client, "request_thread_control", metadata="agent wants it").json() == {
        "success": True}
    [notice] = bot_hook.wait_for(1)
    request = entry(notice, BOT_SECRET)["messaging"][0]["request_thread_control"]
    assert request == {"requested_owner_app_id": int(OURS), "metadata": "agent wants it"}
    assert graph(client, "request_thread_control", BOT_TOKEN).json()["error"]["code"] == 10
    assert sim.thread_owner(PAGE, PSID) == BOT  # a request changes nothing


def test_thread_owner_and_secondary_receivers(client: TestClient, sim: SimulatorClient) -> None:
    owner = graph(client, "thread_owner", recipient=PSID).json()
    assert owner == {"data": [{"thread_owner": {"app_id": BOT}}]}
    sim.set_thread_owner(PAGE, PSID, OTHER)
    hidden = graph(client, "thread_owner", recipient=PSID).json()["error"]
    assert (hidden["code"], hidden["error_subcode"]) == (100, 2018234)
    assert graph(client, "thread_owner", BOT_TOKEN, recipient=PSID).json()["data"][0][
        "thread_owner"]["app_id"] == OTHER
    receivers = graph(client, "secondary_receivers", BOT_TOKEN).json()
    assert [app["id"] for app in receivers["data"]] == [OURS, OTHER]
    assert graph(client, "secondary_receivers").json()["error"]["code"] == 10


def test_control_routes_refuse_like_graph_and_single_app_pages_are_untouched(
        client: TestClient, sim: SimulatorClient, ours: WebhookReceiver) -> None:
    with pytest.raises(SimulatorError) as refused:
        sim.thread_action(PAGE, PSID, "take", OTHER)
    assert refused.value.status == 400 and refused.value.body["error"]["code"] == 10
    sim.drop_roles(PAGE)
    said = sim.say(ACCOUNT, PAGE, PSID, "Back to one app")
    assert "messaging" in said["payload"]["entry"][0] and said["ok"]
    assert send(client).status_code == 200
    assert "messaging" in entry(ours.wait_for(1)[0])


def test_handover_calls_can_be_faulted(client: TestClient, sim: SimulatorClient) -> None:
    sim.add_fault(operation="handover", kind="http_5xx", times=1)
    assert graph(client, "take_thread_control", BOT_TOKEN).status_code == 503
    assert graph(client, "take_thread_control", BOT_TOKEN).json() == {"success": True}
