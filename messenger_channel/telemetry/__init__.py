"""Telemetry: OpenTelemetry spans and metrics for one customer message, end to end.

``spans``        the tracer, the ids a span may carry (an allowlist: never text or tokens),
                 a function run continued from its queue message's trace context
``propagation``  W3C trace context (``traceparent``/``tracestate``) in queue messages'
                 application properties
``metrics``      messages in and out, send failures by reason, queue lag, offer wait
``json_spans``   the devhost's exporter: one JSON log line per ended span
``setup``        Azure Monitor (the distro) in Azure, the JSON log on the devhost

Depends on OpenTelemetry and ``logs`` only, so every adapter and the engine may use it.
"""
