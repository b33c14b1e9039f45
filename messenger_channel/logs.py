"""Structured (JSON) logging: one object per line with the context fields every line carries."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import format_span_id, format_trace_id, get_current_span

_STANDARD = set(logging.makeLogRecord({}).__dict__)


class JsonFormatter(logging.Formatter):
    """Context given with ``extra=`` (page_id, conversation_id, event_id...) becomes JSON fields;
    a line written inside a span carries its ``trace_id`` and ``span_id``, so one grep for a
    trace id finds the spans and the log lines of one customer message."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = format_trace_id(span.trace_id)
            line["span_id"] = format_span_id(span.span_id)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    """For the devhost; in Azure the Functions worker ships records to Application Insights."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "uamqp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
