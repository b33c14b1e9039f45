"""The live port when no service is configured (``WEB_PUBSUB_ENDPOINT`` unset outside the
devhost): nothing is published, and clients are told to poll."""

from __future__ import annotations

from collections.abc import Sequence

from messenger_channel.live.port import Audience, ClientAccess, Hint, LiveUnavailable


class DisabledPublisher:
    def publish(self, hint: Hint, audience: Audience) -> None:
        return None

    def client_access(self, user_id: str, groups: Sequence[str], minutes: int) -> ClientAccess:
        raise LiveUnavailable("live updates are not configured (WEB_PUBSUB_ENDPOINT)")
