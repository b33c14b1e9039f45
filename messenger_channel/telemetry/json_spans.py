"""The devhost's span exporter: each ended span becomes one line of the JSON log, with its
trace and span ids, duration, outcome and ids, so ``grep <mid>`` finds a message's run and
``grep <trace_id>`` everything that one customer message caused."""

from __future__ import annotations

import logging

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id

log = logging.getLogger("telemetry")


class JsonLogSpanProcessor(SpanProcessor):
    """Writes synchronously on the thread that ends the span: the devhost is one process,
    and a line written at once is in the log before the test or developer looks."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        context = span.get_span_context()
        if context is None or span.start_time is None or span.end_time is None:
            return
        attributes = dict(span.attributes or {})
        outcome = attributes.pop("outcome", None) or (
            "failed" if span.status.status_code is StatusCode.ERROR else "ok")
        line = {
            "span": span.name,
            "kind": span.kind.name.lower(),
            "trace_id": format_trace_id(context.trace_id),
            "span_id": format_span_id(context.span_id),
            "parent_span_id": format_span_id(span.parent.span_id) if span.parent else None,
            "duration_ms": round((span.end_time - span.start_time) / 1e6, 1),
            "outcome": outcome,
            **attributes,
        }
        if span.links:
            line["links"] = [format_trace_id(link.context.trace_id) for link in span.links]
        level = logging.WARNING if outcome == "failed" else logging.INFO
        log.log(level, "%s %s %s", span.name, outcome, line["duration_ms"], extra=line)
