"""W3C trace context carried in a queue message's application properties, so the consumer's
run continues the producer's trace (the Service Bus trigger hands the properties back as
``ServiceBusMessage.application_properties``)."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

# W3C only: the Functions host and the distro both speak it; no vendor headers.
_PROPAGATOR = TraceContextTextMapPropagator()
TRACE_FIELDS = frozenset(_PROPAGATOR.fields)  # traceparent, tracestate


def with_trace_context(properties: Mapping[str, str]) -> dict[str, str]:
    """``properties`` plus the current span's trace context. A context already there is kept:
    a message put back or redriven stays in the trace that produced it."""
    carried = dict(properties)
    if TRACE_FIELDS.isdisjoint(carried):
        _PROPAGATOR.inject(carried)
    return carried


def context_from(properties: Mapping[str, object] | None) -> Context | None:
    """The trace context a message carries, None when it carries none (sent before telemetry
    existed, or by hand)."""
    carrier = {key: value for key, value in (properties or {}).items()
               if key in TRACE_FIELDS and isinstance(value, str)}
    if "traceparent" not in carrier:
        return None
    context = _PROPAGATOR.extract(carrier)
    return context or None
