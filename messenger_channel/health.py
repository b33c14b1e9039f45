"""Reachability checks for ``GET /api/health``: run concurrently, each bounded in time."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

# Probes expect a quick answer; a hung dependency counts as a failure.
CHECK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class HealthReport:
    checks: dict[str, dict[str, Any]]

    @property
    def ok(self) -> bool:
        return all(check["status"] == "ok" for check in self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {"status": "ok" if self.ok else "failing", "checks": self.checks}


def _timed(check: Callable[[], None]) -> int:
    started = time.monotonic()
    check()
    return round((time.monotonic() - started) * 1000)


def run_checks(
    checks: Mapping[str, Callable[[], None]], timeout: float = CHECK_TIMEOUT_SECONDS
) -> HealthReport:
    """Each check raises to fail. A failure is reported by exception type, never its message,
    which could carry a connection string."""
    results: dict[str, dict[str, Any]] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, len(checks)), thread_name_prefix="health")
    futures = {name: pool.submit(_timed, check) for name, check in checks.items()}
    wait(futures.values(), timeout=timeout)
    for name, future in futures.items():
        if not future.done():
            results[name] = {"status": "failing", "error": f"no answer within {timeout:g} s"}
        elif (problem := future.exception()) is not None:
            results[name] = {"status": "failing", "error": type(problem).__name__}
        else:
            results[name] = {"status": "ok", "elapsed_ms": future.result()}
    pool.shutdown(wait=False, cancel_futures=True)
    return HealthReport(results)
