"""``eventually()``: the one way the tests wait for something done in the background (the
devhost's runners, a child process starting, a browser page catching up)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class StillWaiting(AssertionError):
    """Raised by ``eventually()`` when time runs out; a test that only gives something a
    moment (and goes on either way) catches it by name."""


def eventually(probe: Callable[[], T], until: Callable[[T], object] = bool, *,
               timeout: float = 20.0, interval: float = 0.2,
               nudge: Callable[[], object] | None = None,
               ignoring: tuple[type[BaseException], ...] = (),
               what: str | None = None) -> T:
    """Call ``probe`` until ``until(value)`` holds (by default: until the value is truthy) and
    return that value. Raises ``StillWaiting`` after ``timeout`` seconds, naming the last value
    seen (or the last error ignored).

    ``nudge`` runs before each try, e.g. ``lambda: product.run_function("router")``: the work
    may be done by the nudge or by a background runner that got there first. Exceptions from
    ``probe`` propagate at once, except those in ``ignoring`` (e.g. a connection refused while
    a server starts). At least one try is made whatever the timeout."""
    deadline = time.monotonic() + timeout
    tries = 0
    last: str = "nothing (no try finished)"
    while True:
        if nudge is not None:
            nudge()
        tries += 1
        try:
            value = probe()
        except ignoring as error:
            last = f"{type(error).__name__}: {error}"
        else:
            if until(value):
                return value
            last = _shown(value)
        if time.monotonic() >= deadline:
            break
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))
    name = what or getattr(probe, "__qualname__", repr(probe))
    raise StillWaiting(f"still waiting for {name} after {timeout:g}s ({tries} tries); "
                       f"last seen: {last}")


def _shown(value: object, limit: int = 2000) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
