"""Spans of the product's own steps, and the ids they carry as custom dimensions.

Only the ids in :data:`IDS` (and the few technical attributes the callers name here) ever
become span attributes: a span is exported to Application Insights, where message text, a
token or a secret must never land, so nothing free-form is accepted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

from opentelemetry.trace import (
    Link,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    get_current_span,
    get_tracer,
)

from messenger_channel.clock import system_clock
from messenger_channel.telemetry import metrics
from messenger_channel.telemetry.propagation import context_from

TRACER_NAME = "messenger_channel"

# The custom dimensions an operator filters on (docs/DEPLOY.md's queries use these names).
IDS = frozenset({"conversation_id", "page_id", "event_id", "message_id", "queue",
                 "facebook_message_id"})


def tracer() -> Tracer:
    # Looked up each time: the provider is set after import (function_app, the devhost).
    return get_tracer(TRACER_NAME)


def annotate(**ids: str | None) -> None:
    """Put ids on the current span (a function run, a request); ids set to None are skipped."""
    unknown = ids.keys() - IDS
    if unknown:
        raise ValueError(f"not a telemetry id: {sorted(unknown)}")
    span = get_current_span()
    if span.is_recording():
        span.set_attributes({key: value for key, value in ids.items() if value})


@contextmanager
def queue_run(function: str, properties: Mapping[str, object] | None, *,
              queue: str, enqueued_at: datetime | None, scheduled_at: datetime | None = None,
              queue_message_id: str | None, **ids: str | None) -> Iterator[Span]:
    """One run of a Service Bus-triggered function, in the trace of the message it processes.

    When the host runs it in that trace with a span of this process (the devhost), that span
    is annotated. Otherwise a span of the run is started, a child of the message's context (or
    of the host's when the message carries none), linked to the host's span when the two
    traces differ: in Azure the host's invocation span lives in the host, and the worker sees
    only its context, on which nothing can be recorded. Records the queue lag.
    """
    due = max((_utc(moment) for moment in (enqueued_at, scheduled_at) if moment),
              default=None)  # a scheduled message (a retry) is late only from its time
    if due is not None:
        # The system clock: the devhost's offset applies to enqueued times too.
        lag = (system_clock.now() - due).total_seconds()
        metrics.queue_lag(queue, max(lag, 0.0))
    parent = context_from(properties)
    current = get_current_span()
    host = current.get_span_context()
    in_trace = parent is None or host.trace_id == get_current_span(parent).get_span_context(
    ).trace_id
    if current.is_recording() and in_trace:
        annotate(queue=queue, **ids)
        current.set_attribute("messaging.message.id", queue_message_id or "")
        yield current
        return
    links = [Link(host)] if host.is_valid and not in_trace else []
    with tracer().start_as_current_span(function, context=parent, kind=SpanKind.CONSUMER,
                                        links=links, record_exception=False) as span:
        annotate(queue=queue, **ids)
        span.set_attribute("messaging.message.id", queue_message_id or "")
        try:
            yield span
        except BaseException as error:
            failed(span, error)
            raise


def _utc(moment: datetime) -> datetime:
    """The trigger's ``*_utc`` times are UTC even when they come without an offset: read as
    local time instead, .NET's ``DateTime.MinValue`` (an unscheduled message's scheduled time)
    would raise, failing the run over a metric."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@contextmanager
def run(name: str, kind: SpanKind, attributes: Mapping[str, str] | None = None, *,
        carrier: Mapping[str, object] | None = None) -> Iterator[Span]:
    """A host's span around one request or function run, with its outcome (``ok`` unless the
    caller set one, ``failed`` on an exception), in the trace the trigger's message carries
    when it carries one (``carrier``: a message's properties, a request's headers), as the
    Functions host continues a Service Bus message's trace."""
    with tracer().start_as_current_span(name, context=context_from(carrier), kind=kind,
                                        attributes=attributes, record_exception=False,
                                        set_status_on_exception=False) as span:
        try:
            yield span
        except BaseException as error:
            failed(span, error)
            raise
        if "outcome" not in (getattr(span, "attributes", None) or {}):
            span.set_attribute("outcome", "ok")


def failed(span: Span, error: BaseException) -> None:
    """Mark ``span`` failed by the exception's type only: its text may quote input."""
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.set_attribute("outcome", "failed")
    span.set_attribute("error.type", type(error).__name__)
