"""The Messenger simulator's fake Graph API and control API, in-process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.client import SimulatorClient, SimulatorError
from simulator.settings import load_settings
from simulator.testing import TestClient, in_process_client

PAGE = "1001"
TOKEN = "EAA-page-token-1001"
PSID = "2001"
HOUR = 3600
DAY = 24 * HOUR


@pytest.fixture
def client() -> Iterator[TestClient]:
    # Nothing listens on port 9 (discard): automatic events fail fast and are only recorded.
    settings = load_settings(SIMULATOR_WEBHOOK_BASE_URL="http://127.0.0.1:9/webhook")
    with in_process_client(settings) as test_client:
        yield test_client


@pytest.fixture
def sim(client: TestClient) -> SimulatorClient:
    """A page with a token and a customer who has just written."""
    control = SimulatorClient(http=client)
    control.put_page(PAGE, "Contoso Support", access_token=TOKEN, account_id="acc-1")
    control.say("acc-1", PAGE, PSID, "Hello")
    return control


def graph(client: TestClient, method: str, path: str, *, token: str | None = TOKEN,
          **kwargs: Any) -> Any:
    params = dict(kwargs.pop("params", {}))
    if token is not None:
        params["access_token"] = token
    return client.request(method, f"/v25.0{path}", params=params, **kwargs)


def send(client: TestClient, body: dict[str, Any], token: str | None = TOKEN) -> Any:
    return graph(client, "POST", f"/{PAGE}/messages", token=token, json=body)


def text_message(text: str = "Hi there", **extra: Any) -> dict[str, Any]:
    return {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": text},
            **extra}


def error_of(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 400, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["fbtrace_id"]
    return error


# -- pages, tokens, auth ----------------------------------------------------------------------


def test_health_reports_graph_version_and_clock(client: TestClient) -> None:
    health = client.get("/_sim/health").json()
    assert health["status"] == "ok"
    assert health["graph_version"] == "v25.0"
    assert health["clock_offset_seconds"] == 0


def test_put_page_creates_a_valid_never_expiring_token(client: TestClient) -> None:
    page = client.put(f"/_sim/pages/{PAGE}", json={"name": "Contoso"}).json()
    assert page["access_token"].startswith("EAA")
    token = client.get(f"/_sim/tokens/{page['access_token']}").json()
    assert (token["state"], token["expires_at"], token["page_id"]) == ("valid", 0, PAGE)
    assert "pages_messaging" in token["scopes"]


def test_me_and_page_node_answer_id_and_name(sim: SimulatorClient, client: TestClient) -> None:
    assert graph(client, "GET", "/me").json() == {"name": "Contoso Support", "id": PAGE}
    assert graph(client, "GET", f"/{PAGE}", params={"fields": "id"}).json() == {"id": PAGE}
    error = error_of(graph(client, "GET", "/me", params={"fields": "id,fan_count"}))
    assert error["code"] == 100
    assert "nonexisting field (fan_count)" in error["message"]


def test_bearer_header_and_unversioned_paths_work(sim: SimulatorClient,
                                                   client: TestClient) -> None:
    answer = client.get("/me", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.json()["id"] == PAGE


def test_missing_token_is_error_104_and_unknown_token_190(sim: SimulatorClient,
                                                          client: TestClient) -> None:
    assert error_of(graph(client, "GET", f"/{PAGE}", token=None))["code"] == 104
    unknown = graph(client, "GET", "/me", token="EAA-nobody")
    error = error_of(unknown)
    assert (error["type"], error["code"]) == ("OAuthException", 190)
    assert "error_subcode" not in error
    assert unknown.headers["WWW-Authenticate"].startswith('OAuth "Facebook Platform"')


@pytest.mark.parametrize(
    ("change", "subcode"),
    [
        ({"state": "expired"}, 463),
        ({"state": "invalid"}, 460),
        ({"state": "invalid", "invalid_subcode": 467}, 467),
    ],
)
def test_token_states_answer_190_with_their_subcode(
    sim: SimulatorClient, client: TestClient, change: dict[str, Any], subcode: int
) -> None:
    sim.put_token(TOKEN, **change)
    error = error_of(send(client, text_message()))
    assert (error["code"], error["error_subcode"]) == (190, subcode)


def test_token_past_its_expiry_time_answers_expired(sim: SimulatorClient,
                                                    client: TestClient) -> None:
    sim.put_token(TOKEN, expires_at=int(time.time()) + HOUR)
    assert send(client, text_message()).status_code == 200
    sim.set_clock(2 * HOUR)
    error = error_of(send(client, text_message()))
    assert (error["code"], error["error_subcode"]) == (190, 463)
    assert error["message"].startswith("Error validating access token: Session has expired on")


def test_unknown_paths_and_foreign_objects_answer_like_graph(sim: SimulatorClient,
                                                              client: TestClient) -> None:
    error = error_of(graph(client, "GET", f"/{PAGE}/conversations_of_nowhere"))
    assert error == {**error, "code": 2500,
                     "message": "Unknown path components: /conversations_of_nowhere"}
    error = error_of(graph(client, "POST", f"/{PSID}"))
    assert (error["type"], error["code"], error["error_subcode"]) == ("GraphMethodException",
                                                                     100, 33)
    other = graph(client, "POST", "/9999/messages", json=text_message())
    assert error_of(other)["error_subcode"] == 33


# -- Send API ---------------------------------------------------------------------------------


def test_send_answers_recipient_and_unique_message_ids(sim: SimulatorClient,
                                                       client: TestClient) -> None:
    first = send(client, text_message(message={"text": "One", "metadata": "agent:7"})).json()
    second = send(client, text_message("Two")).json()
    assert first["recipient_id"] == PSID
    assert first["message_id"].startswith("m_")
    assert first["message_id"] != second["message_id"]
    sent = sim.sent(page_id=PAGE, psid=PSID)
    assert [m["message"]["text"] for m in sent] == ["One", "Two"]
    assert sent[0]["metadata"] == "agent:7"
    assert sent[0]["message_id"] == first["message_id"]


def test_send_accepts_form_bodies_with_json_fields_as_meta_documents(
    sim: SimulatorClient, client: TestClient
) -> None:
    answer = graph(client, "POST", f"/{PAGE}/messages", data={
        "recipient": f"{{'id':'{PSID}'}}", "messaging_type": "RESPONSE",
        "message": json.dumps({"text": "From a form"}),
    })
    assert answer.status_code == 200, answer.text
    assert sim.sent()[-1]["message"] == {"text": "From a form"}


def test_me_messages_sends_for_the_tokens_page(sim: SimulatorClient, client: TestClient) -> None:
    answer = graph(client, "POST", "/me/messages", json=text_message())
    assert answer.status_code == 200
    assert sim.sent()[-1]["page_id"] == PAGE


@pytest.mark.parametrize(
    ("body", "subcode", "words"),
    [
        (text_message("x" * 2001), None, "must be less than or equal to 2000"),
        ({**text_message(), "recipient": {"id": "7777"}}, 2018001, "No matching user found"),
        ({"recipient": {"id": PSID}, "message": {"text": "hi"}}, None, "messaging_type"),
        ({**text_message(), "messaging_type": "MESSAGE_TAG"}, None, "param tag"),
        ({**text_message(), "messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE"}, None,
         "no longer supported"),
        ({"messaging_type": "RESPONSE", "message": {"text": "hi"}}, None, "recipient"),
        (text_message(message={"text": "hi", "attachment": {"type": "image", "payload": {}}}),
         None, "Only one of"),
        (text_message(message={"text": "Pick", "quick_replies": [
            {"content_type": "text", "title": str(i), "payload": str(i)} for i in range(14)]}),
         None, "quick_replies"),
        (text_message(message={"text": "Pick", "quick_replies": [
            {"content_type": "text", "title": "t" * 21, "payload": "p"}]}), None, "title"),
        (text_message(message={"attachment": {"type": "image", "payload": {"url": "ftp://x"}}}),
         None, "valid URL"),
        (text_message(message={"attachment": {"type": "image",
                                              "payload": {"attachment_id": "404404"}}}),
         None, "not found"),
        ({**text_message(), "sender_action": "typing_on"}, None, "sender_action"),
        ({"recipient": {"id": PSID}, "sender_action": "dance"}, None, "sender_action"),
        ({"recipient": {"id": PSID}, "sender_action": "react"}, None, "payload[message_id]"),
    ],
)
def test_send_validates_like_graph(sim: SimulatorClient, client: TestClient, body: dict[str, Any],
                                   subcode: int | None, words: str) -> None:
    error = error_of(send(client, body))
    assert error["code"] == 100
    assert error.get("error_subcode") == subcode
    assert words in error["message"]
    assert sim.sent() == []


def test_send_accepts_exactly_2000_characters(sim: SimulatorClient, client: TestClient) -> None:
    assert send(client, text_message("ä" * 2000)).status_code == 200


def test_send_needs_pages_messaging(sim: SimulatorClient, client: TestClient) -> None:
    sim.put_token(TOKEN, scopes=["pages_show_list"])
    assert error_of(send(client, text_message()))["code"] == 230


def test_sender_actions_answer_recipient_only_and_are_recorded(sim: SimulatorClient,
                                                               client: TestClient) -> None:
    answer = send(client, {"recipient": {"id": PSID}, "sender_action": "typing_on"})
    assert answer.json() == {"recipient_id": PSID}
    assert [a["sender_action"] for a in sim.sender_actions(psid=PSID)] == ["typing_on"]
    assert sim.sent() == []


def test_url_attachments_are_sent(sim: SimulatorClient, client: TestClient) -> None:
    attachment = {"type": "file", "payload": {"url": "https://example.com/invoice.pdf"}}
    answer = send(client, text_message(message={"attachment": attachment}))
    assert answer.status_code == 200
    assert sim.sent()[-1]["message"] == {"attachment": attachment}


# -- the 24-hour and 7-day windows ------------------------------------------------------------


def test_response_is_refused_24_hours_after_the_last_message(sim: SimulatorClient,
                                                             client: TestClient) -> None:
    sim.set_clock(24 * HOUR - 60)
    assert send(client, text_message()).status_code == 200
    sim.set_clock(24 * HOUR)
    error = error_of(send(client, text_message()))
    assert (error["code"], error["error_subcode"], error["type"]) == (10, 2018278,
                                                                     "OAuthException")
    update = error_of(send(client, {**text_message(), "messaging_type": "UPDATE"}))
    assert update["error_subcode"] == 2018278


def test_human_agent_tag_extends_the_window_to_7_days(sim: SimulatorClient,
                                                      client: TestClient) -> None:
    tagged = {**text_message(), "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    sim.set_clock(7 * DAY - 60)
    assert error_of(send(client, text_message()))["error_subcode"] == 2018278
    answer = send(client, tagged)
    assert answer.status_code == 200
    assert sim.sent()[-1]["tag"] == "HUMAN_AGENT"
    sim.set_clock(7 * DAY + 1)
    assert error_of(send(client, tagged))["error_subcode"] == 2018278


def test_a_new_message_reopens_the_window_and_an_older_one_does_not_close_it(
    sim: SimulatorClient, client: TestClient
) -> None:
    sim.set_clock(2 * DAY)
    assert error_of(send(client, text_message()))["code"] == 10
    sim.say("acc-1", PAGE, PSID, "I am back")
    assert send(client, text_message()).status_code == 200
    sim.say("acc-1", PAGE, PSID, "Delayed old message", timestamp=1_000)
    assert send(client, text_message()).status_code == 200


def test_a_customer_who_never_wrote_is_outside_the_window(sim: SimulatorClient,
                                                          client: TestClient) -> None:
    sim.put_user("2002", PAGE, first_name="Quiet")
    error = error_of(send(client, {**text_message(), "recipient": {"id": "2002"}}))
    assert (error["code"], error["error_subcode"]) == (10, 2018278)


def test_clock_offset_setting_applies_from_start() -> None:
    settings = load_settings(SIMULATOR_CLOCK_OFFSET_SECONDS=str(3 * DAY))
    with in_process_client(settings) as test_client:
        clock = test_client.get("/_sim/clock").json()
        assert clock["offset_seconds"] == 3 * DAY
        assert clock["now_ms"] > (time.time() + 3 * DAY - 60) * 1000


# -- User Profile -----------------------------------------------------------------------------


def test_profile_answers_the_requested_fields(sim: SimulatorClient, client: TestClient) -> None:
    sim.put_user(PSID, PAGE, first_name="Jürgen", last_name="Ä", locale="de_DE", timezone=1)
    answer = graph(client, "GET", f"/{PSID}",
                   params={"fields": "first_name,last_name,profile_pic,locale,timezone"})
    assert answer.json() == {"first_name": "Jürgen", "last_name": "Ä",
                             "profile_pic": answer.json()["profile_pic"], "locale": "de_DE",
                             "timezone": 1}
    assert graph(client, "GET", f"/{PSID}").json() == {"name": "Jürgen Ä", "id": PSID}


def test_a_customer_who_wrote_gets_a_generated_profile(sim: SimulatorClient,
                                                       client: TestClient) -> None:
    profile = graph(client, "GET", f"/{PSID}", params={"fields": "first_name,last_name"}).json()
    assert profile["first_name"]
    assert profile["last_name"]


def test_profile_without_access_answers_the_id_only(sim: SimulatorClient,
                                                    client: TestClient) -> None:
    sim.put_user(PSID, PAGE, profile_access="empty")
    answer = graph(client, "GET", f"/{PSID}", params={"fields": "first_name,last_name"})
    assert answer.json() == {"id": PSID}


def test_phone_only_account_answers_2018218(sim: SimulatorClient, client: TestClient) -> None:
    sim.put_user(PSID, PAGE, profile_access="error_2018218")
    error = error_of(graph(client, "GET", f"/{PSID}", params={"fields": "first_name"}))
    assert (error["code"], error["error_subcode"]) == (100, 2018218)
    assert error["message"] == "(#100) No profile available for this user."


def test_profile_of_unknown_psid_or_field_is_refused(sim: SimulatorClient,
                                                     client: TestClient) -> None:
    assert error_of(graph(client, "GET", "/2999"))["error_subcode"] == 33
    error = error_of(graph(client, "GET", f"/{PSID}", params={"fields": "email"}))
    assert "nonexisting field (email)" in error["message"]


# -- debug_token ------------------------------------------------------------------------------

APP_TOKEN = "100000000000001|simulator-dev-app-secret-0000000"


def debug(client: TestClient, input_token: str | None, caller: str | None = APP_TOKEN) -> Any:
    params = {"input_token": input_token} if input_token else {}
    return graph(client, "GET", "/debug_token", token=caller, params=params)


def test_debug_token_describes_a_valid_page_token(sim: SimulatorClient,
                                                  client: TestClient) -> None:
    data = debug(client, TOKEN).json()["data"]
    assert data["is_valid"] is True
    assert (data["app_id"], data["type"], data["profile_id"]) == ("100000000000001", "PAGE", PAGE)
    assert (data["expires_at"], "error" in data) == (0, False)
    assert data["data_access_expires_at"] > time.time()
    assert {"scope": "pages_messaging", "target_ids": [PAGE]} in data["granular_scopes"]
    assert debug(client, TOKEN, caller=TOKEN).json()["data"]["is_valid"] is True


@pytest.mark.parametrize(("change", "subcode"), [({"state": "expired"}, 463),
                                                 ({"state": "invalid"}, 460)])
def test_debug_token_reports_a_broken_token_inside_data(
    sim: SimulatorClient, client: TestClient, change: dict[str, Any], subcode: int
) -> None:
    sim.put_token(TOKEN, scopes=["pages_show_list"], **change)
    answer = debug(client, TOKEN)
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["is_valid"] is False
    assert (data["error"]["code"], data["error"]["subcode"]) == (190, subcode)
    assert data["scopes"] == ["pages_show_list"]


def test_debug_token_of_an_unknown_token(sim: SimulatorClient, client: TestClient) -> None:
    assert debug(client, "EAA-garbage").json() == {"data": {
        "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
        "is_valid": False, "scopes": []}}


def test_debug_token_caller_must_be_the_app(sim: SimulatorClient, client: TestClient) -> None:
    assert error_of(debug(client, TOKEN, caller=None))["code"] == 100
    wrong = error_of(debug(client, TOKEN, caller="100000000000001|not-the-secret"))
    assert (wrong["code"], wrong["message"]) == (190, "Invalid OAuth access token signature.")
    assert error_of(debug(client, None))["code"] == 100


# -- subscribed_apps --------------------------------------------------------------------------


def test_subscribe_list_and_unsubscribe(sim: SimulatorClient, client: TestClient) -> None:
    path = f"/{PAGE}/subscribed_apps"
    answer = graph(client, "POST", path, params={"subscribed_fields": "messages,message_echoes"})
    assert answer.json() == {"success": True}
    assert graph(client, "GET", path).json() == {"data": [{
        "id": "100000000000001", "name": "Messenger Channel (simulated)",
        "subscribed_fields": ["messages", "message_echoes"]}]}
    graph(client, "POST", path, json={"subscribed_fields": ["messages"]})
    assert sim.subscriptions() == {PAGE: {"100000000000001": ["messages"]}}
    assert graph(client, "DELETE", path).json() == {"success": True}
    assert graph(client, "GET", path).json() == {"data": []}


def test_subscribe_validates_fields_and_permission(sim: SimulatorClient,
                                                   client: TestClient) -> None:
    path = f"/{PAGE}/subscribed_apps"
    assert error_of(graph(client, "POST", path))["code"] == 100
    bad = error_of(graph(client, "POST", path, params={"subscribed_fields": "messages,mesages"}))
    assert '"mesages"' in bad["message"]
    sim.put_token(TOKEN, scopes=["pages_messaging"])
    assert error_of(graph(client, "POST", path, params={"subscribed_fields": "messages"}))[
        "code"] == 200


def test_control_api_can_drop_a_pages_subscriptions(sim: SimulatorClient,
                                                    client: TestClient) -> None:
    graph(client, "POST", f"/{PAGE}/subscribed_apps", params={"subscribed_fields": "messages"})
    sim.drop_subscriptions(PAGE)
    assert graph(client, "GET", f"/{PAGE}/subscribed_apps").json() == {"data": []}


# -- attachment upload ------------------------------------------------------------------------


def upload(client: TestClient, content: bytes, content_type: str = "image/png",
           kind: str = "image") -> Any:
    message = {"attachment": {"type": kind, "payload": {"is_reusable": True}}}
    return graph(client, "POST", f"/{PAGE}/message_attachments",
                 data={"message": json.dumps(message)},
                 files={"filedata": ("photo.png", content, content_type)})


def test_upload_keeps_the_bytes_and_the_id_can_be_sent(sim: SimulatorClient,
                                                       client: TestClient) -> None:
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    answer = upload(client, content)
    attachment_id = answer.json()["attachment_id"]
    assert attachment_id.isdigit()
    [stored] = sim.uploads(page_id=PAGE)
    assert (stored["filename"], stored["size"], stored["is_reusable"]) == ("photo.png", 264, True)
    assert sim.upload_content(attachment_id) == content
    message = {"attachment": {"type": "image", "payload": {"attachment_id": attachment_id}}}
    assert send(client, text_message(message=message)).status_code == 200


def test_upload_over_25_mb_is_refused(sim: SimulatorClient, client: TestClient) -> None:
    error = error_of(upload(client, bytes(25 * 1024 * 1024 + 1)))
    assert (error["code"], error["error_subcode"]) == (100, 2018109)
    assert sim.uploads() == []


def test_upload_whose_type_does_not_match_is_refused(sim: SimulatorClient,
                                                     client: TestClient) -> None:
    error = error_of(upload(client, b"%PDF-1.4", content_type="application/pdf"))
    assert (error["code"], error["error_subcode"]) == (100, 2018047)


def test_send_with_a_file_part_uploads_and_sends(sim: SimulatorClient,
                                                 client: TestClient) -> None:
    message = {"attachment": {"type": "file", "payload": {}}}
    answer = graph(client, "POST", f"/{PAGE}/messages",
                   data={"recipient": json.dumps({"id": PSID}), "messaging_type": "RESPONSE",
                         "message": json.dumps(message)},
                   files={"filedata": ("notes.txt", b"hello", "text/plain")})
    assert answer.status_code == 200, answer.text
    [stored] = sim.uploads()
    assert sim.upload_content(stored["attachment_id"]) == b"hello"


# -- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "subcode", "words", "transient"),
    [
        (190, 463, "Session has expired", False),
        (10, 2018278, "outside of allowed window", False),
        (551, 1545041, "isn't available right now", False),
        (613, None, "exceeded the rate limit", True),
        (4, None, "Application request limit reached", True),
        (1200, None, "Temporary send message failure", True),
        (2, None, "unexpected error", True),
        (100, None, "Invalid parameter", False),
    ],
)
def test_graph_error_faults_answer_graphs_envelope(
    sim: SimulatorClient, client: TestClient, code: int, subcode: int | None, words: str,
    transient: bool,
) -> None:
    sim.add_fault(operation="send", code=code, subcode=subcode)
    error = error_of(send(client, text_message()))
    assert (error["code"], error.get("error_subcode"), error["type"]) == (code, subcode,
                                                                         "OAuthException")
    assert words in error["message"]
    assert error.get("is_transient", False) is transient
    assert sim.sent() == []


def test_fault_times_and_http_status(sim: SimulatorClient, client: TestClient) -> None:
    sim.add_fault(code=613, times=2, http_status=429, message="(#613) slow down")
    first = send(client, text_message())
    assert (first.status_code, first.json()["error"]["message"]) == (429, "(#613) slow down")
    assert send(client, text_message()).status_code == 429
    assert send(client, text_message()).status_code == 200
    assert sim.faults() == []


def test_faults_match_page_psid_and_operation(sim: SimulatorClient, client: TestClient) -> None:
    sim.say("acc-1", PAGE, "2002", "Me too")
    sim.add_fault(psid="2002", code=551, subcode=1545041)
    sim.add_fault(operation="profile", page_id=PAGE, code=2)
    assert send(client, text_message()).status_code == 200
    assert error_of(send(client, {**text_message(), "recipient": {"id": "2002"}}))["code"] == 551
    assert error_of(graph(client, "GET", f"/{PSID}"))["code"] == 2
    assert graph(client, "GET", "/me").status_code == 200
    [fault] = [f for f in sim.faults() if f["psid"] == "2002"]
    assert fault["hits"] == 1


@pytest.mark.parametrize("operation", ["debug_token", "subscribed_apps", "upload", "page"])
def test_faults_reach_every_operation(sim: SimulatorClient, client: TestClient,
                                      operation: str) -> None:
    sim.add_fault(operation=operation, code=1, message="(#1) boom")
    calls = {
        "debug_token": lambda: debug(client, TOKEN),
        "subscribed_apps": lambda: graph(client, "GET", f"/{PAGE}/subscribed_apps"),
        "upload": lambda: upload(client, b"\x89PNG"),
        "page": lambda: graph(client, "GET", f"/{PAGE}"),
    }
    assert error_of(calls[operation]())["message"] == "(#1) boom"


def test_http_5xx_faults_answer_html_or_a_graph_body(sim: SimulatorClient,
                                                     client: TestClient) -> None:
    sim.add_fault(kind="http_5xx", times=1)
    html = send(client, text_message())
    assert (html.status_code, html.headers["content-type"].split(";")[0]) == (503, "text/html")
    sim.add_fault(kind="http_5xx", http_status=500, body="graph", times=1)
    graph_body = send(client, text_message())
    assert graph_body.status_code == 500
    assert graph_body.json()["error"]["code"] == 2


def test_timeout_fault_delays_then_answers_normally(sim: SimulatorClient,
                                                    client: TestClient) -> None:
    sim.add_fault(kind="timeout", delay_seconds=0.3, times=1)
    started = time.monotonic()
    answer = send(client, text_message())
    assert time.monotonic() - started >= 0.3
    assert answer.status_code == 200
    assert len(sim.sent()) == 1


def test_error_faults_can_be_delayed_too(sim: SimulatorClient, client: TestClient) -> None:
    sim.add_fault(code=1200, delay_seconds=0.2)
    started = time.monotonic()
    assert error_of(send(client, text_message()))["code"] == 1200
    assert time.monotonic() - started >= 0.2


def test_faults_are_removed_one_by_one_or_all(sim: SimulatorClient, client: TestClient) -> None:
    first = sim.add_fault(code=2)
    sim.add_fault(code=4)
    sim.remove_fault(first["id"])
    assert [f["code"] for f in sim.faults()] == [4]
    sim.clear_faults()
    assert send(client, text_message()).status_code == 200
    with pytest.raises(SimulatorError) as missing:
        sim.remove_fault(first["id"])
    assert missing.value.status == 404


def test_graph_error_fault_needs_a_code(client: TestClient) -> None:
    answer = client.post("/_sim/faults", json={"kind": "graph_error"})
    assert answer.status_code == 422
    assert answer.json()["error"] == "validation_error"


# -- request log ------------------------------------------------------------------------------


def test_request_log_redacts_tokens_and_filters(sim: SimulatorClient, client: TestClient) -> None:
    sim.clear_requests()
    send(client, {**text_message(), "access_token": TOKEN}, token=None)
    graph(client, "GET", "/me")
    graph(client, "GET", "/me", token="EAA-nobody")
    log = sim.requests()
    assert [(r["method"], r["status"]) for r in log] == [("POST", 200), ("GET", 200),
                                                         ("GET", 400)]
    assert log[0]["body"]["access_token"] == "EAA-pa…"
    assert log[0]["body"]["message"] == {"text": "Hi there"}
    assert (log[0]["operation"], log[0]["page_id"]) == ("send", PAGE)
    assert log[1]["query"] == {"access_token": "EAA-pa…"}
    assert TOKEN not in json.dumps(log)
    assert [r["path"] for r in sim.requests(path_contains="messages")] == [
        f"/v25.0/{PAGE}/messages"]
    assert len(sim.requests(page_id=PAGE)) == 2
    assert sim.requests(limit=1) == log[-1:]


def test_request_log_keeps_upload_metadata_not_bytes(sim: SimulatorClient,
                                                     client: TestClient) -> None:
    upload(client, b"\x89PNG")
    [record] = sim.requests(path_contains="message_attachments")
    assert record["body"]["filedata"] == {"filename": "photo.png", "content_type": "image/png",
                                          "size": 4}


# -- control API ------------------------------------------------------------------------------


def test_pages_of_a_further_app(client: TestClient) -> None:
    control = SimulatorClient(http=client)
    control.put_app("200000000000002", "second-secret", name="Other app")
    page = control.put_page("1002", "Fabrikam", app_id="200000000000002", access_token="EAA-2")
    assert page["app_id"] == "200000000000002"
    data = debug(client, "EAA-2", caller="200000000000002|second-secret").json()["data"]
    assert (data["app_id"], data["application"]) == ("200000000000002", "Other app")


def test_control_errors_are_clear(client: TestClient) -> None:
    control = SimulatorClient(http=client)
    with pytest.raises(SimulatorError) as unknown_app:
        control.put_page("1003", "X", app_id="999")
    assert unknown_app.value.status == 404
    with pytest.raises(SimulatorError) as unknown_token:
        control.put_token("EAA-new", state="expired")
    assert unknown_token.value.status == 404
    with pytest.raises(SimulatorError) as unknown_page:
        control.put_user("2001", "4040", first_name="A")
    assert unknown_page.value.status == 404
    invalid = client.put("/_sim/users/not-a-number", json={"page_id": "1"})
    assert invalid.status_code == 422
    assert invalid.json()["fields"][0]["field"] == "psid"
    assert client.get("/_sim/nothing-here").status_code == 404


def test_a_further_token_for_a_page(sim: SimulatorClient, client: TestClient) -> None:
    rotated = sim.put_token("EAA-rotated", page_id=PAGE, expires_at=int(time.time()) + DAY)
    assert (rotated["page_id"], rotated["state"]) == (PAGE, "valid")
    assert graph(client, "GET", "/me", token="EAA-rotated").status_code == 200


def test_reset_forgets_everything_but_the_default_app(sim: SimulatorClient,
                                                      client: TestClient) -> None:
    sim.set_clock(DAY)
    sim.add_fault(code=2)
    sim.reset()
    assert client.get("/_sim/pages").json() == []
    assert sim.faults() == []
    assert sim.requests() == []
    assert client.get("/_sim/clock").json()["offset_seconds"] == 0
    assert [a["app_id"] for a in client.get("/_sim/apps").json()] == ["100000000000001"]


def test_state_file_seeds_the_simulator_and_reset_returns_to_it(tmp_path: Path) -> None:
    seed = {
        "apps": [{"app_id": "300000000000003", "app_secret": "s3", "name": "Seeded"}],
        "pages": [{"page_id": "1005", "name": "Seeded page", "app_id": "300000000000003",
                   "access_token": "EAA-seed", "account_id": "acc-5"}],
        "tokens": [{"token": "EAA-seed", "expires_at": 4102444800}],
        "users": [{"psid": "2005", "page_id": "1005", "first_name": "Seed",
                   "last_name": "User", "last_message_at": int(time.time() * 1000)}],
        "subscriptions": {"1005": {"300000000000003": ["messages"]}},
        "config": {"auto_read": True},
    }
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(seed))
    settings = load_settings(SIMULATOR_STATE_FILE=str(state_file))
    with in_process_client(settings) as test_client:
        control = SimulatorClient(http=test_client)
        control.put_page("1006", "Extra")
        control.reset()
        assert [p["page_id"] for p in test_client.get("/_sim/pages").json()] == ["1005"]
        assert control.subscriptions() == {"1005": {"300000000000003": ["messages"]}}
        assert test_client.get("/_sim/config").json()["auto_read"] is True
        assert test_client.get("/_sim/tokens/EAA-seed").json()["expires_at"] == 4102444800
        answer = test_client.post("/v25.0/me/messages", params={"access_token": "EAA-seed"},
                                  json={"recipient": {"id": "2005"}, "messaging_type": "RESPONSE",
                                        "message": {"text": "Welcome back"}})
        assert answer.status_code == 200


def test_config_is_read_and_patched(client: TestClient) -> None:
    control = SimulatorClient(http=client)
    assert control.config() == {"auto_echo": True, "auto_delivery": True, "auto_read": False,
                                "require_subscription": True}
    assert control.config(auto_read=True, auto_echo=False)["auto_read"] is True
    assert client.get("/_sim/config").json()["auto_echo"] is False


@pytest.mark.parametrize(
    ("name", "content_type", "magic"),
    [
        ("image.png", "image/png", b"\x89PNG\r\n\x1a\n"),
        ("audio.mp3", "audio/mpeg", b"\xff\xfb"),
        ("video.mp4", "video/mp4", b"\x00\x00\x00\x18ftyp"),
        ("document.pdf", "application/pdf", b"%PDF-1.4"),
    ],
)
def test_hosted_files_are_typed_truthfully(client: TestClient, name: str, content_type: str,
                                           magic: bytes) -> None:
    answer = client.get(f"/_sim/files/{name}")
    assert answer.headers["content-type"] == content_type
    assert answer.content.startswith(magic)
    assert name in [f["name"] for f in client.get("/_sim/files").json()]


def test_unknown_hosted_file_is_404(client: TestClient) -> None:
    assert client.get("/_sim/files/secret.txt").status_code == 404
