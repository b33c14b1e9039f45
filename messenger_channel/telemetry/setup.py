"""Where telemetry goes: Application Insights through the Azure Monitor distro in Azure, the
JSON log on the devhost. Configured once per process; the first configuration stands."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import get_tracer_provider, set_tracer_provider

from messenger_channel.telemetry.json_spans import JsonLogSpanProcessor

CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"

# Instrumentations of the distro left off: requests/urllib/urllib3 would record Graph URLs
# (debug_token's input_token is in a query string) — graph.py makes its own span instead;
# fastapi's would record request paths and query strings (contact searches hold names).
_OFF = ("requests", "urllib", "urllib3", "fastapi", "django", "flask", "psycopg2")

_lock = threading.Lock()
_configured: str | None = None


def configure_azure_monitor_if_set(environ: Mapping[str, str] = os.environ) -> bool:
    """In Azure (app setting ``APPLICATIONINSIGHTS_CONNECTION_STRING``): the distro exports
    spans, metrics and logs (the ``extra=`` fields become custom dimensions), and the worker
    (``PYTHON_ENABLE_OPENTELEMETRY``) runs each invocation in the host's trace context.
    True when the distro is in use; does nothing where telemetry is configured already."""
    global _configured
    connection_string = environ.get(CONNECTION_STRING)
    with _lock:
        if _configured is not None or not connection_string:
            return _configured == "azure"
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(
            connection_string=connection_string,
            instrumentation_options={name: {"enabled": False} for name in _OFF})
        _configured = "azure"
        return True


def configure_json_log() -> TracerProvider:
    """On the devhost: every span ends as a JSON log line (``json_spans``). Idempotent."""
    global _configured
    with _lock:
        if _configured is None:
            provider = TracerProvider()
            provider.add_span_processor(JsonLogSpanProcessor())
            set_tracer_provider(provider)
            _configured = "json_log"
    current = get_tracer_provider()
    if not isinstance(current, TracerProvider):
        raise RuntimeError("a tracer provider other than the SDK's is set in this process")
    return current
