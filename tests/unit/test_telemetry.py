"""Telemetry in process: trace context in queue properties, a queue run continuing its
message's trace, the JSON log line of a span, the Graph call's span and the channel's metrics.
Graph is mocked with ``responses``; spans and metrics are read from the SDK's in-memory
exporter and reader on the process-wide providers."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    use_span,
)

from messenger_channel.facebook.graph import GraphClient
from messenger_channel.facebook.graph_errors import GraphError
from messenger_channel.logs import JsonFormatter
from messenger_channel.telemetry import metrics, spans
from messenger_channel.telemetry.propagation import context_from, with_trace_context
from tests.support.telemetry import points, providers, recorded

GRAPH = "https://graph.facebook.com/v25.0"
TOKEN = "EAAGm0PX4ZCpsBAKzWf3ZCLkYqTbYZCfJvZB6jZAYx2ZBfTxYuW0test"
TEXT = "My card number is 4111 1111 1111 1111"

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ended() -> InMemorySpanExporter:
    exporter = providers()[0]
    exporter.clear()
    return exporter


def _only(ended: InMemorySpanExporter, name: str) -> ReadableSpan:
    [span] = [s for s in ended.get_finished_spans() if s.name == name]
    return span


def test_queue_properties_carry_the_current_trace(ended: InMemorySpanExporter) -> None:
    assert with_trace_context({"kind": "x"}) == {"kind": "x"}  # no span: nothing added
    with spans.tracer().start_as_current_span("webhook") as span:
        carried = with_trace_context({"kind": "x"})
        # A message put back or redriven keeps the trace it came from.
        assert with_trace_context({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})[
            "traceparent"].startswith("00-" + "1" * 32)
    assert carried["kind"] == "x"
    context = context_from(carried)
    assert context is not None
    carried_span = trace.get_current_span(context).get_span_context()
    assert (carried_span.trace_id, carried_span.span_id) == (
        span.get_span_context().trace_id, span.get_span_context().span_id)
    assert context_from({}) is None and context_from(None) is None
    assert context_from({"traceparent": "not a trace"}) is None


def test_a_queue_run_continues_its_messages_trace(ended: InMemorySpanExporter) -> None:
    with spans.tracer().start_as_current_span("webhook"):
        carried = with_trace_context({})
    enqueued = datetime.now(UTC) - timedelta(seconds=3)
    # The Functions host's own invocation span, in a trace of its own.
    with spans.tracer().start_as_current_span("host") as host, \
            spans.queue_run("router", carried, queue="inbound", enqueued_at=enqueued,
                            queue_message_id="message-abc", event_id="message-abc") as run:
        spans.annotate(page_id="1001", message_id="m_1", conversation_id=None)
        assert trace.get_current_span() is run
    router, webhook = _only(ended, "router"), _only(ended, "webhook")
    assert router.context.trace_id == webhook.context.trace_id
    assert router.parent is not None and router.parent.span_id == webhook.context.span_id
    assert [link.context.span_id for link in router.links] == [host.get_span_context().span_id]
    assert router.kind is SpanKind.CONSUMER
    assert dict(router.attributes or {}) == {
        "queue": "inbound", "event_id": "message-abc", "page_id": "1001", "message_id": "m_1",
        "messaging.message.id": "message-abc"}
    assert any(p.attributes == {"queue": "inbound"} and p.sum >= 3 for p in
               points("channel.queue.lag"))


def test_queue_times_without_an_offset_are_utc(ended: InMemorySpanExporter) -> None:
    """The host may hand ``ScheduledEnqueueTimeUtc`` of an unscheduled message as .NET's
    ``DateTime.MinValue`` without an offset: the run goes on, its lag from the enqueued time."""
    enqueued = (datetime.now(UTC) - timedelta(seconds=5)).replace(tzinfo=None)
    before = recorded("channel.queue.lag", queue="lag-naive")
    with spans.queue_run("router", {}, queue="lag-naive", enqueued_at=enqueued,
                         scheduled_at=datetime(1, 1, 1), queue_message_id="m-naive"):
        pass
    assert recorded("channel.queue.lag", queue="lag-naive") == before + 1
    [lag] = [p for p in points("channel.queue.lag") if p.attributes == {"queue": "lag-naive"}]
    assert 4 <= lag.max < 60  # UTC, not the machine's local time


def test_a_run_already_in_the_trace_is_annotated_not_doubled(
        ended: InMemorySpanExporter) -> None:
    with spans.tracer().start_as_current_span("webhook"):
        carried = with_trace_context({})
    with spans.run("sender", SpanKind.CONSUMER, carrier=carried), \
            spans.queue_run("sender", carried, queue="outbound", enqueued_at=None,
                            queue_message_id="out-1", conversation_id="cv_1"):
        pass
    [sender] = [s for s in ended.get_finished_spans() if s.name == "sender"]
    assert (sender.attributes or {})["conversation_id"] == "cv_1"
    assert (sender.attributes or {})["outcome"] == "ok"


def test_a_run_under_a_remote_host_span_records_a_span_of_its_own(
        ended: InMemorySpanExporter) -> None:
    """In Azure the worker sees the host's invocation only as a context: nothing recorded on
    it would be exported, so the run makes its own span, in the message's trace."""
    with spans.tracer().start_as_current_span("webhook") as webhook:
        carried = with_trace_context({})
    remote = NonRecordingSpan(SpanContext(webhook.get_span_context().trace_id, 0x1234,
                                          is_remote=True, trace_flags=TraceFlags(1)))
    with use_span(remote), spans.queue_run("sender", carried, queue="outbound",
                                           enqueued_at=None, queue_message_id="out-1",
                                           conversation_id="cv_2"):
        pass
    sender = _only(ended, "sender")
    assert sender.parent is not None
    assert sender.parent.span_id == webhook.get_span_context().span_id
    assert not sender.links  # the same trace: nothing to link
    assert (sender.attributes or {})["conversation_id"] == "cv_2"


