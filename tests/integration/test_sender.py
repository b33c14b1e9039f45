"""Agents' replies through the ``outbound`` queue and the sender, against the simulator:
the Send API request, attachments, Graph errors, windows, retries in order, exactly once."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from messenger_channel.bus.local import LocalQueue
from messenger_channel.bus.port import QueueUnavailable
from messenger_channel.bus.queues import OUTBOUND
from messenger_channel.conversations.agent_files import agent_files
from messenger_channel.conversations.inbound import handle_inbound
from messenger_channel.conversations.models import Message
from messenger_channel.conversations.sender import MAX_ATTEMPTS, metadata_for, process_outbound
from messenger_channel.provisioning.queue_health import failed_sends
from messenger_channel.provisioning.repository import ChannelTables
from messenger_channel.queue_messages import OutboundMessage
from messenger_channel.services import Services
from messenger_channel.workforce.workstreams import Workstreams
from simulator.client import SimulatorClient
from tests.integration.test_agent_api import AgentClient
from tests.support.engine import Engine, new_id

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
HOUR = 3600


@pytest.fixture
def engine(services: Services, simulator_url: str) -> Iterator[Engine]:
    with SimulatorClient(simulator_url) as simulator:
        yield Engine(services, simulator)


class Chat:
    """One customer's conversation, accepted by an agent, with both clocks movable."""

    def __init__(self, engine: Engine, api: TestClient, **workstream: Any) -> None:
        self.engine = engine
        engine.workstream(**workstream)
        self.agent_id, key = engine.agent("Ann")
        self.agent = AgentClient(api, key)
        self.psid = new_id()
        engine.simulator.put_user(self.psid, engine.page_id, first_name="Lea")
        self.customer_says("Hello")
        self.id = engine.conversation_of(self.psid).id
        self.agent.ok("POST", f"/conversations/{self.id}/accept")
        self.drain()

    def customer_says(self, text: str) -> None:
        envelope = self.engine.message(self.psid, text)
        # The simulator's window counts from the customer's message, as Facebook's does.
        self.engine.simulator.put_user(self.psid, self.engine.page_id,
                                       last_message_at=envelope.event().timestamp)
        handle_inbound(self.engine.services, envelope)

    def later(self, seconds: float) -> None:
        offset = self.engine.services.clock.offset_seconds + seconds
        self.engine.services.clock.set_offset(offset)
        self.engine.simulator.set_clock(offset)

    def reply(self, text: str | None = None, attachment_ids: list[str] | None = None) -> Any:
        body: dict[str, Any] = {"text": text} if text is not None else {}
        if attachment_ids:
            body["attachment_ids"] = attachment_ids
        return self.agent.call("POST", f"/conversations/{self.id}/messages", body)

    def queued(self, text: str) -> str:
        answer = self.reply(text)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["id"])

    def drain(self) -> int:
        """Run the sender over every due ``outbound`` message, settling as the host does."""
        queue = self.engine.services.queue
        assert isinstance(queue, LocalQueue)
        count = 0
        while (received := queue.receive(OUTBOUND.name)) is not None:
            try:
                process_outbound(self.engine.services, received.body)
            except Exception:
                queue.abandon(received)
                raise
            queue.complete(received)
            count += 1
        return count

    def sent(self) -> list[dict[str, Any]]:
        return self.engine.simulator.sent(page_id=self.engine.page_id, psid=self.psid)

    def row(self, message_id: str) -> Message:
        [row] = [m for m in self.engine.history(self.psid) if m.id == message_id]
        return row


