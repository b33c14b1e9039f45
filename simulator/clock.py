"""The simulator's clock: Facebook's time, shifted independently of the product's.

It is a separate instance of the same offset clock, so tests can move Facebook's time (the
24-hour and 7-day windows, token expiry) and the product's time separately or together.
"""

from __future__ import annotations

from datetime import UTC, datetime

from messenger_channel.clock import Clock


class SimClock(Clock):
    def now_ms(self) -> int:
        """Milliseconds since the epoch, the unit of Messenger timestamps."""
        return int(self.now().timestamp() * 1000)

    def now_s(self) -> int:
        """Seconds since the epoch, the unit of token expiry times."""
        return int(self.now().timestamp())


def isoformat(moment: datetime) -> str:
    """With milliseconds, as the control API reports times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