def test_a_failed_run_names_the_exception_type_only(ended: InMemorySpanExporter) -> None:
    with pytest.raises(RuntimeError), spans.run("router", SpanKind.CONSUMER):
        raise RuntimeError(TEXT)
    router = _only(ended, "router")
    assert router.status.status_code is StatusCode.ERROR
    assert (router.attributes or {})["outcome"] == "failed"
    assert (router.attributes or {})["error.type"] == "RuntimeError"
    assert not router.events  # no exception event: its message may quote the input
    assert TEXT not in json.dumps([dict(router.attributes or {}), router.status.description])


def test_only_ids_can_be_put_on_a_span() -> None:
    with pytest.raises(ValueError, match="text"):
        spans.annotate(text=TEXT)


class _Lines(logging.Handler):
    """The JSON lines as the devhost's handler writes them (formatted as they are emitted)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_each_ended_span_is_one_json_log_line(ended: InMemorySpanExporter) -> None:
    handler = _Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        with spans.run("POST api/facebook/webhook/{id}", SpanKind.SERVER,
                       {"http.route": "x"}) as span:
            logging.getLogger("messenger_channel.test").info("inside", extra={"page_id": "1"})
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    span_id = format(span.get_span_context().span_id, "016x")
    inside, line = handler.lines
    assert inside["message"] == "inside" and inside["span_id"] == span_id
    assert line["logger"] == "telemetry" and line["span"] == "POST api/facebook/webhook/{id}"
    assert line["span_id"] == span_id and line["trace_id"] == inside["trace_id"]
    assert line["kind"] == "server" and line["outcome"] == "ok"
    assert line["parent_span_id"] is None and line["http.route"] == "x"
    assert isinstance(line["duration_ms"], float)


@responses.activate
def test_the_graph_call_is_a_client_span_without_token_or_text(
        ended: InMemorySpanExporter) -> None:
    responses.post(f"{GRAPH}/1001/messages", json={"recipient_id": "2001",
                                                    "message_id": "m_out"})
    responses.post(f"{GRAPH}/1002/messages", status=400, json={"error": {
        "message": f"Invalid OAuth access token {TOKEN}", "type": "OAuthException",
        "code": 190}})
    before = recorded("channel.messages.out")
    body = {"recipient": {"id": "2001"}, "message": {"text": TEXT}}
    with GraphClient(GRAPH) as graph:
        graph.send_message("1001", TOKEN, body)
        with pytest.raises(GraphError):
            graph.send_message("1002", TOKEN, body)
    sent, refused = [s for s in ended.get_finished_spans() if s.name == "graph send_message"]
    assert sent.kind is SpanKind.CLIENT
    assert dict(sent.attributes or {}) == {
        "graph.operation": "send_message", "http.request.method": "POST",
        "facebook_message_id": "m_out", "outcome": "ok"}
    assert (refused.attributes or {})["outcome"] == "failed"
    assert (refused.attributes or {})["graph.code"] == 190
    assert (refused.attributes or {})["graph.error_kind"] == "token_invalid"
    exported = json.dumps([[dict(s.attributes or {}), s.status.description, s.name]
                           for s in (sent, refused)])
    assert TOKEN not in exported and TEXT not in exported
    assert recorded("channel.messages.out") == before + 1


def test_the_channel_metrics() -> None:
    before = [recorded("channel.messages.in", kind="message"),
              recorded("channel.send.failures", reason="outside_messaging_window"),
              recorded("channel.offer.wait", queue="q_1")]
    metrics.message_in("message")
    metrics.send_failed("outside_messaging_window")
    metrics.offer_wait("q_1", 42.0)
    assert [recorded("channel.messages.in", kind="message"),
            recorded("channel.send.failures", reason="outside_messaging_window"),
            recorded("channel.offer.wait", queue="q_1")] == [n + 1 for n in before]
    assert any(p.attributes == {"queue": "q_1"} and p.max == 42.0
               for p in points("channel.offer.wait"))


_DISTRO_PROBE = """
import requests
before = requests.Session.send
from opentelemetry.metrics import get_meter_provider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import get_tracer_provider
from messenger_channel.telemetry.setup import configure_azure_monitor_if_set, configure_json_log
assert configure_azure_monitor_if_set({}) is False
assert not isinstance(get_tracer_provider(), TracerProvider)
assert configure_azure_monitor_if_set({"APPLICATIONINSIGHTS_CONNECTION_STRING": sys.argv[1]})
assert isinstance(get_tracer_provider(), TracerProvider)
assert isinstance(get_meter_provider(), MeterProvider)
assert requests.Session.send is before, "requests instrumented: Graph URLs would be recorded"
assert configure_azure_monitor_if_set({"APPLICATIONINSIGHTS_CONNECTION_STRING": sys.argv[1]})
assert configure_json_log() is get_tracer_provider()  # the first configuration stands
"""


def test_the_distro_is_configured_only_with_a_connection_string() -> None:
    """In a process of its own (the providers are process-wide), with an ingestion endpoint
    nothing listens on and the distro's own statistics off: nothing leaves the machine."""
    connection = ("InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                  "IngestionEndpoint=http://127.0.0.1:9/")
    done = subprocess.run(
        [sys.executable, "-c", "import sys\n" + _DISTRO_PROBE, connection],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true"})
    assert done.returncode == 0, done.stderr[-2000:]
