"""The Service Bus adapter, against a fake client and sender in place of the SDK's network side.
The batches are the SDK's own ``ServiceBusMessageBatch``, so sizes are measured for real."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import NoReturn

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.core.settings import settings
from azure.core.tracing.ext.opentelemetry_span import OpenTelemetrySpan
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusMessageBatch
from azure.servicebus.exceptions import (
    MessagingEntityNotFoundError,
    ServiceBusConnectionError,
)

from messenger_channel.bus.port import QueueMessage, QueueUnavailable
from messenger_channel.bus.servicebus import ServiceBusQueueSender
from messenger_channel.telemetry import spans
from tests.support.telemetry import providers

SECRET = "SharedAccessKey=c2VjcmV0LWtleQ=="


class FakeSender:
    def __init__(self, queue: str, batch_bytes: int) -> None:
        self.queue = queue
        self.batch_bytes = batch_bytes
        self.sent: list[list[ServiceBusMessage]] = []
        self.batches_created = 0
        self.fail_with: Exception | None = None
        self.closed = False
        self._busy = False
        self.overlapped = False

    def create_message_batch(self) -> ServiceBusMessageBatch:
        if self.fail_with is not None:
            raise self.fail_with
        self.batches_created += 1
        return ServiceBusMessageBatch(max_size_in_bytes=self.batch_bytes)

    def send_messages(self, message: ServiceBusMessageBatch) -> None:
        if self._busy:
            self.overlapped = True
        self._busy = True
        try:
            time.sleep(0.001)  # widen the window in which a second thread could slip in
            if self.fail_with is not None:
                raise self.fail_with
            self.sent.append(list(message._messages))
        finally:
            self._busy = False

    def close(self) -> None:
        self.closed = True


class FakeClient:
    def __init__(self, batch_bytes: int = 256 * 1024) -> None:
        self.batch_bytes = batch_bytes
        self.senders: list[FakeSender] = []
        self.closed = False

    def get_queue_sender(self, queue_name: str) -> FakeSender:
        sender = FakeSender(queue_name, self.batch_bytes)
        self.senders.append(sender)
        return sender

    def close(self) -> None:
        self.closed = True

    def sent(self, queue: str) -> list[list[ServiceBusMessage]]:
        return [batch for sender in self.senders if sender.queue == queue
                for batch in sender.sent]


def outgoing(message_id: str, session_id: str = "page:psid", body: bytes = b"{}", *,
             scheduled_at: datetime | None = None, content_type: str = "application/json",
             properties: dict[str, str] | None = None) -> QueueMessage:
    return QueueMessage(body=body, session_id=session_id, message_id=message_id,
                           scheduled_at=scheduled_at, content_type=content_type,
                           properties=properties or {})


def test_outgoing_message_maps_to_a_service_bus_message() -> None:
    client = FakeClient()
    at = datetime(2030, 1, 2, 5, 0, tzinfo=timezone(timedelta(hours=2)))
    ServiceBusQueueSender(client).send("outbound", [
        outgoing("m1", "conv-1", b'{"text": "hi"}', content_type="text/plain",
                 properties={"kind": "reply"}),
        outgoing("m2", "conv-1", scheduled_at=at),
    ])
    [[first, second]] = client.sent("outbound")
    assert b"".join(first.body) == b'{"text": "hi"}'
    assert (first.session_id, first.message_id) == ("conv-1", "m1")
    assert first.content_type == "text/plain"
    assert first.application_properties == {"kind": "reply"}
    assert first.scheduled_enqueue_time_utc is None
    assert second.application_properties is None
    assert second.scheduled_enqueue_time_utc == datetime(2030, 1, 2, 3, 0, tzinfo=UTC)
    assert second.scheduled_enqueue_time_utc.utcoffset() == timedelta(0)
    assert client.sent("inbound") == []


def _names(message: ServiceBusMessage) -> list[str]:
    """The application properties' names as they go on the wire (AMQP strings: a str and a
    bytes key of one name are the same key there)."""
    return [key.decode() if isinstance(key, bytes) else key
            for key in message.application_properties or {}]


def _on_the_wire(message: ServiceBusMessage) -> dict[str, str]:
    return {name: str(value) for name, value in
            zip(_names(message), (message.application_properties or {}).values(), strict=True)}


@pytest.mark.parametrize("sdk_tracing", [False, True], ids=["plain", "sdk-tracing"])
def test_both_queues_carry_the_senders_trace_context_once(sdk_tracing: bool) -> None:
    """In Azure the distro turns the SDK's own tracing on, which adds traceparent and
    Diagnostic-Id to each message it batches: each name still goes out once, with the trace
    context of the code that sent it (a redriven message's too)."""
    providers()  # an SDK tracer provider: spans with real ids
    client = FakeClient()
    if sdk_tracing:
        settings.tracing_implementation = OpenTelemetrySpan
    try:
        with spans.tracer().start_as_current_span("webhook") as span:
            sender = ServiceBusQueueSender(client)
            sender.send("inbound", [outgoing("e1", properties={"kind": "message"})])
            sender.send("outbound", [outgoing("o1", "conv-1")])
            redriven = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
            sender.send("outbound", [outgoing("o2:r7", "conv-1", properties={
                "traceparent": redriven, "Diagnostic-Id": redriven})])
    finally:
        settings.tracing_implementation.unset_value()
    trace_id = f"{span.get_span_context().trace_id:032x}"
    span_id = f"{span.get_span_context().span_id:016x}"
    [[inbound]], [[outbound], [resent]] = client.sent("inbound"), client.sent("outbound")
    for message in (inbound, outbound, resent):
        names = _names(message)
        assert sorted(names) == sorted(set(names)), names  # no name twice in the AMQP map
        assert "traceparent" in names
    for message in (inbound, outbound):
        assert _on_the_wire(message)["traceparent"].startswith(f"00-{trace_id}-{span_id}-")
    assert _on_the_wire(resent)["traceparent"] == redriven  # a redriven message keeps its trace


def test_messages_are_sent_in_order_in_as_many_batches_as_needed() -> None:
    client = FakeClient(batch_bytes=4000)
    sender = ServiceBusQueueSender(client)
    messages = [outgoing(f"m{n}", f"s{n % 3}", b"x" * 900) for n in range(10)]
    sender.send("inbound", messages)
    batches = client.sent("inbound")
    assert len(batches) > 1
    assert all(len(batch) <= 4 for batch in batches)
    assert [m.message_id for batch in batches for m in batch] == [f"m{n}" for n in range(10)]


def test_a_message_too_large_for_any_batch_is_refused_before_anything_is_sent() -> None:
    client = FakeClient(batch_bytes=2000)
    with pytest.raises(ValueError, match="'big' is larger than the queue accepts"):
        ServiceBusQueueSender(client).send(
            "inbound", [outgoing("small"), outgoing("big", body=b"x" * 5000)])
    assert client.sent("inbound") == []


def test_one_sender_per_queue_is_reused() -> None:
    client = FakeClient()
    sender = ServiceBusQueueSender(client)
    for n in range(3):
        sender.send("inbound", [outgoing(f"i{n}")])
        sender.send("outbound", [outgoing(f"o{n}")])
    assert sorted(s.queue for s in client.senders) == ["inbound", "outbound"]
    sender.send("inbound", [])
    assert len(client.sent("inbound")) == 3


def test_threads_never_use_one_sender_at_the_same_time() -> None:
    client = FakeClient()
    sender = ServiceBusQueueSender(client)
    def worker(name: str) -> None:
        for k in range(10):
            sender.send("inbound", [outgoing(f"{name}-{k}")])

    threads = [threading.Thread(target=worker, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [inbound] = client.senders
    assert len(inbound.sent) == 40
    assert not inbound.overlapped


@pytest.mark.parametrize("error", [
    ServiceBusConnectionError(message=f"amqp link failed; {SECRET}"),
    MessagingEntityNotFoundError(message=f"no such queue; {SECRET}"),
    ClientAuthenticationError(message=f"token refused; {SECRET}"),
])
def test_sdk_errors_become_queue_unavailable_without_their_text(error: Exception) -> None:
    client = FakeClient()
    sender = ServiceBusQueueSender(client)
    sender.send("inbound", [outgoing("m1")])
    client.senders[0].fail_with = error
    with pytest.raises(QueueUnavailable) as raised:
        sender.send("inbound", [outgoing("m2")])
    assert "inbound" in str(raised.value)
    assert type(error).__name__ in str(raised.value)
    assert "SharedAccessKey" not in str(raised.value)
    # The failed link is dropped; the next send opens a new one.
    assert client.senders[0].closed
    sender.send("inbound", [outgoing("m3")])
    assert [m.message_id for batch in client.senders[1].sent for m in batch] == ["m3"]


def test_unknown_queue_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown queue 'nope'"):
        ServiceBusQueueSender(FakeClient()).send("nope", [outgoing("m1")])


def test_check_opens_a_fresh_link_to_every_queue() -> None:
    client = FakeClient()
    sender = ServiceBusQueueSender(client)
    sender.check()
    assert sorted(s.queue for s in client.senders) == ["inbound", "outbound"]
    assert all(s.closed and s.batches_created == 1 for s in client.senders)


def test_check_raises_queue_unavailable_when_a_link_cannot_open() -> None:
    class RefusingClient(FakeClient):
        def get_queue_sender(self, queue_name: str) -> FakeSender:
            probe = super().get_queue_sender(queue_name)
            probe.fail_with = ServiceBusConnectionError(message=SECRET)
            return probe

    client = RefusingClient()
    with pytest.raises(QueueUnavailable, match="ServiceBusConnectionError") as raised:
        ServiceBusQueueSender(client).check()
    assert SECRET not in str(raised.value)
    assert client.senders[0].closed


def test_close_closes_the_senders_and_the_client() -> None:
    client = FakeClient()
    sender = ServiceBusQueueSender(client)
    sender.send("inbound", [outgoing("m1")])
    sender.close()
    assert client.closed
    assert client.senders[0].closed
    with pytest.raises(QueueUnavailable, match="closed"):
        sender.send("inbound", [outgoing("m2")])
    with pytest.raises(QueueUnavailable, match="closed"):
        sender.check()


def test_real_clients_are_built_without_touching_the_network(
        monkeypatch: pytest.MonkeyPatch) -> None:
    touched: list[str] = []

    def refuse(name: str) -> Callable[..., NoReturn]:
        def refused(*args: object, **kwargs: object) -> NoReturn:
            touched.append(name)
            raise OSError(f"no network in this test ({name})")
        return refused

    for owner, name in [(socket, "getaddrinfo"), (socket, "create_connection"),
                        (socket.socket, "connect"), (socket.socket, "connect_ex")]:
        monkeypatch.setattr(owner, name, refuse(name))
    tokens_asked: list[tuple[str, ...]] = []

    class StaticCredential:
        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            tokens_asked.append(scopes)
            return AccessToken("token", int(time.time()) + 3600)

    by_string = ServiceBusQueueSender.from_connection_string(
        f"Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=send;{SECRET}")
    by_identity = ServiceBusQueueSender.from_namespace("example.servicebus.windows.net",
                                                       StaticCredential())
    for built in (by_string, by_identity):
        # The SDK's own client, for the namespace asked for (it reads dead letters too).
        assert isinstance(built.receivers, ServiceBusClient)
        assert built.receivers.fully_qualified_namespace == "example.servicebus.windows.net"
        built.close()
    # Neither building nor closing looked a name up, connected or asked for a token.
    assert (touched, tokens_asked) == ([], [])
