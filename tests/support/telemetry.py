"""The process's OpenTelemetry providers, for tests that read spans and metrics: the tracer
provider of the devhost's JSON log with an in-memory exporter added, and a meter provider
with an in-memory reader. The API keeps the first provider a process sets, so every test
module gets them from here, once."""

from __future__ import annotations

from functools import cache
from typing import Any

from opentelemetry.metrics import set_meter_provider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from messenger_channel.telemetry.setup import configure_json_log


@cache
def providers() -> tuple[InMemorySpanExporter, InMemoryMetricReader]:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    configure_json_log().add_span_processor(SimpleSpanProcessor(spans))
    set_meter_provider(MeterProvider(metric_readers=[reader]))
    return spans, reader


def points(name: str) -> list[Any]:
    """The data points of metric ``name`` so far (cumulative: each holds the total)."""
    data = providers()[1].get_metrics_data()
    return [point for resource in (data.resource_metrics if data else [])
            for scope in resource.scope_metrics for metric in scope.metrics
            if metric.name == name for point in metric.data.data_points]


def recorded(name: str, **attributes: str) -> float:
    """A counter's total, or a histogram's count of values, for exactly these attributes."""
    total = 0.0
    for point in points(name):
        if dict(point.attributes or {}) == attributes:
            total += point.count if hasattr(point, "count") else point.value
    return total
