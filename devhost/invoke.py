"""Call user functions the way the Python worker does: async ones awaited, sync ones on threads."""

from __future__ import annotations

import inspect
import os
from typing import Any

import anyio.to_thread

from devhost.loader import FunctionSpec

# Like the Python worker's default pool for sync functions (PYTHON_THREADPOOL_THREAD_COUNT
# unset: Python's own default, min(32, CPUs + 4)); more threads only convoy on the GIL.
_THREADS = anyio.CapacityLimiter(min(32, (os.cpu_count() or 1) + 4))


async def invoke_async(spec: FunctionSpec, argument: Any) -> Any:
    if inspect.iscoroutinefunction(spec.user_function):
        return await spec.user_function(**{spec.arg_name: argument})
    return await anyio.to_thread.run_sync(
        lambda: spec.user_function(**{spec.arg_name: argument}), limiter=_THREADS
    )


def invoke_sync(spec: FunctionSpec, argument: Any) -> Any:
    """For the queue and timer runners, which run on their own threads."""
    result = spec.user_function(**{spec.arg_name: argument})
    if inspect.isawaitable(result):
        return anyio.run(_await, result)
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable
