"""The Graph client against the Messenger simulator over real HTTP: requests the fake Graph
accepts, answers the client parses, and Graph's errors as the simulator words them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from messenger_channel.facebook.graph import GraphClient
from messenger_channel.facebook.graph_errors import (
    FailureReason,
    GraphError,
    GraphErrorKind,
    GraphUnavailable,
)
from simulator.client import SimulatorClient
from simulator.settings import DEFAULT_APP_SECRET, load_settings
from simulator.testing import serve_in_thread

PAGE = "1001"
PSID = "2001"
TOKEN = "EAA-integration-page-token-1001"
APP_ID = "100000000000001"
FIELDS = ["messages", "message_echoes", "messaging_postbacks"]


@pytest.fixture(scope="module")
def simulator_base() -> Iterator[str]:
    # Nothing listens on port 9: the echoes and deliveries the simulator posts fail fast.
    settings = load_settings(SIMULATOR_WEBHOOK_BASE_URL="http://127.0.0.1:9/webhook",
                             SIMULATOR_APP_ID=APP_ID)
    with serve_in_thread(settings) as base_url:
        yield base_url


@pytest.fixture
def sim(simulator_base: str) -> Iterator[SimulatorClient]:
    """A page with a never-expiring token and a customer who has just written."""
    with SimulatorClient(simulator_base) as control:
        control.reset()
        control.put_page(PAGE, "Contoso Support", access_token=TOKEN, account_id="acc-1")
        control.say("acc-1", PAGE, PSID, "Hello")
        control.clear_requests()
        yield control


@pytest.fixture
def graph(sim: SimulatorClient) -> Iterator[GraphClient]:
    with GraphClient(sim.graph_url()) as client:
        yield client


def test_debug_token_of_a_valid_page_token(graph: GraphClient) -> None:
    info = graph.debug_token(TOKEN, app_id=APP_ID, app_secret=DEFAULT_APP_SECRET)
    assert info.is_valid
    assert (info.app_id, info.type, info.profile_id) == (APP_ID, "PAGE", PAGE)
    assert info.expires_at is None  # the simulator's page tokens never expire, like Graph's
    assert "pages_messaging" in info.scopes
    assert any(s.scope == "pages_messaging" and s.target_ids == [PAGE]
               for s in info.granular_scopes)
    assert info.error is None


def test_debug_token_of_an_expired_token(graph: GraphClient, sim: SimulatorClient) -> None:
    expired_at = int(time.time()) - 3600
    sim.put_token(TOKEN, expires_at=expired_at)
    info = graph.debug_token(TOKEN, app_id=APP_ID, app_secret=DEFAULT_APP_SECRET)
    assert not info.is_valid
    assert info.expires_at is not None and int(info.expires_at.timestamp()) == expired_at
    assert info.error is not None and (info.error.code, info.error.subcode) == (190, 463)


def test_debug_token_with_a_wrong_app_secret(graph: GraphClient) -> None:
    with pytest.raises(GraphError) as raised:
        graph.debug_token(TOKEN, app_id=APP_ID, app_secret="wrong-secret-0123456789")
    assert raised.value.token_invalid
    assert "wrong-secret" not in str(raised.value) + repr(raised.value)


def test_me_names_the_tokens_page(graph: GraphClient) -> None:
    page = graph.me(TOKEN)
    assert (page.id, page.name) == (PAGE, "Contoso Support")


def test_subscribe_list_and_unsubscribe(graph: GraphClient, sim: SimulatorClient) -> None:
    graph.subscribe_app(PAGE, TOKEN, FIELDS)
    [app] = graph.subscribed_apps(PAGE, TOKEN)
    assert (app.id, app.subscribed_fields) == (APP_ID, FIELDS)
    assert sim.subscriptions()[PAGE] == {APP_ID: FIELDS}
    graph.unsubscribe_app(PAGE, TOKEN)
    assert graph.subscribed_apps(PAGE, TOKEN) == []


def test_send_message_and_sender_action(graph: GraphClient, sim: SimulatorClient) -> None:
    result = graph.send_message(PAGE, TOKEN, {"recipient": {"id": PSID},
                                              "messaging_type": "RESPONSE",
                                              "message": {"text": "Hi, how can I help?"}})
    [sent] = sim.sent(page_id=PAGE, psid=PSID)
    assert result.recipient_id == PSID
    assert result.message_id == sent["message_id"]
    assert sent["message"] == {"text": "Hi, how can I help?"}
    graph.sender_action(PAGE, TOKEN, PSID, "typing_on")
    actions = sim.sender_actions(page_id=PAGE, psid=PSID)
    assert [action["sender_action"] for action in actions] == ["typing_on"]


def test_the_token_never_travels_in_a_url(graph: GraphClient, sim: SimulatorClient) -> None:
    graph.me(TOKEN)
    graph.subscribed_apps(PAGE, TOKEN)
    records = sim.requests()
    assert len(records) == 2
    assert all("access_token" not in record["query"] for record in records)


def test_user_profile_full_empty_and_phone_only(graph: GraphClient,
                                                sim: SimulatorClient) -> None:
    sim.put_user(PSID, PAGE, first_name="Ada", last_name="Lovelace", locale="en_GB")
    fields = ["first_name", "last_name", "locale"]
    assert graph.user_profile(PSID, TOKEN, fields) == {
        "first_name": "Ada", "last_name": "Lovelace", "locale": "en_GB"}
    sim.put_user(PSID, PAGE, first_name="Ada", last_name="Lovelace", profile_access="empty")
    assert graph.user_profile(PSID, TOKEN, fields) == {"id": PSID}
    sim.put_user(PSID, PAGE, first_name="Ada", last_name="Lovelace",
                 profile_access="error_2018218")
    with pytest.raises(GraphError) as raised:
        graph.user_profile(PSID, TOKEN, fields)
    assert (raised.value.code, raised.value.subcode) == (100, 2018218)
    assert raised.value.kind is GraphErrorKind.OTHER


def test_upload_attachment(graph: GraphClient, sim: SimulatorClient) -> None:
    data = b"%PDF-1.4 a small invoice"
    attachment_id = graph.upload_attachment(PAGE, TOKEN, attachment_type="file",
                                            filename="invoice.pdf",
                                            content_type="application/pdf", data=data)
    [upload] = sim.uploads(page_id=PAGE)
    assert upload["attachment_id"] == attachment_id
    assert (upload["filename"], upload["is_reusable"]) == ("invoice.pdf", True)
    assert sim.upload_content(attachment_id) == data


def test_an_unknown_token_is_token_invalid(graph: GraphClient) -> None:
    with pytest.raises(GraphError) as raised:
        graph.me("EAA-not-a-token-the-simulator-knows")
    error = raised.value
    assert (error.http_status, error.code) == (400, 190)
    assert error.token_invalid
    assert error.failure_reason is FailureReason.PAGE_TOKEN_INVALID
    assert error.fbtrace_id
    assert "not-a-token" not in str(error) + repr(error)


def test_an_invalidated_token(graph: GraphClient, sim: SimulatorClient) -> None:
    sim.put_token(TOKEN, state="invalid", invalid_subcode=467)
    with pytest.raises(GraphError) as raised:
        graph.send_message(PAGE, TOKEN, {"recipient": {"id": PSID},
                                         "messaging_type": "RESPONSE",
                                         "message": {"text": "Hi"}})
    assert (raised.value.code, raised.value.subcode) == (190, 467)
    assert raised.value.token_invalid


@pytest.mark.parametrize(("code", "subcode", "kind"), [
    (10, 2018278, GraphErrorKind.OUTSIDE_WINDOW),
    (551, 1545041, GraphErrorKind.USER_UNAVAILABLE),
    (613, None, GraphErrorKind.RATE_LIMITED),
    (1200, None, GraphErrorKind.TRANSIENT),
    (230, None, GraphErrorKind.PERMISSION_MISSING),
])
def test_armed_send_faults_are_classified(graph: GraphClient, sim: SimulatorClient, code: int,
                                          subcode: int | None, kind: GraphErrorKind) -> None:
    sim.add_fault(operation="send", code=code, subcode=subcode, times=1)
    with pytest.raises(GraphError) as raised:
        graph.sender_action(PAGE, TOKEN, PSID, "mark_seen")
    assert (raised.value.code, raised.value.subcode, raised.value.kind) == (code, subcode, kind)


def test_a_5xx_page_is_graph_unavailable(graph: GraphClient, sim: SimulatorClient) -> None:
    sim.add_fault(operation="page", kind="http_5xx", http_status=502, times=1)
    with pytest.raises(GraphUnavailable) as raised:
        graph.me(TOKEN)
    assert (raised.value.http_status, raised.value.cause) == (502, "bad_answer")
    assert raised.value.transient
    assert graph.me(TOKEN).id == PAGE  # the fault was armed once


def test_a_slow_graph_times_out(sim: SimulatorClient) -> None:
    sim.add_fault(operation="page", kind="timeout", delay_seconds=0.8, times=1)
    with GraphClient(sim.graph_url(), timeout=0.2) as impatient, \
            pytest.raises(GraphUnavailable) as raised:
        impatient.me(TOKEN)
    assert raised.value.cause == "timeout"
    assert raised.value.failure_reason is FailureReason.FACEBOOK_ERROR


def test_no_secret_in_any_log_line(graph: GraphClient, sim: SimulatorClient,
                                   caplog: pytest.LogCaptureFixture) -> None:
    """urllib3 logs every request line at DEBUG, query string included: debug_token's
    ``input_token`` must be redacted there too."""
    caplog.set_level(logging.DEBUG)
    graph.debug_token(TOKEN, app_id=APP_ID, app_secret=DEFAULT_APP_SECRET)
    sim.add_fault(operation="debug_token", kind="http_5xx", times=1)
    with pytest.raises(GraphUnavailable):
        graph.debug_token(TOKEN, app_id=APP_ID, app_secret=DEFAULT_APP_SECRET)
    with pytest.raises(GraphError):
        graph.me("EAA-unknown-token-for-the-log-test")
    logged = caplog.text
    assert "debug_token?input_token=" in logged  # urllib3's line is there, redacted
    for secret in (TOKEN, DEFAULT_APP_SECRET, "EAA-unknown-token-for-the-log-test"):
        assert secret not in logged
