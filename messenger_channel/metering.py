"""Process-wide operation counters: what each product operation costs, counted where it happens.

The storage, queue and Graph layers count their billable calls; the devhost counts function
executions and their CPU time. A count is a lock and a few dict increments, and never raises
into the caller, so counting cannot change behaviour.

    metering.count("table.read", "table.transactions", table="Conversations")
    before = metering.snapshot()
    ...                                   # the work to measure
    used = metering.difference(before, metering.snapshot())
    used["table.read"], used["table.read{table=Conversations}"]

Every count adds to the plain name and, once per label, to ``name{label=value}``: per table,
container, queue, Graph endpoint... While a function runs (``function_scope``), its name and,
for HTTP functions, the operation (``GET agent/conversations``) are labels of every count too,
alone and with each of the count's own labels (``table.read{table=Contacts,function=router}``),
so one snapshot says what each function spent, and where, even when several run at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

# Which function (and HTTP operation) the current code runs for; set by the host.
_function: ContextVar[str | None] = ContextVar("metering_function", default=None)
_operation: ContextVar[str | None] = ContextVar("metering_operation", default=None)

_lock = threading.Lock()
_counts: dict[str, float] = {}


def add(amounts: Mapping[str, float], **labels: str) -> None:
    """Add each amount to its counter, to the counter of each label, to the current function's
    and operation's, and to each label's within them (``name{table=T,function=F}``)."""
    try:
        own = [f"{key}={value}" for key, value in labels.items()]
        scope: list[str] = []
        function, operation = _function.get(), _operation.get()
        if function is not None and "function" not in labels:
            scope.append(f"function={function}")
        if operation is not None and "operation" not in labels:
            scope.append(f"operation={operation}")
        keys = [f"{{{label}}}" for label in own + scope]
        keys += [f"{{{label},{within}}}" for label in own for within in scope]
        with _lock:
            for name, amount in amounts.items():
                _counts[name] = _counts.get(name, 0) + amount
                for key in keys:
                    labelled = name + key
                    _counts[labelled] = _counts.get(labelled, 0) + amount
    except Exception:  # noqa: S110  # a counter must never break the operation it counts
        pass


def count(*names: str, amount: float = 1, **labels: str) -> None:
    """``amount`` (1 by default) to each of ``names``, with the same labels."""
    add(dict.fromkeys(names, amount), **labels)


def snapshot() -> dict[str, float]:
    """Every counter now, by name (labelled names included)."""
    with _lock:
        return dict(_counts)


def difference(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """What changed from ``before`` to ``after``; counters that did not change are left out."""
    changed: dict[str, float] = {}
    for name, value in after.items():
        delta = value - before.get(name, 0)
        if delta:
            changed[name] = delta
    return changed


def reset() -> dict[str, float]:
    """Zero every counter; returns what they held, so that nothing counted in between is lost."""
    global _counts
    with _lock:
        held, _counts = _counts, {}
    return held


@contextmanager
def function_scope(function: str, operation: str | None = None) -> Iterator[None]:
    """Label every count made in this context (and in threads it hands work to with its
    context, as anyio and starlette do) with the function and, optionally, the operation."""
    function_token = _function.set(function)
    operation_token = _operation.set(operation)
    try:
        yield
    finally:
        _operation.reset(operation_token)
        _function.reset(function_token)


class Measurement:
    """Counts between entering and leaving a ``with measure() as m:`` block (``m.counts``),
    made by this whole process, not only by the block's own thread."""

    def __init__(self) -> None:
        self.before = snapshot()
        self.counts: dict[str, float] = {}

    def stop(self) -> dict[str, float]:
        self.counts = difference(self.before, snapshot())
        return self.counts


@contextmanager
def measure() -> Iterator[Measurement]:
    measurement = Measurement()
    try:
        yield measurement
    finally:
        measurement.stop()


def split(counts: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Counters grouped by labels: ``{"": {plain names}, "table=Conversations": {...},
    "table=Conversations,function=router": {...}, ...}``."""
    grouped: dict[str, dict[str, float]] = {}
    for key, value in counts.items():
        name, brace, label = key.partition("{")
        group = label[:-1] if brace else ""
        grouped.setdefault(group, {})[name] = value
    return grouped
