"""Messenger's handover protocol in the core, without I/O: the webhook events as the parser reads
them (Hypothesis over Meta's shapes: ids as strings or numbers, null previous owners, missing
metadata), what each means for our app, the decisions on a take and at the end of a
conversation, the Graph calls' requests and answers (mocked with ``responses``), the error
that a non-owner's send gets, the health rules, and the queue bodies of the handover calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

from messenger_channel.conversations.handover_decisions import after_take, meaning, passes_back
from messenger_channel.conversations.thread_control import ThreadCommand, is_thread_command
from messenger_channel.facebook.graph import GraphClient
from messenger_channel.facebook.graph_errors import (
    FailureReason,
    GraphError,
    GraphErrorKind,
    error_from_response,
)
from messenger_channel.facebook.webhook_events import HandoverData, parse_webhook
from messenger_channel.provisioning.handover_health import handover_failures
from messenger_channel.provisioning.models import Page, ProvisioningState, Subscription
from messenger_channel.queue_messages import OutboundMessage
from messenger_channel.workforce.handover import PAGE_INBOX_APP_ID, HandoverSettings

OURS = "100000000000001"
BOT = "300000000000003"
PAGE = "1001"
PSID = "2001"
GRAPH = "https://graph.facebook.com/v25.0"
TOKEN = "EAAGm0PX4ZCpsBAKzWf3ZCLkYqTbYZCfJvZB6jZAYx2ZBfTxYuW0test"

APP_IDS = st.sampled_from([OURS, BOT, PAGE_INBOX_APP_ID, "400000000000004"])


def as_sent(app_id: str | None, numeric: bool) -> str | int | None:
    """Meta sends app ids as strings in its samples, and as numbers in some (request)."""
    return None if app_id is None else int(app_id) if numeric else app_id


@st.composite
def handover_events(draw: st.DrawFn) -> tuple[str, dict[str, Any], dict[str, str | None]]:
    action = draw(st.sampled_from(["pass_thread_control", "take_thread_control",
                                   "request_thread_control"]))
    numeric = draw(st.booleans())
    expected: dict[str, str | None] = {}
    data: dict[str, Any] = {}
    if action == "request_thread_control":
        expected["requested_owner_app_id"] = draw(APP_IDS)
    else:
        expected["new_owner_app_id"] = draw(APP_IDS | st.none())
        expected["previous_owner_app_id"] = draw(APP_IDS | st.none())  # null: idle mode
    for name, value in expected.items():
        if value is not None or draw(st.booleans()):
            data[name] = as_sent(value, numeric)
    metadata = draw(st.none() | st.text(max_size=30))
    if metadata is not None:
        data["metadata"] = metadata
    expected["metadata"] = metadata
    event = {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1458692752478,
             action: data}
    return action, event, expected


@given(handover_events(), st.sampled_from(["messaging", "standby"]))
def test_handover_events_parse_with_string_ids_and_their_meaning(
        case: tuple[str, dict[str, Any], dict[str, str | None]], source: str) -> None:
    action, event, expected = case
    batch = parse_webhook({"object": "page", "entry": [{"id": PAGE, "time": 1,
                                                        source: [event]}]})
    assert batch is not None and batch.rejected == []
    [parsed] = batch.events
    assert (parsed.kind, parsed.customer_psid, parsed.page_id) == ("handover", PSID, PAGE)
    data = parsed.handover
    assert data is not None and data.action == action
    for name, value in expected.items():
        assert getattr(data, name) == value
    found = meaning(data, OURS)
    if action == "request_thread_control":
        assert found == ("requested" if expected["requested_owner_app_id"] != OURS else "none")
    elif expected["new_owner_app_id"] == OURS:
        assert found == "ours"
    elif expected["previous_owner_app_id"] == OURS:
        assert found == "taken"
    else:
        assert found == "none"


def test_app_roles_changes_mean_nothing_for_a_thread() -> None:
    roles = HandoverData(action="app_roles", app_roles={OURS: ["secondary_receiver"]})
    assert meaning(roles, OURS) == "none"


@pytest.mark.parametrize(("state", "decision"), [
    ("bot", "close"), ("survey", "close"), ("waiting", "close"), ("offered", "close"),
    ("active", "keep"), ("wrap_up", "keep")])
def test_a_taken_thread_closes_only_what_nobody_works_on(state: Any, decision: str) -> None:
    assert after_take(state) == decision


def test_the_thread_goes_back_only_from_a_secondary_that_may_own_it() -> None:
    assert passes_back("secondary", None, OURS)  # owner unknown: try, Facebook decides
    assert passes_back("secondary", OURS, OURS)
    assert not passes_back("secondary", BOT, OURS)  # taken or passed on already
    assert not passes_back("primary", OURS, OURS)  # the primary keeps its threads
    assert not passes_back(None, OURS, OURS)


def test_return_app_defaults_to_the_page_inbox() -> None:
    assert HandoverSettings(role="secondary").return_app_id() == PAGE_INBOX_APP_ID
    assert HandoverSettings(role="secondary", return_to_app_id=BOT).return_app_id() == BOT
    with pytest.raises(ValueError, match="return_to_app_id"):
        HandoverSettings(role="secondary", return_to_app_id="bot")
    with pytest.raises(ValueError, match="role"):
        HandoverSettings.model_validate({"role": "tertiary"})


def test_a_non_owners_send_is_its_own_failure_reason() -> None:
    body = json.dumps({"error": {
        "message": "(#10) Message failed to send because another app is controlling this "
                   "thread now.", "type": "OAuthException", "code": 10,
        "error_subcode": 2018300, "fbtrace_id": "Avs8o4VvHNJZo04PY2ZGdAp"}}).encode()
    error = error_from_response(400, body)
    assert error.kind is GraphErrorKind.THREAD_NOT_OWNED and error.thread_not_owned
    assert error.failure_reason is FailureReason.THREAD_OWNED_BY_ANOTHER_APP
    assert not error.retryable
    # Another code 10 is still a missing permission.
    other = error_from_response(400, json.dumps({"error": {"code": 10, "message": "x"}}).encode())
    assert other.kind is GraphErrorKind.PERMISSION_MISSING


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as requests_mock:
        yield requests_mock


@pytest.fixture
def graph() -> Iterator[GraphClient]:
    with GraphClient(GRAPH) as client:
        yield client


def test_pass_take_request_send_what_graph_documents(mock: responses.RequestsMock,
                                                     graph: GraphClient) -> None:
    for edge in ("pass_thread_control", "take_thread_control", "request_thread_control"):
        mock.post(f"{GRAPH}/{PAGE}/{edge}", json={"success": True})
    graph.pass_thread_control(PAGE, TOKEN, PSID, PAGE_INBOX_APP_ID, "closed")
    graph.take_thread_control(PAGE, TOKEN, PSID)
    graph.request_thread_control(PAGE, TOKEN, PSID, "x" * 1500)
    bodies = [json.loads(call.request.body or b"{}") for call in mock.calls]
    assert bodies == [
        {"recipient": {"id": PSID}, "target_app_id": PAGE_INBOX_APP_ID, "metadata": "closed"},
        {"recipient": {"id": PSID}},
        {"recipient": {"id": PSID}, "metadata": "x" * 1000}]  # Graph keeps 1000 characters
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}"
               for call in mock.calls)


def test_a_take_answered_with_the_new_owner_is_a_success(mock: responses.RequestsMock,
                                                         graph: GraphClient) -> None:
    mock.post(f"{GRAPH}/{PAGE}/take_thread_control", json={
        "data": [{"thread_owner": {"app_id": OURS, "expiration": 1767225600}}]})
    graph.take_thread_control(PAGE, TOKEN, PSID)


def test_thread_owner_and_secondary_receivers(mock: responses.RequestsMock,
                                              graph: GraphClient) -> None:
    mock.get(f"{GRAPH}/{PAGE}/thread_owner",
             json={"data": [{"thread_owner": {"app_id": 263902037430900}}]})
    mock.get(f"{GRAPH}/{PAGE}/thread_owner", json={"data": []})
    mock.get(f"{GRAPH}/{PAGE}/secondary_receivers",
             json={"data": [{"id": OURS, "name": "Channel"}]})
    assert graph.thread_owner(PAGE, TOKEN, PSID) == PAGE_INBOX_APP_ID
    assert graph.thread_owner(PAGE, TOKEN, PSID) is None  # idle
    [receiver] = graph.secondary_receivers(PAGE, TOKEN)
    assert (receiver.id, receiver.name) == (OURS, "Channel")
    assert "recipient=2001" in (mock.calls[0].request.url or "")


def test_a_refused_take_raises_graphs_error(mock: responses.RequestsMock,
                                           graph: GraphClient) -> None:
    mock.post(f"{GRAPH}/{PAGE}/take_thread_control", status=400, json={"error": {
        "message": "(#10) Application does not have permission for this action",
        "type": "OAuthException", "code": 10}})
    with pytest.raises(GraphError) as refused:
        graph.take_thread_control(PAGE, TOKEN, PSID)
    assert refused.value.kind is GraphErrorKind.PERMISSION_MISSING


def page_with(fields: list[str], *, subscribed: bool = True) -> Page:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return Page(page_id=PAGE, account_id="acc", name="Support",
                provisioning_state=ProvisioningState.RUNNING,
                subscription=Subscription(subscribed=subscribed, fields=fields),
                created_at=now, updated_at=now)


def test_health_says_what_the_subscription_lacks_for_the_role() -> None:
    everything = ["messages", "messaging_handovers", "standby"]
    assert handover_failures(page_with(everything), "secondary") == []
    assert handover_failures(page_with(["messages"]), None) == []
    [standby] = handover_failures(page_with(["messages", "messaging_handovers"]), "secondary")
    assert (standby.rule, standby.subject) == ("handover_standby_subscribed", "page:1001")
    assert handover_failures(page_with(["messages", "messaging_handovers"]), "primary") == []
    rules = {f.rule for f in handover_failures(page_with(["messages"]), "secondary")}
    assert rules == {"handover_subscribed", "handover_standby_subscribed"}
    assert handover_failures(page_with([], subscribed=False), "secondary") == []


@given(st.text(max_size=50))
def test_a_message_never_passes_for_a_handover_command(text: str) -> None:
    """The sender tells the two bodies apart by their first bytes: no text an agent writes
    can make a message look like a command."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    message = OutboundMessage(message_id="m1", conversation_id="cv_1", page_id=PAGE, psid=PSID,
                              author="agent", agent_id="ag_1",
                              text=f'{{"kind":"thread_control"{text}', created_at=now)
    assert not is_thread_command(message.model_dump_json().encode())
    command = ThreadCommand(command_id="tc-take-cv_1", action="take", conversation_id="cv_1",
                            page_id=PAGE, psid=PSID, metadata=text or None, created_at=now)
    assert is_thread_command(command.model_dump_json().encode())
    retry = command.model_copy(update={"attempt": 2}).queue_message()
    assert (retry.session_id, retry.message_id) == ("cv_1", "tc-take-cv_1~2")
