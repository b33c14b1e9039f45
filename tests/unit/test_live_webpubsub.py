"""The Web PubSub adapter against the SDK's real requests (``responses`` intercepts the
SDK's requests transport): paths, api-version, body, content type, the bearer token of the
app's identity, and the ``:generateToken`` call behind a client URL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import responses
from azure.core.credentials import AccessToken

from messenger_channel.clock import Clock
from messenger_channel.live.port import Audience, Hint, LiveUnavailable
from messenger_channel.live.webpubsub import WebPubSubPublisher

ENDPOINT = "https://contoso.webpubsub.azure.com"
API_VERSION = "2024-12-01"
AT = datetime(2026, 3, 1, 9, 30, 5, tzinfo=UTC)


class Identity:
    """Stands in for the managed identity; records the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("identity-token", int(datetime.now(UTC).timestamp()) + 3600)


@pytest.fixture
def service() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def publisher(identity: Identity, hub: str = "console") -> WebPubSubPublisher:
    return WebPubSubPublisher.from_endpoint(ENDPOINT, hub, Clock(), credential=identity,
                                            retry_total=0)


def test_hint_to_a_user_and_a_group(service: responses.RequestsMock) -> None:
    service.add(responses.POST, re.compile(ENDPOINT + "/api/hubs/.*"), status=202)
    identity = Identity()
    publisher(identity).publish(Hint("conversation.offered", AT, "cv_9"),
                                Audience.of(["agent:ag_1"], ["supervisors"]))

    sent = [call.request for call in service.calls]
    assert [(r.method, urlsplit(str(r.url)).path) for r in sent] == [
        ("POST", "/api/hubs/console/users/agent%3Aag_1/:send"),
        ("POST", "/api/hubs/console/groups/supervisors/:send"),
    ]
    for request in sent:
        assert parse_qs(urlsplit(str(request.url)).query) == {"api-version": [API_VERSION]}
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Authorization"] == "Bearer identity-token"
        assert json.loads(request.body or b"") == {
            "type": "conversation.offered", "conversation_id": "cv_9",
            "at": "2026-03-01T09:30:05Z"}
    assert identity.scopes[0] == ("https://webpubsub.azure.com/.default",)


def test_a_hint_without_conversation_and_another_hub(service: responses.RequestsMock) -> None:
    service.add(responses.POST, re.compile(ENDPOINT + "/api/hubs/.*"), status=202)
    publisher(Identity(), hub="desk").publish(Hint("queue.updated", AT),
                                              Audience.of(groups=["supervisors"]))
    [call] = service.calls
    assert urlsplit(str(call.request.url)).path == "/api/hubs/desk/groups/supervisors/:send"
    assert json.loads(call.request.body or b"") == {"type": "queue.updated",
                                             "at": "2026-03-01T09:30:05Z"}


def test_client_url_comes_from_generate_token(service: responses.RequestsMock) -> None:
    expires = int((datetime.now(UTC) + timedelta(minutes=30)).timestamp())
    token = jwt.encode({"aud": f"{ENDPOINT}/client/hubs/console", "exp": expires,
                        "sub": "agent:ag_2"}, "service-key-" + "x" * 32, algorithm="HS256")
    service.add(responses.POST, re.compile(ENDPOINT + "/api/hubs/console/:generateToken.*"),
                json={"token": token})
    access = publisher(Identity()).client_access("agent:ag_2", ["supervisors"], 30)

    [call] = service.calls
    url = urlsplit(str(call.request.url))
    assert (call.request.method, url.path) == ("POST", "/api/hubs/console/:generateToken")
    assert parse_qs(url.query) == {"userId": ["agent:ag_2"], "group": ["supervisors"],
                                   "minutesToExpire": ["30"], "api-version": [API_VERSION],
                                   "clientType": ["Default"]}
    assert call.request.headers["Authorization"] == "Bearer identity-token"
    assert access.url == (
        f"wss://contoso.webpubsub.azure.com/client/hubs/console?access_token={token}")
    assert access.expires_at == datetime.fromtimestamp(expires, UTC)


@pytest.mark.parametrize("status", [401, 403, 429, 500])
def test_refusals_become_live_unavailable(service: responses.RequestsMock,
                                          status: int) -> None:
    service.add(responses.POST, re.compile(ENDPOINT + "/api/hubs/.*"), status=status,
                json={"code": "Nope", "message": "secret detail"})
    with pytest.raises(LiveUnavailable) as refused:
        publisher(Identity()).publish(Hint("message.created", AT, "cv_1"),
                                      Audience.of(["agent:a"]))
    assert "secret detail" not in str(refused.value)
    with pytest.raises(LiveUnavailable):
        publisher(Identity()).client_access("agent:a", [], 30)


def test_limits_are_checked_before_any_request(service: responses.RequestsMock) -> None:
    with pytest.raises(ValueError, match="minutes"):
        publisher(Identity()).client_access("agent:a", [], 0)
    with pytest.raises(ValueError, match="group"):
        publisher(Identity()).client_access("agent:a", ["  "], 30)
    with pytest.raises(ValueError, match="hub"):
        publisher(Identity(), hub="1st")
    assert not service.calls
