"""Run timer-triggered functions on their NCRONTAB schedules, following the host's clock."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from azure.functions.timer import TimerRequest
from croniter import croniter

from devhost.invoke import invoke_sync
from devhost.loader import FunctionLoadError, FunctionSpec
from messenger_channel.clock import Clock, isoformat

log = logging.getLogger("devhost.timer")

# A run that starts this much after its slot is reported as past due, as the host does.
PAST_DUE_AFTER = timedelta(seconds=10)


def next_occurrence(schedule: str, after: datetime) -> datetime:
    """Next slot of an NCRONTAB expression: ``{second} {minute} {hour} {day} {month} {dow}``."""
    if len(schedule.split()) != 6:
        raise FunctionLoadError(f"schedule {schedule!r} is not a six-field NCRONTAB expression")
    try:
        result: datetime = croniter(schedule, after, second_at_beginning=True).get_next(datetime)
    except (ValueError, KeyError) as error:
        raise FunctionLoadError(f"schedule {schedule!r}: {error}") from None
    return result


class TimerFunctionRunner:
    def __init__(self, spec: FunctionSpec, clock: Clock) -> None:
        assert spec.schedule is not None
        self.spec = spec
        self.clock = clock
        next_occurrence(spec.schedule, clock.now())  # refuse a bad schedule at load time
        # One invocation at a time, like the host's singleton lock for timers.
        self._running = threading.Lock()

    def run_once(self, *, past_due: bool = False, slot: datetime | None = None) -> bool:
        assert self.spec.schedule is not None
        with self._running:
            status = {
                "Last": isoformat(slot or self.clock.now()),
                "Next": isoformat(next_occurrence(self.spec.schedule, self.clock.now())),
            }
            try:
                invoke_sync(
                    self.spec,
                    TimerRequest(
                        past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True}
                    ),
                )
            except Exception:
                log.exception("timer function failed", extra={"function": self.spec.name})
                return False
            return True

    def run_forever(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        assert self.spec.schedule is not None
        if self.spec.run_on_startup:
            self.run_once()
        due = next_occurrence(self.spec.schedule, self.clock.now())
        while not stop.wait(poll_seconds):
            now = self.clock.now()
            if now < due:
                continue
            self.run_once(past_due=now - due > PAST_DUE_AFTER, slot=due)
            # A clock shifted forward fires once, then the schedule continues from now.
            due = next_occurrence(self.spec.schedule, max(due, self.clock.now()))
