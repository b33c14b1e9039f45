"""The simulator's clock: UTC with an adjustable offset.

It stands for Facebook's clock, which is why the simulator keeps its own instead of importing the
product's: tests shift both to exercise the 24-hour and 7-day windows and token expiry.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SimClock:
    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(seconds=offset_seconds)

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset
        return datetime.now(UTC) + offset

    def now_ms(self) -> int:
        """Milliseconds since the epoch, the unit of Messenger timestamps."""
        return int(self.now().timestamp() * 1000)

    def now_s(self) -> int:
        """Seconds since the epoch, the unit of token expiry times."""
        return int(self.now().timestamp())

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset.total_seconds()

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = timedelta(seconds=seconds)


def isoformat(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
