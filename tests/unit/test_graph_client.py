"""The Graph client's requests and parsing, and Graph's errors, with Graph mocked by ``responses``.

Error payloads are worded as Graph words them (Meta's error references and answers quoted in
public issues)."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st

from messenger_channel.facebook.graph import GraphClient
from messenger_channel.facebook.graph_errors import (
    NO_GRAPH_CODE,
    FailureReason,
    GraphError,
    GraphErrorKind,
    GraphUnavailable,
    error_from_response,
    redact,
)

GRAPH = "https://graph.facebook.com/v25.0"
PAGE = "1001"
PSID = "2001"
TOKEN = "EAAGm0PX4ZCpsBAKzWf3ZCLkYqTbYZCfJvZB6jZAYx2ZBfTxYuW0test"
APP_ID = "100000000000001"
APP_SECRET = "0123456789abcdef0123456789abcdef"
SECRETS = (TOKEN, APP_SECRET, f"{APP_ID}|{APP_SECRET}")


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as requests_mock:
        yield requests_mock


@pytest.fixture
def graph() -> Iterator[GraphClient]:
    with GraphClient(GRAPH + "/") as client:  # a trailing slash in the setting is harmless
        yield client


def only_request(mock: responses.RequestsMock) -> requests.PreparedRequest:
    [call] = mock.calls
    request: requests.PreparedRequest = call.request
    assert request.headers["Authorization"] in (f"Bearer {TOKEN}",
                                                f"Bearer {APP_ID}|{APP_SECRET}")
    assert "access_token" not in (request.url or "")
    return request


def path_and_query(request: requests.PreparedRequest) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(request.url or "")
    return parts.path, parse_qs(parts.query)


def graph_error(code: int, message: str, subcode: int | None = None, *,
                error_type: str = "OAuthException", transient: bool | None = None,
                status: int = 400) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code,
                             "fbtrace_id": "AbC1dEf2GhI"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    return {"error": error}


# -- requests and parsing -----------------------------------------------------------------------


def test_debug_token(graph: GraphClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/debug_token", json={"data": {
        "app_id": APP_ID, "type": "PAGE", "application": "Contoso Channel",
        "data_access_expires_at": 1790000000, "expires_at": 0, "is_valid": True,
        "issued_at": 1760000000, "profile_id": PAGE,
        "scopes": ["pages_messaging", "pages_manage_metadata"],
        "granular_scopes": [{"scope": "pages_messaging", "target_ids": [PAGE]},
                            {"scope": "pages_manage_metadata"}],
        "user_id": "100000000000099",
    }})
    info = graph.debug_token(TOKEN, app_id=APP_ID, app_secret=APP_SECRET)
    request = only_request(mock)
    assert request.method == "GET"
    assert request.headers["Authorization"] == f"Bearer {APP_ID}|{APP_SECRET}"
    assert path_and_query(request) == ("/v25.0/debug_token", {"input_token": [TOKEN]})
    assert info.is_valid and (info.app_id, info.type, info.profile_id) == (APP_ID, "PAGE", PAGE)
    assert info.expires_at is None  # 0: never
    assert info.data_access_expires_at == datetime.fromtimestamp(1790000000, UTC)
    assert info.scopes == ["pages_messaging", "pages_manage_metadata"]
    assert [(s.scope, s.target_ids) for s in info.granular_scopes] == [
        ("pages_messaging", [PAGE]), ("pages_manage_metadata", [])]
    assert info.error is None


def test_debug_token_of_an_invalid_token_is_an_answer(graph: GraphClient,
                                                      mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/debug_token", json={"data": {
        "app_id": APP_ID, "type": "PAGE", "is_valid": False, "expires_at": 1767225600,
        "data_access_expires_at": 0, "scopes": [],
        "error": {"code": 190, "subcode": 460, "message": "Error validating access token: The "
                  "session has been invalidated because the user changed their password."},
    }})
    info = graph.debug_token(TOKEN, app_id=APP_ID, app_secret=APP_SECRET)
    assert not info.is_valid
    assert info.expires_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert info.data_access_expires_at is None
    assert info.error is not None and (info.error.code, info.error.subcode) == (190, 460)


def test_debug_token_of_an_unknown_token(graph: GraphClient,
                                         mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/debug_token", json={"data": {
        "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access "
                  "token"}, "is_valid": False, "scopes": []}})
    info = graph.debug_token(TOKEN, app_id=APP_ID, app_secret=APP_SECRET)
    assert (info.is_valid, info.app_id, info.expires_at) == (False, None, None)
    assert info.error is not None and info.error.message.startswith("Invalid OAuth access token")


def test_me(graph: GraphClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/me", json={"name": "Contoso Support", "id": PAGE})
    page = graph.me(TOKEN)
    assert path_and_query(only_request(mock)) == ("/v25.0/me", {"fields": ["id,name"]})
    assert (page.id, page.name) == (PAGE, "Contoso Support")


def test_subscribe_app_joins_the_fields_with_commas(graph: GraphClient,
                                                    mock: responses.RequestsMock) -> None:
    mock.post(f"{GRAPH}/{PAGE}/subscribed_apps", json={"success": True})
    graph.subscribe_app(PAGE, TOKEN, ["messages", "message_echoes", "messaging_postbacks"])
    request = only_request(mock)
    assert request.method == "POST"
    assert path_and_query(request) == (
        f"/v25.0/{PAGE}/subscribed_apps",
        {"subscribed_fields": ["messages,message_echoes,messaging_postbacks"]})


def test_subscribed_apps(graph: GraphClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/{PAGE}/subscribed_apps", json={"data": [
        {"category": "Business", "link": "https://example.com", "name": "Contoso Channel",
         "id": APP_ID, "subscribed_fields": ["messages", "message_echoes"]},
        {"name": "Another App", "id": 100000000000002},
    ]})
    apps = graph.subscribed_apps(PAGE, TOKEN)
    assert only_request(mock).method == "GET"
    assert [(a.id, a.name, a.subscribed_fields) for a in apps] == [
        (APP_ID, "Contoso Channel", ["messages", "message_echoes"]),
        ("100000000000002", "Another App", [])]


def test_unsubscribe_app(graph: GraphClient, mock: responses.RequestsMock) -> None:
    mock.delete(f"{GRAPH}/{PAGE}/subscribed_apps", json={"success": True})
    graph.unsubscribe_app(PAGE, TOKEN)
    request = only_request(mock)
    assert (request.method, path_and_query(request)) == (
        "DELETE", (f"/v25.0/{PAGE}/subscribed_apps", {}))


def test_an_unconfirmed_success_is_an_error(graph: GraphClient,
                                            mock: responses.RequestsMock) -> None:
    mock.delete(f"{GRAPH}/{PAGE}/subscribed_apps", json={"success": False})
    with pytest.raises(GraphError) as raised:
        graph.unsubscribe_app(PAGE, TOKEN)
    assert (raised.value.code, raised.value.type) == (NO_GRAPH_CODE, "UnexpectedAnswer")
    assert not raised.value.retryable


def test_send_message_posts_the_callers_body(graph: GraphClient,
                                             mock: responses.RequestsMock) -> None:
    mock.post(f"{GRAPH}/{PAGE}/messages",
              json={"recipient_id": PSID, "message_id": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM"})
    body = {"recipient": {"id": PSID}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
            "message": {"text": "Grüße, wie kann ich helfen?", "metadata": "msg-42"}}
    result = graph.send_message(PAGE, TOKEN, body)
    request = only_request(mock)
    assert request.headers["Content-Type"] == "application/json"
    assert path_and_query(request) == (f"/v25.0/{PAGE}/messages", {})
    assert json.loads(request.body or b"") == body
    assert (result.recipient_id, result.message_id) == (PSID, "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM")


def test_sender_action(graph: GraphClient, mock: responses.RequestsMock) -> None:
    mock.post(f"{GRAPH}/{PAGE}/messages", json={"recipient_id": PSID})
    graph.sender_action(PAGE, TOKEN, PSID, "typing_on")
    request = only_request(mock)
    assert json.loads(request.body or b"") == {"recipient": {"id": PSID},
                                               "sender_action": "typing_on"}


def test_user_profile(graph: GraphClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/{PSID}", json={"first_name": "Ada", "last_name": "Lovelace",
                                      "profile_pic": "https://example.com/ada.jpg", "id": PSID})
    profile = graph.user_profile(PSID, TOKEN, ["first_name", "last_name", "profile_pic"])
    assert path_and_query(only_request(mock)) == (
        f"/v25.0/{PSID}", {"fields": ["first_name,last_name,profile_pic"]})
    assert profile["first_name"] == "Ada" and profile["id"] == PSID


def test_user_profile_without_access_is_just_the_id(graph: GraphClient,
                                                    mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/{PSID}", json={"id": PSID})
    assert graph.user_profile(PSID, TOKEN, ["first_name"]) == {"id": PSID}


def test_upload_attachment_is_multipart(graph: GraphClient,
                                        mock: responses.RequestsMock) -> None:
    mock.post(f"{GRAPH}/{PAGE}/message_attachments", json={"attachment_id": "1857777774821032"})
    data = bytes(range(256)) * 4
    attachment_id = graph.upload_attachment(PAGE, TOKEN, attachment_type="image",
                                            filename="photo.png", content_type="image/png",
                                            data=data)
    request = only_request(mock)
    assert path_and_query(request) == (f"/v25.0/{PAGE}/message_attachments", {})
    parts = multipart_parts(request)
    assert json.loads(parts["message"][2]) == {
        "attachment": {"type": "image", "payload": {"is_reusable": True}}}
    assert parts["filedata"] == ("photo.png", "image/png", data)
    assert attachment_id == "1857777774821032"


def multipart_parts(request: requests.PreparedRequest) -> dict[str, tuple[str | None, str, bytes]]:
    """name → (filename, content type, bytes) of a multipart/form-data body."""
    body = request.body
    assert isinstance(body, bytes)
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + body, policy=email.policy.HTTP)
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        parts[name] = (part.get_filename(), part.get_content_type(), payload)
    return parts


@pytest.mark.parametrize("call", [
    lambda g: g.me("EAA token with spaces"),
    lambda g: g.me(""),
    lambda g: g.send_message("../debug_token", TOKEN, {}),
    lambda g: g.user_profile("2001?fields=x", TOKEN, ["first_name"]),
    lambda g: g.user_profile(PSID, TOKEN, "first_name"),
    lambda g: g.subscribe_app(PAGE, TOKEN, []),
    lambda g: g.debug_token(TOKEN, app_id="not-an-id", app_secret=APP_SECRET),
])
def test_bad_arguments_are_refused_before_sending(graph: GraphClient,
                                                  mock: responses.RequestsMock,
                                                  call: Any) -> None:
    with pytest.raises(ValueError, match=r"^(?!.*EAA)"):
        call(graph)
    assert len(mock.calls) == 0


def test_threads_share_one_client(graph: GraphClient, mock: responses.RequestsMock) -> None:
    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        recipient = json.loads(request.body or b"")["recipient"]["id"]
        return 200, {}, json.dumps({"recipient_id": recipient, "message_id": f"m_{recipient}"})

    mock.add_callback(responses.POST, f"{GRAPH}/{PAGE}/messages", callback=answer)
    results: dict[str, str] = {}

    def send(psid: str) -> None:
        for _ in range(10):
            result = graph.send_message(PAGE, TOKEN, {"recipient": {"id": psid},
                                                      "message": {"text": "hi"}})
            assert result.recipient_id == psid
        results[psid] = result.message_id

    threads = [threading.Thread(target=send, args=(str(3000 + n),)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {str(3000 + n): f"m_{3000 + n}" for n in range(8)}
    assert len(mock.calls) == 80


def test_an_injected_session_is_used_and_left_open(mock: responses.RequestsMock) -> None:
    session = requests.Session()
    session.headers["X-Trace"] = "abc"
    mock.get(f"{GRAPH}/me", json={"id": PAGE, "name": "Contoso"})
    with GraphClient(GRAPH, session=session) as client:
        client.me(TOKEN)
    assert only_request(mock).headers["X-Trace"] == "abc"
    mock.get(f"{GRAPH}/me", json={"id": PAGE, "name": "Contoso"})
    assert session.get(f"{GRAPH}/me").status_code == 200  # still usable


# -- errors and their classification -------------------------------------------------------------

CLASSIFIED = [
    pytest.param(190, 463, "Error validating access token: Session has expired on Tuesday, "
                 "01-Sep-26 10:00:00 PDT. The current time is Tuesday, 01-Sep-26 11:00:00 PDT.",
                 None, GraphErrorKind.TOKEN_INVALID, FailureReason.PAGE_TOKEN_INVALID,
                 id="190/463 expired"),
    pytest.param(190, 460, "Error validating access token: The session has been invalidated "
                 "because the user changed their password or Facebook has changed the session "
                 "for security reasons.", None, GraphErrorKind.TOKEN_INVALID,
                 FailureReason.PAGE_TOKEN_INVALID, id="190/460 password changed"),
    pytest.param(190, None, "Invalid OAuth access token - Cannot parse access token", None,
                 GraphErrorKind.TOKEN_INVALID, FailureReason.PAGE_TOKEN_INVALID, id="190"),
    pytest.param(10, 2018278, "(#10) This message is sent outside of allowed window. Learn more "
                 "about the new policy here: https://developers.facebook.com/docs/"
                 "messenger-platform/policy-overview", None, GraphErrorKind.OUTSIDE_WINDOW,
                 FailureReason.OUTSIDE_MESSAGING_WINDOW, id="10/2018278 window"),
    pytest.param(10, 2018065, "(#10) This message is sent outside of allowed window. You need "
                 "page_messaging_subscriptions permission to be able to do it.", None,
                 GraphErrorKind.OUTSIDE_WINDOW, FailureReason.OUTSIDE_MESSAGING_WINDOW,
                 id="10/2018065 window"),
    pytest.param(551, 1545041, "(#551) This person isn't available right now.", None,
                 GraphErrorKind.USER_UNAVAILABLE, FailureReason.CUSTOMER_UNAVAILABLE,
                 id="551/1545041 unavailable"),
    pytest.param(551, None, "(#551) This person isn't available right now.", None,
                 GraphErrorKind.USER_UNAVAILABLE, FailureReason.CUSTOMER_UNAVAILABLE, id="551"),
    pytest.param(200, 1545041, "Message Not Sent: This person isn't available right now.", None,
                 GraphErrorKind.USER_UNAVAILABLE, FailureReason.CUSTOMER_UNAVAILABLE,
                 id="200/1545041 unavailable"),
    pytest.param(10, 2018108, "(#10) This person isn't receiving messages from you right now.",
                 None, GraphErrorKind.USER_UNAVAILABLE, FailureReason.CUSTOMER_UNAVAILABLE,
                 id="10/2018108 not receiving"),
    pytest.param(100, 2018001, "(#100) No matching user found", None,
                 GraphErrorKind.NO_MATCHING_USER, FailureReason.NO_MATCHING_USER,
                 id="100/2018001"),
    pytest.param(613, None, "(#613) Calls to this api have exceeded the rate limit.", True,
                 GraphErrorKind.RATE_LIMITED, FailureReason.RATE_LIMITED, id="613"),
    pytest.param(4, None, "(#4) Application request limit reached", True,
                 GraphErrorKind.RATE_LIMITED, FailureReason.RATE_LIMITED, id="4"),
    pytest.param(4, 2018022, "(#4) Too many send requests to phone numbers", True,
                 GraphErrorKind.RATE_LIMITED, FailureReason.RATE_LIMITED, id="4/2018022"),
    pytest.param(17, None, "(#17) User request limit reached", True,
                 GraphErrorKind.RATE_LIMITED, FailureReason.RATE_LIMITED, id="17"),
    pytest.param(32, None, "(#32) Page request limit reached", True,
                 GraphErrorKind.RATE_LIMITED, FailureReason.RATE_LIMITED, id="32"),
    pytest.param(80006, None, "(#80006) There have been too many messenger api calls to this "
                 "Page. Wait a bit and try again.", True, GraphErrorKind.RATE_LIMITED,
                 FailureReason.RATE_LIMITED, id="80006 Messenger BUC"),
    pytest.param(10, None, "(#10) Application does not have permission for this action", None,
                 GraphErrorKind.PERMISSION_MISSING, FailureReason.FACEBOOK_ERROR, id="10"),
    pytest.param(230, None, "(#230) Requires pages_messaging permission to manage the object",
                 None, GraphErrorKind.PERMISSION_MISSING, FailureReason.FACEBOOK_ERROR,
                 id="230"),
    pytest.param(200, 2018028, "(#200) Cannot message users who are not admins, developers or "
                 "testers of the app until pages_messaging permission is reviewed and the app is "
                 "live.", None, GraphErrorKind.PERMISSION_MISSING, FailureReason.FACEBOOK_ERROR,
                 id="200/2018028"),
    pytest.param(299, None, "(#299) Requires extended permission: manage_pages", None,
                 GraphErrorKind.PERMISSION_MISSING, FailureReason.FACEBOOK_ERROR, id="299"),
    pytest.param(1200, None, "(#1200) Temporary send message failure. Please try again later",
                 True, GraphErrorKind.TRANSIENT, FailureReason.FACEBOOK_ERROR, id="1200"),
    pytest.param(2, None, "An unexpected error has occurred. Please retry your request later.",
                 True, GraphErrorKind.TRANSIENT, FailureReason.FACEBOOK_ERROR, id="2"),
    pytest.param(1, None, "An unknown error occurred", None, GraphErrorKind.TRANSIENT,
                 FailureReason.FACEBOOK_ERROR, id="1"),
    pytest.param(9999, None, "(#9999) Something new", True, GraphErrorKind.TRANSIENT,
                 FailureReason.FACEBOOK_ERROR, id="is_transient"),
    pytest.param(100, None, "(#100) Invalid parameter", None, GraphErrorKind.OTHER,
                 FailureReason.FACEBOOK_ERROR, id="100"),
    pytest.param(100, 2018218, "(#100) No profile available for this user.", None,
                 GraphErrorKind.OTHER, FailureReason.FACEBOOK_ERROR, id="100/2018218"),
    pytest.param(100, 2018109, "(#100) Attachment size exceeds allowable limit", None,
                 GraphErrorKind.OTHER, FailureReason.FACEBOOK_ERROR, id="100/2018109"),
]


@pytest.mark.parametrize(("code", "subcode", "message", "transient", "kind", "reason"),
                         CLASSIFIED)
def test_graph_errors_are_classified(graph: GraphClient, mock: responses.RequestsMock,
                                     code: int, subcode: int | None, message: str,
                                     transient: bool | None, kind: GraphErrorKind,
                                     reason: FailureReason) -> None:
    mock.post(f"{GRAPH}/{PAGE}/messages",
              json=graph_error(code, message, subcode, transient=transient), status=400)
    with pytest.raises(GraphError) as raised:
        graph.send_message(PAGE, TOKEN, {"recipient": {"id": PSID}, "message": {"text": "hi"}})
    error = raised.value
    assert type(error) is GraphError
    assert (error.http_status, error.code, error.subcode) == (400, code, subcode)
    assert (error.message, error.type, error.fbtrace_id) == (message, "OAuthException",
                                                             "AbC1dEf2GhI")
    assert (error.kind, error.failure_reason) == (kind, reason)
    flags = {k: getattr(error, k.value) for k in GraphErrorKind if k is not GraphErrorKind.OTHER}
    assert flags == {k: k is kind for k in flags}
    assert error.retryable == (kind in (GraphErrorKind.TRANSIENT, GraphErrorKind.RATE_LIMITED))
    assert error.__cause__ is None and error.__context__ is None


def test_a_5xx_with_graphs_envelope_is_transient(graph: GraphClient,
                                                 mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/me", status=500, json=graph_error(
        2, "An unexpected error has occurred. Please retry your request later.", transient=True))
    with pytest.raises(GraphError) as raised:
        graph.me(TOKEN)
    assert (raised.value.http_status, raised.value.code) == (500, 2)
    assert raised.value.transient and raised.value.retryable


def test_a_5xx_html_page_is_graph_unavailable(graph: GraphClient,
                                              mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/me", status=503, content_type="text/html",
             body="<!DOCTYPE html><html><body>Sorry, something went wrong.</body></html>")
    with pytest.raises(GraphUnavailable) as raised:
        graph.me(TOKEN)
    error = raised.value
    assert (error.http_status, error.code, error.cause) == (503, NO_GRAPH_CODE, "bad_answer")
    assert error.is_transient and error.transient and error.retryable
    assert error.failure_reason is FailureReason.FACEBOOK_ERROR
    assert "<html" not in str(error)


def test_a_429_without_graphs_envelope_is_a_rate_limit(graph: GraphClient,
                                                       mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/me", status=429, body="Too Many Requests")
    with pytest.raises(GraphError) as raised:
        graph.me(TOKEN)
    assert raised.value.rate_limited


def test_a_4xx_that_is_not_graph_json_is_not_retried(graph: GraphClient,
                                                     mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/me", status=404, body="<html>Not Found</html>")
    with pytest.raises(GraphError) as raised:
        graph.me(TOKEN)
    assert type(raised.value) is GraphError
    assert (raised.value.kind, raised.value.retryable) == (GraphErrorKind.OTHER, False)


def test_a_redirect_is_not_followed(graph: GraphClient, mock: responses.RequestsMock) -> None:
    # Following it would carry the token to wherever the redirect points.
    mock.get(f"{GRAPH}/me", status=302, headers={"Location": "https://elsewhere.example/me"})
    with pytest.raises(GraphError) as raised:
        graph.me(TOKEN)
    assert raised.value.http_status == 302
    assert len(mock.calls) == 1


def test_a_success_that_is_not_json(graph: GraphClient, mock: responses.RequestsMock) -> None:
    mock.post(f"{GRAPH}/{PAGE}/messages", status=200, body="OK")
    with pytest.raises(GraphError) as raised:
        graph.send_message(PAGE, TOKEN, {"recipient": {"id": PSID}})
    assert (raised.value.type, raised.value.http_status) == ("UnexpectedAnswer", 200)


@pytest.mark.parametrize("exception", [
    requests.ReadTimeout("HTTPSConnectionPool(host='graph.facebook.com', port=443): Read timed "
                         "out. (read timeout=10)"),
    requests.ConnectTimeout("HTTPSConnectionPool(host='graph.facebook.com', port=443): Max "
                            f"retries exceeded with url: /v25.0/debug_token?input_token={TOKEN}"),
])
def test_a_timeout_is_graph_unavailable(graph: GraphClient, mock: responses.RequestsMock,
                                        exception: Exception) -> None:
    mock.get(f"{GRAPH}/me", body=exception)
    with pytest.raises(GraphUnavailable) as raised:
        graph.me(TOKEN)
    error = raised.value
    assert (error.cause, error.http_status, error.code) == ("timeout", 0, NO_GRAPH_CODE)
    assert error.transient and error.retryable
    assert error.__cause__ is None and error.__context__ is None


def test_a_connection_error_is_graph_unavailable(graph: GraphClient,
                                                 mock: responses.RequestsMock) -> None:
    mock.get(f"{GRAPH}/me", body=requests.ConnectionError(
        "HTTPSConnectionPool(host='graph.facebook.com', port=443): Max retries exceeded with "
        f"url: /v25.0/me?access_token={TOKEN} (Caused by NewConnectionError('Failed to "
        "establish a new connection: [Errno 111] Connection refused'))"))
    with pytest.raises(GraphUnavailable) as raised:
        graph.me(TOKEN)
    assert raised.value.cause == "connection"
    assert "ConnectionError" in str(raised.value)
    assert raised.value.__context__ is None


# -- no secret anywhere --------------------------------------------------------------------------

# Each arms one failure; Graph never puts a token in its messages, but a proxy or a bug might.
FAILURES = {
    "graph error quoting the token": dict(status=400, json=graph_error(
        190, f"Invalid OAuth access token {TOKEN} (access_token={TOKEN}, app token "
             f"{APP_ID}|{APP_SECRET})", 460)),
    "5xx html quoting the token": dict(status=502, body=f"<html>bad gateway {TOKEN}</html>"),
    "404 html quoting the token": dict(status=404, body=f"<html>no {TOKEN}</html>"),
    "success that is not json": dict(status=200, body=f"token={TOKEN}"),
    "timeout": dict(body=requests.ReadTimeout(f"read timed out, url: /me?access_token={TOKEN}")),
    "connection error": dict(body=requests.ConnectionError(
        f"Max retries exceeded with url: /debug_token?input_token={TOKEN}&access_token="
        f"{APP_ID}|{APP_SECRET}")),
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
@pytest.mark.parametrize("operation", ["debug_token", "page_call"])
def test_no_secret_in_errors_or_logs(graph: GraphClient, mock: responses.RequestsMock,
                                     caplog: pytest.LogCaptureFixture, failure: dict[str, Any],
                                     operation: str) -> None:
    caplog.set_level(logging.DEBUG)
    call: Callable[[], object]
    if operation == "debug_token":
        mock.get(f"{GRAPH}/debug_token", **failure)
        call = partial(graph.debug_token, TOKEN, app_id=APP_ID, app_secret=APP_SECRET)
    else:
        mock.post(f"{GRAPH}/{PAGE}/message_attachments", **failure)
        call = partial(graph.upload_attachment, PAGE, TOKEN, attachment_type="file",
                       filename="a.txt", content_type="text/plain", data=b"hello")
    with pytest.raises(GraphError) as raised:
        call()
    error = raised.value
    seen = "\n".join([str(error), repr(error), error.message, error.type,
                      error.fbtrace_id or "", "".join(traceback.format_exception(error)),
                      caplog.text])
    for secret in SECRETS:
        assert secret not in seen


def test_redact_keeps_graphs_words_and_cuts_token_shapes() -> None:
    kept = "(#190) Invalid OAuth access token - Cannot parse access token"
    assert redact(kept) == kept
    assert redact("see https://developers.facebook.com/docs/messenger-platform/policy-overview") \
        == "see https://developers.facebook.com/docs/messenger-platform/policy-overview"
    assert redact(f"url /me?access_token={TOKEN}&x=1") == "url /me?access_token=[redacted]&x=1"
    assert redact(f"Authorization: Bearer {TOKEN}") == "Authorization: Bearer [redacted]"
    assert redact(f"app {APP_ID}|{APP_SECRET}") == "app [redacted]"
    assert redact("a token EAAB" + "x1" * 20 + " here") == "a token [redacted] here"
    assert redact("opaque " + "Zx9" * 20) == "opaque [redacted]"
    assert redact("the secret is hunter2", ["hunter2"]) == "the secret is [redacted]"


# -- parsing never fails -------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
ENVELOPE_FIELDS = st.fixed_dictionaries({}, optional={
    "message": JSON, "type": JSON, "code": JSON | st.integers(), "error_subcode": JSON,
    "is_transient": JSON, "fbtrace_id": JSON,
})


def assert_usable(error: GraphError) -> None:
    assert isinstance(error, GraphError)
    assert isinstance(str(error), str) and isinstance(repr(error), str)
    assert isinstance(error.kind, GraphErrorKind)
    assert isinstance(error.failure_reason, FailureReason)
    assert isinstance(error.retryable, bool)


@given(status=st.integers(min_value=300, max_value=599),
       envelope=ENVELOPE_FIELDS | JSON, wrap=st.booleans())
def test_any_json_error_body_parses_to_a_graph_error(status: int, envelope: Any,
                                                     wrap: bool) -> None:
    body = json.dumps({"error": envelope} if wrap else envelope).encode()
    assert_usable(error_from_response(status, body, secrets=[TOKEN]))


@given(status=st.integers(min_value=300, max_value=599), body=st.binary(max_size=200))
def test_any_bytes_parse_to_a_graph_error(status: int, body: bytes) -> None:
    assert_usable(error_from_response(status, body))