def test_reply_reaches_facebook_and_its_status_follows(engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    answer = chat.reply("Your order ships today.")
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    message_id = answer.json()["id"]
    assert chat.row(message_id).status == "queued"
    assert chat.drain() == 1
    [sent] = chat.sent()
    assert sent["message"]["text"] == "Your order ships today."
    assert sent["messaging_type"] == "RESPONSE" and sent["tag"] is None
    assert sent["metadata"].startswith(f"out:{chat.id}:ag_")
    row = chat.row(message_id)
    assert (row.status, row.facebook_message_id) == ("sent", sent["message_id"])
    listed = chat.agent.ok("GET", f"/conversations/{chat.id}/messages")["items"]
    assert [(m["author"], m["status"]) for m in listed][-1] == ("agent", "sent")


def test_long_reply_is_split_and_sent_in_order(engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    paragraphs = [f"Paragraph {n}. " + "word " * 250 for n in range(4)]  # ~1270 chars each
    answer = chat.reply("\n\n".join(paragraphs))
    assert answer.status_code == 202, answer.text
    assert len(answer.json()["message_ids"]) == 4
    chat.drain()
    texts = [s["message"]["text"] for s in chat.sent()]
    assert [t.split(".")[0] for t in texts] == [f"Paragraph {n}" for n in range(4)]
    assert all(len(t) <= 2000 for t in texts)


def test_redelivered_message_is_not_sent_twice_and_the_echo_reconciles(
        engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    chat.queued("Once only")
    queue = engine.services.queue
    assert isinstance(queue, LocalQueue)
    received = queue.receive(OUTBOUND.name)
    assert received is not None
    process_outbound(engine.services, received.body)
    queue.abandon(received)  # the lock was lost after the send: delivered again
    assert chat.drain() == 1
    assert len(chat.sent()) == 1
    # A send whose answer was lost: the echo, carrying our metadata, records it.
    message_id = chat.queued("Answer lost")
    received = queue.receive(OUTBOUND.name)
    assert received is not None
    queue.abandon(received)
    metadata = metadata_for(OutboundMessage.model_validate_json(received.body))
    echo = engine.envelope(chat.psid, {"message": {
        "mid": "m_echoed", "is_echo": True, "text": "Answer lost", "metadata": metadata}},
        own_echo_app=True)
    handle_inbound(engine.services, echo)
    row = chat.row(message_id)
    assert (row.status, row.facebook_message_id) == ("sent", "m_echoed")
    chat.drain()
    assert [s["message"]["text"] for s in chat.sent()] == ["Once only"]


@pytest.mark.parametrize(("fault", "reason"), [
    ({"code": 10, "subcode": 2018278}, "outside_messaging_window"),
    ({"code": 551, "subcode": 1545041}, "customer_unavailable"),
    ({"code": 100, "subcode": 2018001}, "no_matching_user"),
    ({"code": 100}, "facebook_error"),
])
def test_graph_errors_fail_the_message_with_the_reason(
        engine: Engine, api: TestClient, fault: dict[str, int], reason: str) -> None:
    chat = Chat(engine, api)
    engine.simulator.add_fault(operation="send", page_id=engine.page_id, kind="graph_error",
                               times=1, **fault)
    message_id = chat.queued("Hello?")
    chat.drain()
    row = chat.row(message_id)
    assert (row.status, row.failure_reason) == ("failed", reason)
    assert failed_sends(engine.services)[engine.page_id] == {reason: 1}  # for the health route


def test_a_refused_token_fails_the_message_and_puts_the_page_in_error(
        engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    engine.simulator.add_fault(operation="send", page_id=engine.page_id, kind="graph_error",
                               code=190, subcode=460, times=1)
    message_id = chat.queued("Hello?")
    chat.drain()
    assert chat.row(message_id).failure_reason == "page_token_invalid"
    page = ChannelTables(engine.services.tables).page(engine.page_id)
    assert page is not None and page.provisioning_state == "Error"
    assert page.token_health.status == "invalid"
    refused = chat.reply("Still there?")
    assert (refused.status_code, refused.json()["error"]) == (409, "page_token_invalid")


def test_retries_keep_the_order_then_succeed(engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    engine.simulator.add_fault(operation="send", page_id=engine.page_id, kind="graph_error",
                               code=1200, times=2)
    first, second = chat.queued("first"), chat.queued("second")
    chat.drain()
    assert chat.sent() == []  # the first waits for its retry; the second waits behind it
    assert chat.row(second).status == "queued"
    third = chat.queued("third")
    for _ in range(3):
        chat.later(30 * 60)
        chat.drain()
    assert [s["message"]["text"] for s in chat.sent()] == ["first", "second", "third"]
    assert {chat.row(i).status for i in (first, second, third)} == {"sent"}


def test_failed_after_the_retry_limit_then_the_next_goes(engine: Engine,
                                                         api: TestClient) -> None:
    chat = Chat(engine, api)
    fault = engine.simulator.add_fault(operation="send", page_id=engine.page_id,
                                       kind="http_5xx", times=MAX_ATTEMPTS)
    assert fault["id"]
    first, second = chat.queued("first"), chat.queued("second")
    for _ in range(MAX_ATTEMPTS + 1):
        chat.drain()
        chat.later(30 * 60)
    row = chat.row(first)
    assert (row.status, row.failure_reason) == ("failed", "facebook_error")
    assert [s["message"]["text"] for s in chat.sent()] == ["second"]
    assert chat.row(second).status == "sent"


def test_window_boundaries(engine: Engine, api: TestClient) -> None:
    tagged = Chat(engine, api, human_agent_tag=True)
    tagged.later(23 * HOUR + 59 * 60)
    tagged.queued("within a day")
    tagged.drain()
    tagged.later(2 * 60)  # 24h01m
    tagged.queued("with the tag")
    tagged.drain()
    assert [(s["messaging_type"], s["tag"]) for s in tagged.sent()] == [
        ("RESPONSE", None), ("MESSAGE_TAG", "HUMAN_AGENT")]
    tagged.later(6 * 24 * HOUR)  # 7 days + 1 minute
    refused = tagged.reply("too late")
    assert (refused.status_code, refused.json()["error"]) == (409, "outside_messaging_window")


def test_window_without_the_tag_and_queued_messages_that_outlive_it(
        engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    chat.later(23 * HOUR + 59 * 60)
    late = chat.queued("just in time, but sent too late")
    chat.later(2 * 60)
    requests_before = len(engine.simulator.requests(path_contains="/messages"))
    chat.drain()
    assert chat.row(late).failure_reason == "outside_messaging_window"
    assert len(engine.simulator.requests(path_contains="/messages")) == requests_before
    refused = chat.reply("hello?")
    assert (refused.status_code, refused.json()["error"]) == (409, "outside_messaging_window")


def test_attachments_upload_send_and_visibility(engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    files = {"file": ("photo.png", PNG, "image/png")}
    created = chat.agent.api.post("/api/agent/attachments", files=files,
                                  headers=chat.agent.headers)
    assert created.status_code == 201, created.text
    attachment = created.json()
    assert (attachment["name"], attachment["content_type"], attachment["size"]) == (
        "photo.png", "image/png", len(PNG))
    path = f"/attachments/{attachment['id']}"
    assert chat.agent.call("GET", path).content == PNG
    other_queue = engine.queue("Billing")
    _, other_key = engine.agent("Bob", queues=[other_queue])
    other = AgentClient(api, other_key)
    assert other.call("GET", path).status_code == 404
    answer = chat.reply("Here it is", [attachment["id"]])
    assert answer.status_code == 202, answer.text
    assert other.call("POST", f"/conversations/{chat.id}/messages",
                      {"text": "hi"}).status_code == 404
    chat.drain()
    text, image = chat.sent()
    assert text["message"]["text"] == "Here it is"
    assert image["message"]["attachment"]["type"] == "image"
    [upload] = engine.simulator.uploads(page_id=engine.page_id)
    assert engine.simulator.upload_content(upload["attachment_id"]) == PNG
    assert chat.agent.call("GET", path).content == PNG  # the conversation's agent still may
    assert other.call("GET", path).status_code == 404


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(("name", "data", "status"), [
    ("notes.txt", b"plain words", 201),
    ("report.docx", _docx(), 201),
    ("report.docx", b"PK\x03\x04 not really", 415),
    ("photo.png", b"GIF89a....", 415),
    ("setup.exe", b"MZ....", 415),
    ("empty.pdf", b"", 422),
])
def test_uploads_are_checked_by_content(engine: Engine, api: TestClient, name: str,
                                        data: bytes, status: int) -> None:
    _, key = engine.agent("Ann", queues=[])
    answer = api.post("/api/agent/attachments", files={"file": (name, data)},
                      headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == status, answer.text
    if status != 201:
        assert answer.json()["error"] in ("unsupported_media_type", "validation_error")


def test_oversized_and_malformed_uploads(engine: Engine, api: TestClient) -> None:
    _, key = engine.agent("Ann", queues=[])
    headers = {"Authorization": f"Bearer {key}"}
    big = b"%PDF-" + b"0" * (25 * 1024 * 1024)
    answer = api.post("/api/agent/attachments", files={"file": ("big.pdf", big)},
                      headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (413, "body_too_large")
    assert api.post("/api/agent/attachments", data={"nofile": "x"},
                    headers=headers).status_code == 422


def test_attachments_disabled_closed_and_bad_bodies(engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api, agent_attachments=False)
    created = chat.agent.api.post("/api/agent/attachments",
                                  files={"file": ("a.png", PNG)}, headers=chat.agent.headers)
    refused = chat.reply(None, [created.json()["id"]])
    assert (refused.status_code, refused.json()["error"]) == (409, "attachments_disabled")
    assert chat.reply(None).status_code == 422
    assert chat.reply("x", ["att_unknown"]).status_code == 409  # disabled comes first
    chat.agent.ok("POST", f"/conversations/{chat.id}/close")
    closed = chat.reply("bye")
    assert (closed.status_code, closed.json()["error"]) == (409, "conversation_closed")


def test_typing_and_mark_seen(engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    answer = chat.agent.call("POST", f"/conversations/{chat.id}/typing", {"on": True})
    assert answer.status_code == 204, answer.text
    assert chat.agent.call("POST", f"/conversations/{chat.id}/typing",
                           {"on": "maybe"}).status_code == 422
    chat.customer_says("Are you there?")
    chat.agent.ok("GET", f"/conversations/{chat.id}/messages")
    chat.agent.ok("GET", f"/conversations/{chat.id}/messages")  # nothing unread: no second
    actions = [a["sender_action"] for a in
               engine.simulator.sender_actions(page_id=engine.page_id, psid=chat.psid)]
    assert actions == ["typing_on", "mark_seen"]


def test_later_hour_window_uses_the_last_customer_message(engine: Engine,
                                                           api: TestClient) -> None:
    chat = Chat(engine, api)
    chat.later(20 * HOUR)
    chat.customer_says("One more thing")
    chat.later(20 * HOUR)  # 40 h after the first message, 20 h after the last
    chat.queued("Sure")
    chat.drain()
    assert [s["messaging_type"] for s in chat.sent()] == ["RESPONSE"]


def test_tag_switched_on_mid_conversation_holds_after_close_and_reopen(
        engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    Workstreams(engine.services.tables).update(engine.workstream_id, {"human_agent_tag": True})
    chat.later(24 * HOUR + 60)
    refused = chat.reply("hello?")
    assert (refused.status_code, refused.json()["error"]) == (409, "outside_messaging_window")
    chat.agent.ok("POST", f"/conversations/{chat.id}/close")
    reopened = chat.agent.call("POST", "/conversations",
                               {"page_id": engine.page_id, "psid": chat.psid})
    assert reopened.status_code == 201, reopened.text
    body = reopened.json()
    assert (body["state"], body["window"]["kind"]) == ("active", "human_agent")
    chat.id = body["id"]
    chat.queued("Back with news")
    chat.drain()
    assert (chat.sent()[-1]["messaging_type"], chat.sent()[-1]["tag"]) == (
        "MESSAGE_TAG", "HUMAN_AGENT")


def test_start_is_refused_when_facebook_would_refuse(engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    start = {"page_id": engine.page_id, "psid": chat.psid}
    assert chat.agent.call("POST", "/conversations", start).json()["error"] == (
        "conversation_open")
    chat.agent.ok("POST", f"/conversations/{chat.id}/close")
    chat.later(24 * HOUR + 60)
    refused = chat.agent.call("POST", "/conversations", start)
    assert (refused.status_code, refused.json()["error"]) == (409, "outside_messaging_window")
    unknown = chat.agent.call("POST", "/conversations",
                              {"page_id": engine.page_id, "psid": new_id()})
    assert unknown.status_code == 404
    both = chat.agent.call("POST", "/conversations", {**start, "contact_id": "pc_x"})
    assert both.status_code == 422


def test_contacts_search_link_and_later_conversations(engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    created = chat.agent.call("POST", "/contacts", {"name": "Lea Roy",
                                                    "email": "lea@example.test"})
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    assert chat.agent.call("POST", "/contacts", {"name": "X", "email": "nope"}).status_code == 422
    found = chat.agent.ok("GET", "/contacts", query="LEA@EXAMPLE")["items"]
    assert [c["id"] for c in found] == [contact_id]
    assert chat.agent.ok("GET", "/contacts", query="nobody")["items"] == []
    linked = chat.agent.ok("POST", f"/conversations/{chat.id}/contact",
                           {"contact_id": contact_id})
    assert linked["customer"]["contact_id"] == contact_id
    assert chat.agent.call("POST", f"/conversations/{chat.id}/contact",
                           {"contact_id": "pc_missing"}).status_code == 404
    chat.agent.ok("POST", f"/conversations/{chat.id}/close")
    chat.customer_says("Me again")  # a new conversation, linked from the start
    assert engine.conversation_of(chat.psid).contact_id == contact_id
    assert engine.conversation_of(chat.psid).id != chat.id
    # Started by contact: the customer's open conversation is in the way until it closes.
    by_contact = chat.agent.call("POST", "/conversations",
                                 {"page_id": engine.page_id, "contact_id": contact_id})
    assert by_contact.json()["error"] == "conversation_open"
    second = engine.conversation_of(chat.psid).id
    chat.agent.ok("POST", f"/conversations/{second}/accept")
    chat.agent.ok("POST", f"/conversations/{second}/close")
    by_contact = chat.agent.call("POST", "/conversations",
                                 {"page_id": engine.page_id, "contact_id": contact_id})
    assert by_contact.status_code == 201, by_contact.text
    assert (by_contact.json()["psid"], by_contact.json()["customer"]["contact_id"]) == (
        chat.psid, contact_id)


def test_customer_files_are_served_to_who_sees_the_conversation(
        engine: Engine, api: TestClient, simulator_url: str) -> None:
    chat = Chat(engine, api)
    engine.say(chat.psid, None, attachments=[
        {"type": "image", "payload": {"url": f"{simulator_url}/_sim/files/image.png"}}])
    [attachment] = [a for m in engine.history(chat.psid) for a in m.attachments]
    assert attachment.status == "stored"
    path = f"/attachments/{attachment.id}"
    served = chat.agent.call("GET", path, conversation_id=chat.id)
    assert served.status_code == 200 and served.content.startswith(b"\x89PNG")
    _, other_key = engine.agent("Bob", queues=[engine.queue("Billing")])
    other = AgentClient(api, other_key)
    assert other.call("GET", path, conversation_id=chat.id).status_code == 404
    assert chat.agent.call("GET", path).status_code == 404  # not an upload of theirs


def test_a_retry_recorded_by_its_echo_blocks_nothing(engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    engine.simulator.add_fault(operation="send", page_id=engine.page_id, kind="graph_error",
                               code=2, times=1)
    first = chat.queued("first")
    queue = engine.services.queue
    assert isinstance(queue, LocalQueue)
    received = queue.receive(OUTBOUND.name)
    assert received is not None
    outbound = OutboundMessage.model_validate_json(received.body)
    queue.abandon(received)
    chat.drain()  # Graph said "unexpected error" (2): a retry is scheduled
    assert chat.row(first).status == "queued"
    # ...but the message had gone out (Graph's answer was wrong): its echo records it.
    handle_inbound(engine.services, engine.envelope(chat.psid, {"message": {
        "mid": "m_first", "is_echo": True, "text": "first",
        "metadata": metadata_for(outbound)}}, own_echo_app=True))
    chat.queued("second")
    chat.drain()  # not parked behind the retry of a message already sent
    assert [s["message"]["text"] for s in chat.sent()] == ["second"]
    chat.later(30 * 60)
    chat.drain()
    assert [s["message"]["text"] for s in chat.sent()] == ["second"]
    assert chat.row(first).facebook_message_id == "m_first"


def test_the_survey_link_goes_out_once_when_the_agent_closes(engine: Engine,
                                                             api: TestClient) -> None:
    chat = Chat(engine, api, post_conversation_survey={
        "message": "How did we do?", "url": "https://survey.example.test/s/1"})
    chat.agent.ok("POST", f"/conversations/{chat.id}/close")
    chat.drain()
    chat.drain()
    assert [s["message"]["text"] for s in chat.sent()] == [
        "How did we do? https://survey.example.test/s/1"]


def test_a_message_that_keeps_failing_the_function_is_dead_lettered(
        engine: Engine, api: TestClient) -> None:
    chat = Chat(engine, api)
    created = chat.agent.api.post("/api/agent/attachments", files={"file": ("a.png", PNG)},
                                  headers=chat.agent.headers)
    attachment_id = created.json()["id"]
    assert chat.reply(None, [attachment_id]).status_code == 202
    agent_files(engine.services).delete(attachment_id, "file")  # its record is gone
    queue = engine.services.queue
    assert isinstance(queue, LocalQueue)
    for _ in range(OUTBOUND.max_delivery_count):
        with pytest.raises(RuntimeError, match="missing"):
            chat.drain()
    assert chat.drain() == 0
    [dead] = queue.dead_letters(OUTBOUND.name)
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"


def test_a_reply_the_queue_cannot_take_is_a_503(engine: Engine, api: TestClient,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    chat = Chat(engine, api)

    def unavailable(*_: object) -> None:
        raise QueueUnavailable("down")

    monkeypatch.setattr(engine.services.queue, "send", unavailable)
    answer = chat.reply("hello")
    assert (answer.status_code, answer.json()["error"]) == (503, "queue_unavailable")
