"""Call user functions the way the Python worker does: async ones awaited, sync ones on threads.

Every execution is metered (``messenger_channel.metering``): ``function.executions``,
``function.wall_ms`` and ``function.failures`` by function, trigger kind and, for HTTP, the
operation (``GET agent/conversations``); ``function.cpu_ms``, the CPU time of the thread that
ran it, for functions that run on a thread of their own. An async HTTP function runs on the
event loop among others and hands sync work to other threads, so its thread's CPU time means
little: it is counted apart, as ``function.loop_cpu_ms``. Storage, queue and Graph calls made
during an execution carry the same function and operation labels.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio.to_thread
from opentelemetry.trace import SpanKind

from devhost.loader import FunctionSpec
from messenger_channel import metering
from messenger_channel.telemetry import spans

# Like the Python worker's default pool for sync functions (PYTHON_THREADPOOL_THREAD_COUNT
# unset: Python's own default, min(32, CPUs + 4)); more threads only convoy on the GIL.
_THREADS = anyio.CapacityLimiter(min(32, (os.cpu_count() or 1) + 4))
_SPAN_KINDS = {"queue": SpanKind.CONSUMER, "timer": SpanKind.INTERNAL, "http": SpanKind.SERVER}


async def invoke_async(spec: FunctionSpec, argument: Any, operation: str | None = None) -> Any:
    """``operation``: what the request does, for the counters (``GET agent/conversations``)."""
    if inspect.iscoroutinefunction(spec.user_function):
        with _metered(spec, operation, own_thread=False):
            return await spec.user_function(**{spec.arg_name: argument})

    def call() -> Any:
        with _metered(spec, operation, own_thread=True):
            return spec.user_function(**{spec.arg_name: argument})

    return await anyio.to_thread.run_sync(call, limiter=_THREADS)


def invoke_sync(spec: FunctionSpec, argument: Any) -> Any:
    """For the queue and timer runners, which run on their own threads. Each run is a span
    (a line of the JSON log), in the trace its queue message carries, as the host does."""
    properties = getattr(argument, "application_properties", None)
    attributes = {"function": spec.name, "trigger": spec.kind}
    with spans.run(spec.name, _SPAN_KINDS[spec.kind], attributes, carrier=properties), \
            _metered(spec, None, own_thread=True):
        result = spec.user_function(**{spec.arg_name: argument})
        if inspect.isawaitable(result):
            return anyio.run(_await, result)
        return result


@contextmanager
def _metered(spec: FunctionSpec, operation: str | None, *, own_thread: bool) -> Iterator[None]:
    cpu_started, started = time.thread_time(), time.perf_counter()
    failed = 1
    try:
        with metering.function_scope(spec.name, operation):
            yield
        failed = 0
    finally:
        cpu_ms = (time.thread_time() - cpu_started) * 1000
        labels = {"function": spec.name, "trigger": spec.kind}
        if operation is not None:
            labels["operation"] = operation
        metering.add({"function.executions": 1, "function.failures": failed,
                      "function.wall_ms": (time.perf_counter() - started) * 1000,
                      "function.cpu_ms" if own_thread else "function.loop_cpu_ms": cpu_ms},
                     **labels)


async def _await(awaitable: Any) -> Any:
    return await awaitable
