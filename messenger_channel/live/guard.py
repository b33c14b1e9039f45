"""Publishing that can never hurt the engine: failures are logged and swallowed, and after one
the publisher pauses, so a Web PubSub outage costs each engine step nothing but a skipped hint
(clients poll meanwhile) instead of a network timeout per hint."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from messenger_channel import metering
from messenger_channel.clock import Clock
from messenger_channel.live.port import Audience, ClientAccess, Hint, LivePublisher

log = logging.getLogger(__name__)

PAUSE_AFTER_FAILURE = timedelta(seconds=30)


class GuardedPublisher:
    def __init__(self, inner: LivePublisher, clock: Clock,
                 pause: timedelta = PAUSE_AFTER_FAILURE) -> None:
        self.inner = inner
        self._clock = clock
        self._pause = pause
        self._lock = threading.Lock()
        self._paused_until: datetime | None = None

    def publish(self, hint: Hint, audience: Audience) -> None:
        """Never raises."""
        if not audience:
            return
        now = self._clock.now()
        with self._lock:
            if self._paused_until is not None and now < self._paused_until:
                metering.count("live.skipped", type=hint.type)
                return
        try:
            self.inner.publish(hint, audience)
        except Exception as error:
            with self._lock:
                self._paused_until = now + self._pause
            metering.count("live.failed", type=hint.type)
            # The error's type only: an SDK message may quote a URL or a header.
            log.warning("live hint not published; hints paused", extra={
                "hint_type": hint.type, "conversation_id": hint.conversation_id,
                "error": type(error).__name__,
                "pause_seconds": self._pause.total_seconds()})
            return
        with self._lock:
            self._paused_until = None

    def client_access(self, user_id: str, groups: Sequence[str], minutes: int) -> ClientAccess:
        return self.inner.client_access(user_id, groups, minutes)
