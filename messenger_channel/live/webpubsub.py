"""The Azure Web PubSub adapter of the live port (``azure-messaging-webpubsubservice``).

Identity-based: the app's managed identity (``DefaultAzureCredential``) with the Web PubSub
Service Owner role, which lets it send and ask the service for client tokens
(``:generateToken``), so no access key exists anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import jwt
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from messenger_channel import metering
from messenger_channel.clock import Clock
from messenger_channel.live.port import (
    Audience,
    ClientAccess,
    Hint,
    LiveUnavailable,
    check_hub,
    check_token_request,
)
from messenger_channel.storage.clients import default_credential

# A hint is a nicety: fail fast rather than hold up the engine's step, and retry once.
CLIENT_OPTIONS: dict[str, Any] = {"connection_timeout": 3, "read_timeout": 5, "retry_total": 1}


class ServiceClient(Protocol):
    """The part of ``WebPubSubServiceClient`` this adapter uses."""

    def send_to_user(self, user_id: str, message: Any, *, content_type: str | None = ...,
                     **kwargs: Any) -> None: ...

    def send_to_group(self, group: str, message: Any, *, content_type: str | None = ...,
                      **kwargs: Any) -> None: ...

    def get_client_access_token(self, **kwargs: Any) -> Any: ...


class WebPubSubPublisher:
    def __init__(self, client: ServiceClient, clock: Clock) -> None:
        self._client = client
        self._clock = clock

    @classmethod
    def from_endpoint(cls, endpoint: str, hub: str, clock: Clock,
                      credential: TokenCredential | None = None,
                      **options: Any) -> WebPubSubPublisher:
        client = WebPubSubServiceClient(
            endpoint=endpoint, hub=check_hub(hub),
            credential=credential or default_credential(), **{**CLIENT_OPTIONS, **options})
        return cls(client, clock)

    def publish(self, hint: Hint, audience: Audience) -> None:
        # JSON content reaches plain WebSocket clients as one text frame holding it.
        message = hint.payload()
        try:
            for user in sorted(audience.users):
                self._client.send_to_user(user, message, content_type="application/json")
            for group in sorted(audience.groups):
                self._client.send_to_group(group, message, content_type="application/json")
        except AzureError as error:
            metering.count("live.failed", type=hint.type)
            raise LiveUnavailable(f"Web PubSub refused a hint: {type(error).__name__}") from None
        metering.count("live.sent", amount=len(audience.users) + len(audience.groups),
                       type=hint.type)

    def client_access(self, user_id: str, groups: Sequence[str], minutes: int) -> ClientAccess:
        check_token_request(user_id, groups, minutes)
        requested = self._clock.now()
        try:
            answer = self._client.get_client_access_token(
                user_id=user_id, groups=list(groups), minutes_to_expire=minutes)
        except AzureError as error:
            raise LiveUnavailable(
                f"Web PubSub gave no client token: {type(error).__name__}") from None
        return ClientAccess(url=str(answer["url"]),
                            expires_at=_expiry(str(answer["token"]), requested, minutes))


def _expiry(token: str, requested: datetime, minutes: int) -> datetime:
    """The token's own ``exp`` (the service's clock), else what was asked for."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return requested + timedelta(minutes=minutes)

